"""Momentum (EMA) targets: the parameter update and the cosine momentum schedule.

Used by momentum-encoder methods (MoCo, BYOL): the target network is a copy of the online
one whose parameters follow ``theta_t <- m * theta_t + (1 - m) * theta_o`` after each
optimiser step; its batch-norm statistics are its own (buffers are not blended).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn


def momentum_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` to serve as its momentum target: no gradients, train mode kept."""
    target = copy.deepcopy(module)
    for parameter in target.parameters():
        parameter.requires_grad_(False)
    return target


@torch.no_grad()
def update_momentum(online: nn.Module, target: nn.Module, m: float) -> None:
    """``target <- m * target + (1 - m) * online``, parameter by parameter (buffers untouched)."""
    target_params = list(target.parameters())
    online_params = [p.detach() for p in online.parameters()]
    if len(target_params) != len(online_params):
        raise ValueError("online and target modules have different parameter lists")
    torch._foreach_mul_(target_params, m)
    torch._foreach_add_(target_params, online_params, alpha=1.0 - m)


def cosine_momentum(step: int, total_steps: int, start: float, end: float = 1.0) -> float:
    """Momentum at ``step`` rising from ``start`` (step 0) to ``end`` (step ``total_steps - 1``).

        m(s) = end - (end - start) * (1 + cos(pi * s / (S - 1))) / 2
    """
    if total_steps <= 1:
        return end
    progress = min(step / (total_steps - 1), 1.0)
    return end - (end - start) * (1.0 + math.cos(math.pi * progress)) / 2.0
