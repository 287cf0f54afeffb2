"""Momentum targets: exact EMA updates, frozen targets and the cosine momentum schedule."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ssl_core.nn.momentum import cosine_momentum, momentum_copy, update_momentum


def test_ema_update_is_exact_and_leaves_buffers_alone():
    torch.manual_seed(0)
    online = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    target = momentum_copy(online)
    with torch.no_grad():
        for p in online.parameters():
            p.add_(torch.randn_like(p))
    online(torch.randn(8, 3))  # moves the online BN statistics only
    old = [p.clone() for p in target.parameters()]
    stats = target[1].running_mean.clone()
    update_momentum(online, target, 0.9)
    for new, before, o in zip(target.parameters(), old, online.parameters()):
        torch.testing.assert_close(new, 0.9 * before + 0.1 * o.detach())
        assert not new.requires_grad
    assert torch.equal(target[1].running_mean, stats)


def test_cosine_momentum_endpoints_and_monotonic():
    values = [cosine_momentum(s, 100, 0.99, 1.0) for s in range(100)]
    assert values[0] == pytest.approx(0.99) and values[-1] == pytest.approx(1.0)
    assert values[49] == pytest.approx(1.0 - 0.01 * (1 + torch.cos(torch.tensor(torch.pi * 49 / 99)).item()) / 2)
    assert all(a <= b for a, b in zip(values, values[1:]))
