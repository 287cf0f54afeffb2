"""The SimSiam branch: predictor on one view against the stop-gradient projection of the other."""

from __future__ import annotations

from typing import Any

import attrs
import torch
import torch.nn.functional as F
from attrs import validators as v

from ssl_core import Batch, Branch, BranchOutput, BuildContext
from ssl_core.components import IncompatibleComponentsError
from ssl_core.options import option, positive
from ssl_core.heads import ProjectionHead
from ssl_simsiam.head import SimSiamProjector


@attrs.define
class SimSiamConfig:
    """Options of the ``simsiam`` branch."""

    projector_layers: int = option(3, "linear layers in the projector (2: the paper's CIFAR projector)",
                                   validator=v.ge(1))
    hidden_dim: int = option(2048, "projector hidden width", validator=positive)
    out_dim: int = option(2048, "projection (and prediction) dimension", validator=positive)
    pred_hidden_dim: int = option(512, "predictor bottleneck width", validator=positive)
    fixed_predictor_lr: bool = option(True, "keep the predictor at the peak lr (no schedule)")


class SimSiamBranch(Branch):
    """SimSiam (Chen & He, 2021): one encoder and projector, a predictor, stop-gradient.

        z_i = g(f(x_i)),  p_i = h(z_i)
        L = crit(p_1, sg(z_2)) / 2 + crit(p_2, sg(z_1)) / 2

    With ``neg-cosine``, ``crit(p, z) = -mean cos(p, z)``. The gradient reaches ``z_i`` only
    through ``p_i``. With ``fixed_predictor_lr`` the predictor is a ``fixed_lr`` group.
    """

    loss_input_kind = "prediction-target"

    def __init__(self, config: SimSiamConfig, context: BuildContext) -> None:
        super().__init__(context.encoder, context.loss)
        if context.views is not None and context.views.num_views != 2:
            raise IncompatibleComponentsError(
                f"branch simsiam needs 2 views per image; the views give {context.views.num_views}")
        self.fixed_predictor_lr = config.fixed_predictor_lr
        self.projector = SimSiamProjector(self.encoder.feature_dim, config.hidden_dim, config.out_dim,
                                          config.projector_layers)
        self.predictor = ProjectionHead(config.out_dim, config.pred_hidden_dim, config.out_dim)

    def forward(self, batch: Batch) -> BranchOutput:
        features = self.encode(batch.views[:2])
        return self.loss_from_features(features)

    def loss_from_features(self, features: list[torch.Tensor]) -> BranchOutput:
        n = features[0].shape[0]
        z = self.projector(torch.cat(features))
        p1, p2 = self.predictor(z).split(n)
        z1, z2 = z.detach().split(n)
        loss = (self.criterion(p1, z2).loss + self.criterion(p2, z1).loss) / 2
        with torch.no_grad():
            z_std = F.normalize(z.float(), dim=1).std(dim=0).mean()
        return BranchOutput(loss=loss, features=features, embeddings=[p1, p2], logs={"z_std": z_std})

    def parameter_groups(self) -> list[dict[str, Any]]:
        """One scheduled group; the predictor in a ``fixed_lr`` group when ``fixed_predictor_lr``."""
        if not self.fixed_predictor_lr:
            return super().parameter_groups()
        predictor = {id(p) for p in self.predictor.parameters()}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in predictor]
        return [{"params": rest}, {"params": list(self.predictor.parameters()), "fixed_lr": True}]
