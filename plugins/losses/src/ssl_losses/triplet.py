"""The triplet loss on a pair of views: the other view is the positive, the rest negatives."""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F
from ssl_core import BuildContext, Loss, LossOutput, one_of, option, positive


@attrs.define
class TripletConfig:
    """Options of ``triplet``."""

    margin: float = option(0.5, "margin m by which a negative must be farther than the positive",
                           validator=positive, converter=float)
    negatives: str = option("hardest", "hardest (the closest negative) or all (average over negatives)",
                            validator=one_of("hardest", "all"))


class TripletLoss(Loss):
    """Triplet margin loss with anchor z1_i, positive z2_i and negatives z2_j, j != i.

    With u = normalise(z1), v = normalise(z2) and d_ij = |u_i - v_j| (Euclidean):

        hardest:  L = mean_i max(0, d_ii - min_{j != i} d_ij + m)
        all:      L = mean_i mean_{j != i} max(0, d_ii - d_ij + m)
    """

    input_kind = "pair"

    def __init__(self, config: TripletConfig, context: BuildContext | None = None) -> None:
        super().__init__()
        self.margin = config.margin
        self.hardest = config.negatives == "hardest"

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> LossOutput:
        n = z1.shape[0]
        if n < 2:
            raise ValueError(f"triplet needs at least 2 samples for negatives, got {n}")
        u, v = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
        distance = torch.cdist(u, v, compute_mode="donot_use_mm_for_euclid_dist")
        positive_distance = distance.diagonal().unsqueeze(1)
        own = torch.eye(n, dtype=torch.bool, device=z1.device)
        if self.hardest:
            closest = distance.masked_fill(own, float("inf")).min(dim=1, keepdim=True).values
            return LossOutput(loss=F.relu(positive_distance - closest + self.margin).mean())
        # every anchor has n - 1 negatives, so the mean over all of them is the mean of the means
        return LossOutput(loss=F.relu(positive_distance - distance + self.margin)[~own].mean())
