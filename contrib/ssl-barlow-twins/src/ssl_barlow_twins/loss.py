"""The Barlow Twins loss: push the views' cross-correlation matrix towards the identity."""

from __future__ import annotations

import torch
from ssl_core import BuildContext, Loss, LossOutput
from ssl_core.nn import gather_with_grad

from ssl_barlow_twins.config import BarlowTwinsLossConfig


def cross_correlation(z1: torch.Tensor, z2: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """The ``(D, D)`` cross-correlation of two ``(N, D)`` batches, each dimension standardised over the batch.

        zn_bi = (z_bi - mean_b z_bi) / sqrt(var_b z_bi + eps)   (biased variance, as BatchNorm1d)
        C_ij  = (1/N) sum_b zn1_bi zn2_bj
    """
    n = z1.shape[0]
    if n < 2:
        raise ValueError(f"barlow-twins standardises over the batch and needs at least 2 samples, got {n}")

    def standardise(z: torch.Tensor) -> torch.Tensor:
        return (z - z.mean(dim=0)) / torch.sqrt(z.var(dim=0, unbiased=False) + eps)

    return standardise(z1).T @ standardise(z2) / n


def barlow_twins_loss(c: torch.Tensor, lambd: float) -> torch.Tensor:
    """``sum_i (1 - C_ii)^2 + lambd * sum_{i != j} C_ij^2`` of a cross-correlation matrix ``c``."""
    diagonal = c.diagonal()
    on = (1 - diagonal).pow(2).sum()
    off = c.pow(2).sum() - diagonal.pow(2).sum()
    return on + lambd * off


class BarlowTwinsLoss(Loss):
    """Barlow Twins' redundancy-reduction loss (Zbontar et al., 2021) on two views' projections.

    With C the cross-correlation of the batch-standardised projections
    (see [`cross_correlation`][ssl_barlow_twins.loss.cross_correlation]):

        L = scale * [ sum_i (1 - C_ii)^2 + lambda * sum_{i != j} C_ij^2 ]

    The invariance term pulls each C_ii to 1, the redundancy-reduction term pushes the
    off-diagonal correlations to 0. Non-contrastive: ``positive_log_prob`` is ``None``.

    Across processes (``gather``) z1 and z2 are gathered with ``gather_with_grad`` before
    anything else, so the means, variances and C are over the global batch and every process
    computes the same loss. The gather's backward sums the processes' gradients, so the
    trainer's average over processes is the one-process gradient of the global batch.
    """

    input_kind = "pair"

    def __init__(self, config: BarlowTwinsLossConfig, context: BuildContext | None = None) -> None:
        super().__init__()
        self.config = config

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> LossOutput:
        z1, z2 = z1.float(), z2.float()
        if self.config.gather:
            z1, z2 = gather_with_grad(z1), gather_with_grad(z2)
        c = cross_correlation(z1, z2, self.config.eps)
        return LossOutput(loss=self.config.scale * barlow_twins_loss(c, self.config.lambd))
