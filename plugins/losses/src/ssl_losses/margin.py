"""The margin contrastive loss of Hadsell, Chopra & LeCun (2006) on a pair of views."""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F
from ssl_core import BuildContext, Loss, LossOutput, option, positive


@attrs.define
class MarginContrastiveConfig:
    """Options of ``margin-contrastive``."""

    margin: float = option(1.0, "distance m beyond which negatives cost nothing (unit vectors: d in [0, 2])",
                           validator=positive, converter=float)


class MarginContrastiveLoss(Loss):
    """Pull positive pairs together, push negatives beyond a margin (Hadsell et al., 2006).

    With u = normalise(z1), v = normalise(z2) and d_ij = |u_i - v_j| (Euclidean):

        L = mean_i d_ii^2 / 2 + mean_{i != j} max(0, m - d_ij)^2 / 2

    The positives are the N pairs (u_i, v_i); the negatives the N(N-1) pairs (u_i, v_j), j != i.
    """

    input_kind = "pair"

    def __init__(self, config: MarginContrastiveConfig, context: BuildContext | None = None) -> None:
        super().__init__()
        self.margin = config.margin

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> LossOutput:
        n = z1.shape[0]
        if n < 2:
            raise ValueError(f"margin-contrastive needs at least 2 samples for negatives, got {n}")
        u, v = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
        positive_term = (u - v).pow(2).sum(dim=1).mean() / 2
        distance = torch.cdist(u, v, compute_mode="donot_use_mm_for_euclid_dist")
        negative = ~torch.eye(n, dtype=torch.bool, device=z1.device)
        negative_term = F.relu(self.margin - distance[negative]).pow(2).mean() / 2
        return LossOutput(loss=positive_term + negative_term)
