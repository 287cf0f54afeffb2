"""The modules a run trains: the input normalisation and the branch plus regularizers."""

from __future__ import annotations

import torch
from torch import nn

from ssl_core.components import Branch, Regularizer
from ssl_core.context import Batch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Normalize(nn.Module):
    """Per-channel ``(x - mean) / std`` (identity when ``mean`` is None)."""

    def __init__(self, mean: tuple[float, ...] | None, std: tuple[float, ...] | None) -> None:
        super().__init__()
        self.enabled = mean is not None
        if self.enabled:
            self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("std", torch.tensor(std).view(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std if self.enabled else x


class SSLModel(nn.Module):
    """The branch (which owns the encoder) and the regularizers, as one module."""

    def __init__(self, branch: Branch, regularizers: dict[str, Regularizer]) -> None:
        super().__init__()
        self.branch = branch
        self.regularizers = nn.ModuleDict(regularizers)

    def forward(self, batch: Batch) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The total loss of a step and the terms to log."""
        output = self.branch(batch)
        total = output.loss
        logs = {"loss_branch": output.loss.detach(), **output.logs}
        for name, regularizer in self.regularizers.items():
            term = regularizer(batch, output, self.branch)
            logs[f"loss_{name}"] = term.detach()
            total = total + term
        return total, logs
