"""The BYOL branch: online encoder, projector and predictor regress a momentum target."""

from __future__ import annotations

from typing import Any

import attrs
import torch
import torch.nn.functional as F

from ssl_core import Batch, Branch, BranchOutput, BuildContext
from ssl_core.components import IncompatibleComponentsError
from ssl_core.momentum import cosine_momentum, momentum_copy, update_momentum
from ssl_core.options import option, positive, probability
from ssl_core.training.state import TrainContext
from ssl_core.heads import ProjectionHead


@attrs.define
class BYOLConfig:
    """Options of the ``byol`` branch."""

    hidden_dim: int = option(4096, "projector hidden width", validator=positive)
    out_dim: int = option(256, "projection (and prediction) dimension", validator=positive)
    pred_hidden_dim: int = option(4096, "predictor hidden width", validator=positive)
    base_tau: float = option(0.99, "target momentum at the first step", validator=probability, converter=float)
    final_tau: float = option(1.0, "target momentum at the last step (cosine schedule)",
                              validator=probability, converter=float)


class BYOLBranch(Branch):
    """BYOL (Grill et al., 2020): the online network predicts the target's projection of the other view.

        z_i = g(f(x_i)),  p_i = q(z_i),  z'_i = g'(f'(x_i))  (target, no gradient)
        L = crit(p_1, sg(z'_2)) + crit(p_2, sg(z'_1))

    The target (f', g') is a momentum copy of (f, g), updated after each optimiser step:
    ``theta' <- tau theta' + (1 - tau) theta`` with ``tau`` rising from ``base_tau`` to
    ``final_tau`` on a cosine over the run's steps. It runs in train mode with its own BN
    statistics, is part of the module (checkpointed) and is never in the optimiser.
    """

    loss_input_kind = "prediction-target"

    def __init__(self, config: BYOLConfig, context: BuildContext) -> None:
        super().__init__(context.encoder, context.loss)
        if context.views is not None and context.views.num_views != 2:
            raise IncompatibleComponentsError(
                f"branch byol needs 2 views per image; the views give {context.views.num_views}")
        self.config = config
        self.projector = ProjectionHead(self.encoder.feature_dim, config.hidden_dim, config.out_dim)
        self.predictor = ProjectionHead(config.out_dim, config.pred_hidden_dim, config.out_dim)
        self.target_encoder = momentum_copy(self.encoder)
        self.target_projector = momentum_copy(self.projector)
        #: the momentum of the last target update (``None`` before the first).
        self.last_tau: float | None = None
        self._targets: list[torch.Tensor] | None = None

    def momentum(self, step: int, total_steps: int) -> float:
        """The target momentum ``tau`` used after optimiser step ``step`` (0-based)."""
        return cosine_momentum(step, total_steps, self.config.base_tau, self.config.final_tau)

    @torch.no_grad()
    def target_projections(self, views: list[torch.Tensor]) -> list[torch.Tensor]:
        """The target's projections ``z'`` of each view (no gradient)."""
        n = views[0].shape[0]
        return list(self.target_projector(self.target_encoder(torch.cat(views))).split(n))

    def forward(self, batch: Batch) -> BranchOutput:
        views = batch.views[:2]
        features = self.encode(views)
        self._targets = self.target_projections(views)
        return self.loss_from_features(features, self._targets)

    def loss_from_features(self, features: list[torch.Tensor],
                           targets: list[torch.Tensor] | None = None) -> BranchOutput:
        """Online heads on ``features`` against ``targets`` (default: the last forward's ``z'``)."""
        targets = self._targets if targets is None else targets
        if targets is None:
            raise RuntimeError("byol: loss_from_features needs the target projections; run forward first")
        n = features[0].shape[0]
        z = self.projector(torch.cat(features))
        p1, p2 = self.predictor(z).split(n)
        t1, t2 = (t.detach() for t in targets)
        loss = self.criterion(p1, t2).loss + self.criterion(p2, t1).loss
        with torch.no_grad():
            z_std = F.normalize(z.float(), dim=1).std(dim=0).mean()
        return BranchOutput(loss=loss, features=features, embeddings=[p1, p2], logs={"z_std": z_std})

    def on_step_end(self, ctx: TrainContext) -> None:
        """Move the target towards the online network with the momentum of the step just done."""
        self.last_tau = self.momentum(ctx.global_step, ctx.total_steps)
        update_momentum(self.encoder, self.target_encoder, self.last_tau)
        update_momentum(self.projector, self.target_projector, self.last_tau)

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Every online parameter (encoder, projector, predictor); the target is excluded."""
        target = {id(p) for m in (self.target_encoder, self.target_projector) for p in m.parameters()}
        return [{"params": [p for p in self.parameters() if id(p) not in target and p.requires_grad]}]
