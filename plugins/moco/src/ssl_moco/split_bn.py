"""Batch norm with per-sub-batch statistics in one call, for MoCo's key encoder (shuffle-BN)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def largest_divisor(n: int, at_most: int) -> int:
    """The largest divisor of ``n`` that is ``<= at_most`` (at least 1)."""
    return next(d for d in range(max(1, min(n, at_most)), 0, -1) if n % d == 0)


class SplitBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` whose training-mode statistics are those of ``s`` interleaved sub-batches.

    ``s`` is the largest divisor of the batch size ``N`` that is at most ``splits`` and leaves
    2+ samples per sub-batch. Sub-batch ``k`` is every ``s``-th row from row ``k`` (``k, k + s,
    k + 2s, ...``; the key encoder's batch is shuffled first, so these are random sub-batches):
    its rows are normalised with their own mean and variance, as if the layer ran on it alone,
    but in one call on the whole batch, where the sub-batches are channel groups of a view of
    the input (no copy), so the convolutions around it run once at full batch. The running statistics move once per call, towards the mean of the
    sub-batches' statistics. In eval mode it is plain batch norm. Its parameters and buffers
    are ``BatchNorm2d``'s, so state dicts are interchangeable.
    """

    def __init__(self, num_features: int, splits: int, **kwargs) -> None:
        super().__init__(num_features, **kwargs)
        self.splits = splits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c = x.shape[0], self.num_features
        s = largest_divisor(n, min(self.splits, n // 2))
        if not self.training or s == 1:
            return super().forward(x)
        rest = x.shape[2:]
        grouped = x.reshape(n // s, s * c, *rest)  # row j * s + k -> channels k * c .. (k + 1) * c - 1
        track = self.track_running_stats and self.running_mean is not None
        mean = self.running_mean.repeat(s) if track else None
        var = self.running_var.repeat(s) if track else None
        if track:
            self.num_batches_tracked.add_(1)
        factor = 0.0 if not track else (self.momentum if self.momentum is not None
                                        else 1.0 / float(self.num_batches_tracked))
        weight = None if self.weight is None else self.weight.repeat(s)
        bias = None if self.bias is None else self.bias.repeat(s)
        out = F.batch_norm(grouped, mean, var, weight, bias, True, factor, self.eps)
        if track:
            self.running_mean.copy_(mean.view(s, c).mean(0))
            self.running_var.copy_(var.view(s, c).mean(0))
        return out.reshape(n, c, *rest)


def split_batch_norms(module: nn.Module, splits: int) -> nn.Module:
    """``module`` with every ``BatchNorm2d`` replaced, in place, by a ``SplitBatchNorm2d`` of
    ``splits`` holding the same parameters and buffers (other norm layers are left alone)."""
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.BatchNorm2d:
                split = SplitBatchNorm2d(child.num_features, splits, eps=child.eps, momentum=child.momentum,
                                         affine=child.affine, track_running_stats=child.track_running_stats)
                split.load_state_dict(child.state_dict())
                split.to(device=next(child.buffers(), torch.empty(0)).device)
                split.train(child.training)
                for new, old in zip(split.parameters(), child.parameters()):
                    new.requires_grad_(old.requires_grad)
                setattr(parent, name, split)
    return module
