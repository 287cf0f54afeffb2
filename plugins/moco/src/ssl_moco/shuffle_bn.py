"""Single-process shuffle-BN emulation: BN statistics over shuffled sub-batches."""

from __future__ import annotations

import torch
from torch import nn


def largest_divisor(n: int, at_most: int) -> int:
    """The largest divisor of ``n`` that is ``<= at_most`` (at least 1)."""
    return next(d for d in range(max(1, min(n, at_most)), 0, -1) if n % d == 0)


def split_batch_forward(module: nn.Module, x: torch.Tensor, splits: int, perm: torch.Tensor) -> torch.Tensor:
    """``module`` on ``x[perm]`` in ``splits`` consecutive chunks, rows returned in ``x``'s order.

    In train mode each chunk's batch-norm layers normalise with that chunk's own statistics,
    as on one GPU of a ``splits``-GPU shuffle-BN run (the running statistics are updated once
    per chunk). ``splits`` must divide ``len(x)``.
    """
    out = torch.cat([module(chunk) for chunk in x[perm].chunk(splits)])
    return out[torch.argsort(perm)]
