"""The BYOL branch: online encoder, projector and predictor regress a momentum target."""

from __future__ import annotations

from typing import Any

import attrs
import torch
import torch.nn.functional as F
from ssl_core import Batch, Branch, BranchOutput, BuildContext, TrainContext, option, positive, probability
from ssl_core.nn import ProjectionHead, cosine_momentum, momentum_copy, update_momentum
from torch import nn


@attrs.define
class BYOLConfig:
    """Options of the ``byol`` branch."""

    hidden_dim: int = option(4096, "projector hidden width", validator=positive)
    out_dim: int = option(256, "projection (and prediction) dimension", validator=positive)
    pred_hidden_dim: int = option(4096, "predictor hidden width", validator=positive)
    base_tau: float = option(0.99, "target momentum at the first step", validator=probability, converter=float)
    final_tau: float = option(1.0, "target momentum at the last step (cosine schedule)",
                              validator=probability, converter=float)
    concat_views: bool = option(False, "run the views through each network in one concatenated forward (batch-norm "
                                "statistics over both views); false: one forward per view, as the paper's code, "
                                "lightly and solo-learn")


class BYOLBranch(Branch):
    """BYOL (Grill et al., 2020): the online network predicts the target's projection of the other view.

        z_i = g(f(x_i)),  p_i = q(z_i),  z'_i = g'(f'(x_i))  (target, no gradient)
        L = crit(p_1, sg(z'_2)) + crit(p_2, sg(z'_1))

    The target (f', g') is the teacher (``teacher_features`` gives f'(x_i), the loss applies
    g'), a momentum copy of (f, g) updated after each optimiser step:
    ``theta' <- tau theta' + (1 - tau) theta`` with ``tau`` rising from ``base_tau`` to
    ``final_tau`` on a cosine over the run's steps. It runs in train mode with its own BN
    statistics, is part of the module (checkpointed) and is never in the optimiser. Online
    network and target run one forward per view (per-view batch-norm statistics) unless
    ``concat_views``.
    """

    loss_input_kind = "prediction-target"

    def __init__(self, config: BYOLConfig, context: BuildContext) -> None:
        super().__init__(context.encoder, context.loss)
        self.config = config
        self.concat_views = config.concat_views
        self.projector = ProjectionHead(self.encoder.feature_dim, config.hidden_dim, config.out_dim)
        self.predictor = ProjectionHead(config.out_dim, config.pred_hidden_dim, config.out_dim)
        self.target_encoder = momentum_copy(self.encoder)
        self.target_projector = momentum_copy(self.projector)
        #: the momentum of the last target update (``None`` before the first).
        self.last_tau: float | None = None

    def momentum(self, step: int, total_steps: int) -> float:
        """The target momentum ``tau`` used after optimiser step ``step`` (0-based)."""
        return cosine_momentum(step, total_steps, self.config.base_tau, self.config.final_tau)

    def view_modules(self) -> dict[str, nn.Module]:
        """The online encoder, projector and predictor."""
        return {"encoder": self.encoder, "projector": self.projector, "predictor": self.predictor}

    def _target(self, module: nn.Module, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """A target module on each view, batched like the online network (``concat_views``)."""
        if self.concat_views:
            return list(module(torch.cat(inputs)).split([x.shape[0] for x in inputs]))
        return [module(x) for x in inputs]

    @torch.no_grad()
    def teacher_features(self, batch: Batch) -> list[torch.Tensor | None]:
        """The target encoder's pooled features ``f'(x_i)`` of both views (no gradient)."""
        return self._target(self.target_encoder, batch.views[:2])

    def loss_from_features(self, features: list[torch.Tensor],
                           teacher: list[torch.Tensor | None] | None = None) -> BranchOutput:
        """Online projector and predictor on ``features`` against ``g'`` of the ``teacher`` features."""
        if teacher is None:
            raise ValueError("byol: loss_from_features needs the target's features (teacher_features(batch))")
        z = self.per_view("projector", features)
        p1, p2 = self.per_view("predictor", z)
        with torch.no_grad():
            t1, t2 = self._target(self.target_projector, teacher)
        loss = self.criterion(p1, t2).loss + self.criterion(p2, t1).loss
        with torch.no_grad():
            z_std = F.normalize(torch.cat(z).float(), dim=1).std(dim=0).mean()
        return BranchOutput(loss=loss, features=features, embeddings=[p1, p2], targets=[t1, t2],
                            logs={"z_std": z_std})

    def on_step_end(self, ctx: TrainContext) -> None:
        """Move the target towards the online network with the momentum of the step just done."""
        self.last_tau = self.momentum(ctx.global_step, ctx.total_steps)
        update_momentum(self.encoder, self.target_encoder, self.last_tau)
        update_momentum(self.projector, self.target_projector, self.last_tau)

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Every online parameter (encoder, projector, predictor); the target is excluded."""
        target = {id(p) for m in (self.target_encoder, self.target_projector) for p in m.parameters()}
        return [{"params": [p for p in self.parameters() if id(p) not in target and p.requires_grad]}]
