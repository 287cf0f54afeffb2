"""The SimSiam branch: predictor on one view against the stop-gradient projection of the other."""

from __future__ import annotations

from typing import Any

import attrs
import torch
import torch.nn.functional as F
from attrs import validators as v
from ssl_core import Branch, BranchOutput, BuildContext, option, positive
from ssl_core.nn import ProjectionHead
from torch import nn

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
    concat_views: bool = option(False, "run the views through each network in one concatenated forward (batch-norm "
                                "statistics over both views); false: one forward per view, as the paper's code, "
                                "lightly and solo-learn")


class SimSiamBranch(Branch):
    """SimSiam (Chen & He, 2021): one encoder and projector, a predictor, stop-gradient.

        z_i = g(f(x_i)),  p_i = h(z_i)
        L = crit(p_1, sg(z_2)) / 2 + crit(p_2, sg(z_1)) / 2

    With ``neg-cosine``, ``crit(p, z) = -mean cos(p, z)``. The gradient reaches ``z_i`` only
    through ``p_i``. With ``fixed_predictor_lr`` the predictor is a ``fixed_lr`` group. Each
    view runs its own forward (per-view batch-norm statistics) unless ``concat_views``.
    """

    loss_input_kind = "prediction-target"

    def __init__(self, config: SimSiamConfig, context: BuildContext) -> None:
        super().__init__(context.encoder, context.loss)
        self.fixed_predictor_lr = config.fixed_predictor_lr
        self.concat_views = config.concat_views
        self.projector = SimSiamProjector(self.encoder.feature_dim, config.hidden_dim, config.out_dim,
                                          config.projector_layers)
        self.predictor = ProjectionHead(config.out_dim, config.pred_hidden_dim, config.out_dim)

    def view_modules(self) -> dict[str, nn.Module]:
        """The encoder, projector and predictor."""
        return {"encoder": self.encoder, "projector": self.projector, "predictor": self.predictor}

    def loss_from_features(self, features: list[torch.Tensor],
                           teacher: list[torch.Tensor | None] | None = None) -> BranchOutput:
        """Projector and predictor on each view; the stop-gradient target is the other view's projection."""
        z = self.per_view("projector", features)
        p1, p2 = self.per_view("predictor", z)
        z1, z2 = (x.detach() for x in z)
        loss = (self.criterion(p1, z2).loss + self.criterion(p2, z1).loss) / 2
        with torch.no_grad():
            z_std = F.normalize(torch.cat(z).float(), dim=1).std(dim=0).mean()
        return BranchOutput(loss=loss, features=features, embeddings=[p1, p2], logs={"z_std": z_std})

    def parameter_groups(self) -> list[dict[str, Any]]:
        """One scheduled group; the predictor in a ``fixed_lr`` group when ``fixed_predictor_lr``."""
        if not self.fixed_predictor_lr:
            return super().parameter_groups()
        predictor = {id(p) for p in self.predictor.parameters()}
        rest = [p for p in self.parameters() if p.requires_grad and id(p) not in predictor]
        return [{"params": rest}, {"params": list(self.predictor.parameters()), "fixed_lr": True}]
