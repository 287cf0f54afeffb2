"""Global unstructured magnitude pruning: which weights the self-competitor drops."""

from __future__ import annotations

import math
from fractions import Fraction

import torch


def prune_count(ratio: float, total: int) -> int:
    """``k = ceil(p N)``, the number of weights pruned out of ``total``, computed exactly.

    ``p`` is read as the decimal it is written as (``0.7`` is 7/10), so float rounding never
    adds a weight (``0.7 * 10`` is ``7.000000000000001`` in floating point).
    """
    return math.ceil(Fraction(str(ratio)) * total)


@torch.no_grad()
def global_magnitude_masks(weights: list[torch.Tensor], ratio: float) -> list[torch.Tensor]:
    """Keep-masks (``True`` = kept) of one global magnitude threshold over all ``weights``.

    With ``N`` the total number of entries and ``k = ceil(p N)``, the threshold is
    ``tau = the k-th smallest |w|`` over every tensor concatenated (not per tensor). Entries with
    ``|w| < tau`` are pruned, and of those with ``|w| = tau`` the first ones in concatenation
    order (tensor order, then row-major) until exactly ``k`` are pruned. So the sparsity is
    ``k / N`` to the element whatever the ties.

    Returns:
        one boolean tensor per weight, of its shape and device.
    """
    magnitudes = torch.cat([w.detach().abs().flatten().float() for w in weights])
    k = prune_count(ratio, magnitudes.numel())
    keep = torch.ones_like(magnitudes, dtype=torch.bool)
    if k > 0:
        threshold = magnitudes.kthvalue(k).values
        below = magnitudes < threshold
        ties = (magnitudes == threshold).nonzero().squeeze(1)
        keep[below] = False
        keep[ties[: k - int(below.sum())]] = False
    return [m.view_as(w) for m, w in zip(keep.split([w.numel() for w in weights]), weights)]
