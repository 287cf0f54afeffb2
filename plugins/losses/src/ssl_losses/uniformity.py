"""The uniformity regularizer of Wang and Isola (2020)."""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F
from ssl_core import Batch, Branch, BranchOutput, BuildContext, Regularizer, option, positive


@attrs.define
class UniformityConfig:
    """Options of ``uniformity``."""

    weight: float = option(0.1, "weight of the term in the total loss", converter=float)
    t: float = option(2.0, "kernel scale t", validator=positive, converter=float)


def uniformity(z: torch.Tensor, t: float) -> torch.Tensor:
    """Uniformity of the rows of ``z`` on the unit sphere (lower is more uniform).

        L_uni = log( 2 / (N (N - 1)) * sum_{i<j} exp(-t |z_i - z_j|^2) ),  z_i normalised
    """
    return torch.pdist(F.normalize(z.float(), dim=1)).pow(2).mul(-t).exp().mean().log()


class UniformityRegularizer(Regularizer):
    """Uniformity (Wang and Isola, 2020) of each view's embeddings, averaged, times ``weight``."""

    def __init__(self, config: UniformityConfig, context: BuildContext | None = None) -> None:
        super().__init__()
        self.weight = config.weight
        self.t = config.t

    def forward(self, batch: Batch, output: BranchOutput, branch: Branch) -> torch.Tensor:
        terms = [uniformity(z, self.t) for z in output.embeddings if z is not None]
        return self.weight * torch.stack(terms).mean()
