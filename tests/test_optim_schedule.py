"""The learning-rate schedule and LARS against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_core.training.optim import LARS, build_optimizer
from ssl_core.training.schedule import warmup_cosine


def test_warmup_cosine_hits_its_endpoints_and_midpoint():
    lrs = [warmup_cosine(s, 110, 10, 1.0, 0.1) for s in range(110)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)  # linear warm-up to the peak
    assert lrs[10] == pytest.approx(1.0) and lrs[-1] == pytest.approx(0.1)
    assert warmup_cosine(10 + 99 // 2, 110, 10, 1.0, 0.1) == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi * 49 / 99)) / 2)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # non-increasing after warm-up


def test_lars_step_by_hand():
    w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))  # |w| = 5
    b = torch.nn.Parameter(torch.tensor([1.0]))
    w.grad, b.grad = torch.tensor([[0.0, 1.0]]), torch.tensor([2.0])
    opt = build_optimizer("lars", [{"params": [w, b]}], lr=0.1, momentum=0.9, weight_decay=0.5)
    assert isinstance(opt, LARS)
    opt.step()
    g = torch.tensor([[1.5, 3.0]])  # grad + wd * w
    trust = 0.02 * 5.0 / g.norm()
    torch.testing.assert_close(w.detach(), torch.tensor([[3.0, 4.0]]) - 0.1 * trust * g)
    torch.testing.assert_close(b.detach(), torch.tensor([1.0 - 0.1 * 2.0]))  # 1-D: no trust ratio, no decay


def test_optimizer_choices_and_fixed_lr_groups_are_kept():
    p = torch.nn.Parameter(torch.zeros(2))
    opt = build_optimizer("sgd", [{"params": [p], "fixed_lr": True}], 0.5, 0.9, 0.0)
    assert opt.param_groups[0]["fixed_lr"] and opt.param_groups[0]["lr"] == 0.5
    assert isinstance(build_optimizer("adamw", [{"params": [p]}], 0.1, 0.9, 0.0), torch.optim.AdamW)
    with pytest.raises(ValueError, match="unknown optimizer 'adam'"):
        build_optimizer("adam", [{"params": [p]}], 0.1, 0.9, 0.0)
