"""The SimCLR branch: two views through one encoder and head, NT-Xent between them."""

from __future__ import annotations

import attrs
import torch
from attrs import validators as v

from ssl_core import Batch, Branch, BranchOutput, BuildContext
from ssl_core.components import IncompatibleComponentsError
from ssl_core.options import option, positive
from ssl_core.heads import ProjectionHead


@attrs.define
class SimCLRConfig:
    """Options of the ``simclr`` branch."""

    head_layers: int = option(2, "linear layers in the projection head (3: SimCLR v2)", validator=v.ge(1))
    hidden_dim: int | None = option(None, "head hidden width (None: the encoder's feature dim)",
                                    validator=v.optional(positive))
    out_dim: int = option(128, "projection (embedding) dimension", validator=positive)
    last_bn: bool = option(False, "BatchNorm1d after the head's output layer")


@attrs.define
class SimCLRV2Config(SimCLRConfig):
    """Options of the ``simclr-v2`` branch (SimCLR v2: the 3-layer head; T and optimiser come from its defaults)."""

    head_layers: int = option(3, "linear layers in the projection head (3: SimCLR v2)", validator=v.ge(1))


class SimCLRBranch(Branch):
    """SimCLR (Chen et al., 2020): a shared encoder and projection head, NT-Xent over 2N views."""

    loss_input_kind = "pair"

    def __init__(self, config: SimCLRConfig, context: BuildContext) -> None:
        super().__init__(context.encoder, context.loss)
        if context.views is not None and context.views.num_views != 2:
            raise IncompatibleComponentsError(
                f"branch simclr needs 2 views per image; the views give {context.views.num_views}")
        dim = context.encoder.feature_dim
        self.head = ProjectionHead(dim, config.hidden_dim or dim, config.out_dim, config.head_layers, config.last_bn)

    def forward(self, batch: Batch) -> BranchOutput:
        features = self.encode(batch.views[:2])
        return self.loss_from_features(features)

    def loss_from_features(self, features: list[torch.Tensor]) -> BranchOutput:
        n = features[0].shape[0]
        z1, z2 = self.head(torch.cat(features)).split(n)
        out = self.criterion(z1, z2)
        return BranchOutput(loss=out.loss, features=features, embeddings=[z1, z2],
                            positive_log_prob=out.positive_log_prob)
