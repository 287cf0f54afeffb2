"""Losses between a prediction and a target: negative cosine and normalised MSE (BYOL, SimSiam).

The branch decides what is a target and detaches it; these losses only compare.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from ssl_core import BuildContext, Loss, LossOutput


class NegativeCosineLoss(Loss):
    """Negative cosine similarity between predictions and targets.

        L = -mean_i  p_i . z_i / (|p_i| |z_i|)
    """

    input_kind = "prediction-target"

    def __init__(self, config: object | None = None, context: BuildContext | None = None) -> None:
        super().__init__()

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> LossOutput:
        return LossOutput(loss=-F.cosine_similarity(prediction.float(), target.float(), dim=1).mean())


class NormalizedMSELoss(Loss):
    """Squared distance of L2-normalised predictions and targets (BYOL's loss).

        L = mean_i |p_i/|p_i| - z_i/|z_i||^2 = mean_i (2 - 2 cos(p_i, z_i))
    """

    input_kind = "prediction-target"

    def __init__(self, config: object | None = None, context: BuildContext | None = None) -> None:
        super().__init__()

    def forward(self, prediction: torch.Tensor, target: torch.Tensor) -> LossOutput:
        diff = F.normalize(prediction.float(), dim=1) - F.normalize(target.float(), dim=1)
        return LossOutput(loss=diff.pow(2).sum(dim=1).mean())
