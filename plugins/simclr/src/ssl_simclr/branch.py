"""The SimCLR branch: two views through one encoder and head, NT-Xent between them."""

from __future__ import annotations

import attrs
import torch
from attrs import validators as v
from ssl_core import Branch, BranchOutput, BuildContext, option, positive
from ssl_core.nn import ProjectionHead
from torch import nn


@attrs.define
class SimCLRConfig:
    """Options of the ``simclr`` branch (``simclr-v2`` presets ``head_layers`` 3)."""

    head_layers: int = option(2, "linear layers in the projection head (3: SimCLR v2)", validator=v.ge(1))
    hidden_dim: int | None = option(None, "head hidden width (None: the encoder's feature dim)",
                                    validator=v.optional(positive))
    out_dim: int = option(128, "projection (embedding) dimension", validator=positive)
    last_bn: bool = option(False, "BatchNorm1d after the head's output layer")


class SimCLRBranch(Branch):
    """SimCLR (Chen et al., 2020): a shared encoder and projection head, NT-Xent over 2N views.

        z_i = g(f(x_i)),   L = NT-Xent(z_1, z_2; T)
    """

    loss_input_kind = "pair"

    def __init__(self, config: SimCLRConfig, context: BuildContext) -> None:
        super().__init__(context.encoder, context.loss)
        dim = context.encoder.feature_dim
        self.head = ProjectionHead(dim, config.hidden_dim or dim, config.out_dim, config.head_layers, config.last_bn)

    def view_modules(self) -> dict[str, nn.Module]:
        """The encoder and the projection head."""
        return {"encoder": self.encoder, "head": self.head}

    def loss_from_features(self, features: list[torch.Tensor],
                           teacher: list[torch.Tensor | None] | None = None) -> BranchOutput:
        """The head on each view's features, then NT-Xent (no teacher)."""
        z1, z2 = self.per_view("head", features)
        out = self.criterion(z1, z2)
        return BranchOutput(loss=out.loss, features=features, embeddings=[z1, z2],
                            positive_log_prob=out.positive_log_prob)
