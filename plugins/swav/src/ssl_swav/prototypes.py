"""The prototype vectors: unit rows, optionally frozen, and their count rule."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: the fewest prototypes the small-dataset cap leaves (a smaller ``num_prototypes`` is kept as is).
MIN_PROTOTYPES = 10


def prototype_count(requested: int, num_train: int, samples_per_prototype: int) -> int:
    """The number of prototypes K a run uses.

        K = min(requested, max(MIN_PROTOTYPES, num_train // samples_per_prototype))

    so that each prototype can own ``samples_per_prototype`` training images on average (more
    prototypes than that turn the clusters into single images). ``num_train = 0`` (unknown)
    or ``samples_per_prototype = 0`` leaves ``requested`` uncapped. CIFAR-10 (50,000 images)
    keeps SwAV's 3000; 300 images give 30.
    """
    if num_train <= 0 or samples_per_prototype <= 0:
        return requested
    return min(requested, max(MIN_PROTOTYPES, num_train // samples_per_prototype))


class Prototypes(nn.Module):
    """K prototype vectors ``c_k``, the rows of ``weight`` (K, D): the scores are ``s = z C^T``.

    The rows are L2-normalised when built and whenever ``normalize_`` is called, so with
    normalised ``z`` the scores are cosine similarities. While ``frozen`` is set, the
    gradient of ``weight`` is dropped (set to ``None``) as soon as backward accumulates it,
    so the optimiser skips the prototypes entirely: no update, no weight decay, no state.
    """

    def __init__(self, dim: int, count: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(count, dim))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)  # nn.Linear's initialisation
        self.frozen = False
        self.weight.register_post_accumulate_grad_hook(self._drop_gradient_if_frozen)
        self.normalize_()

    def _drop_gradient_if_frozen(self, weight: torch.Tensor) -> None:
        if self.frozen:
            weight.grad = None

    @torch.no_grad()
    def normalize_(self) -> None:
        """Scale every prototype to unit L2 norm, in place."""
        self.weight.copy_(F.normalize(self.weight, dim=1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.linear(z, self.weight)
