"""The MoCo v3 branch: online encoder, projector and predictor against a momentum teacher's keys."""

from __future__ import annotations

import torch
from ssl_core import Batch, Branch, BranchOutput, BuildContext, TrainContext
from ssl_core.nn import ProjectionHead, cosine_momentum, momentum_copy, update_momentum
from torch import nn

from ssl_moco_v3.config import MoCoV3Config


def moco_v3_head(in_dim: int, hidden_dim: int, out_dim: int, layers: int, last_bn: bool) -> nn.Sequential:
    """MoCo v3's MLP: (Linear-BN-ReLU) x (layers - 1), Linear, then BN without affine when ``last_bn``
    (as in the official code: SimCLR's output BN "with gamma removed")."""
    return ProjectionHead(in_dim, hidden_dim, out_dim, layers, last_bn=last_bn, last_bn_affine=False)


# --8<-- [start:branch]
class MoCoV3Branch(Branch):
    """MoCo v3 (Chen, Xie and He, 2021): queries of the online network against a momentum teacher's keys.

        q_i = h(g(f(x_i))),   k_i = g'(f'(x_i))   (teacher, no gradient)
        L = ctr(q_1, k_2) + ctr(q_2, k_1)

    ``ctr`` is the ``moco-v3`` loss (InfoNCE of each query against the global batch's keys,
    times 2T). The teacher (f', g') is a momentum copy of the encoder and projector:
    ``teacher_features`` gives f'(x_i) and ``loss_from_features`` applies g', so a
    regularizer that re-weights pooled features re-weights the teacher's too. After each
    optimiser step ``theta' <- tau theta' + (1 - tau) theta`` with tau rising from
    ``base_tau`` to ``final_tau`` on a cosine over the run's steps. Every network runs one
    forward per view, as in the official code.
    """

    loss_input_kind = "query-key"
    concat_views = False

    def __init__(self, config: MoCoV3Config, context: BuildContext) -> None:
        super().__init__(context.encoder, context.loss)
        self.config = config
        self.projector = moco_v3_head(self.encoder.feature_dim, config.hidden_dim, config.out_dim,
                                      config.projector_layers, last_bn=True)
        self.predictor = moco_v3_head(config.out_dim, config.pred_hidden_dim, config.out_dim, 2, last_bn=False)
        self.target_encoder = momentum_copy(self.encoder)
        self.target_projector = momentum_copy(self.projector)
        #: the momentum of the last teacher update (``None`` before the first).
        self.last_tau: float | None = None

    def momentum(self, step: int, total_steps: int) -> float:
        """The teacher momentum ``tau`` used after optimiser step ``step`` (0-based)."""
        return cosine_momentum(step, total_steps, self.config.base_tau, self.config.final_tau)

    def view_modules(self) -> dict[str, nn.Module]:
        """The online encoder, projector and predictor."""
        return {"encoder": self.encoder, "projector": self.projector, "predictor": self.predictor}

    @torch.no_grad()
    def teacher_features(self, batch: Batch) -> list[torch.Tensor | None]:
        """The teacher encoder's pooled features ``f'(x_i)`` of both views (no gradient)."""
        return [self.target_encoder(view) for view in batch.views[:2]]

    def loss_from_features(self, features: list[torch.Tensor],
                           teacher: list[torch.Tensor | None] | None = None) -> BranchOutput:
        """Online projector and predictor on ``features``; the teacher's projector on ``teacher`` gives the keys."""
        if teacher is None or any(t is None for t in teacher[:2]):
            raise ValueError("moco-v3: loss_from_features needs the teacher's features of both views "
                             "(teacher_features(batch))")
        q1, q2 = self.per_view("predictor", self.per_view("projector", features))
        with torch.no_grad():
            k1, k2 = (self.target_projector(t) for t in teacher[:2])
        first, second = self.criterion(q1, k2), self.criterion(q2, k1)
        log_prob = None
        if first.positive_log_prob is not None and second.positive_log_prob is not None:
            log_prob = torch.cat([first.positive_log_prob, second.positive_log_prob])
        return BranchOutput(loss=first.loss + second.loss, features=features, embeddings=[q1, q2],
                            targets=[k1, k2], positive_log_prob=log_prob)

    def on_step_end(self, ctx: TrainContext) -> None:
        """Move the teacher towards the online encoder and projector with the step's momentum."""
        self.last_tau = self.momentum(ctx.global_step, ctx.total_steps)
        update_momentum(self.encoder, self.target_encoder, self.last_tau)
        update_momentum(self.projector, self.target_projector, self.last_tau)
# --8<-- [end:branch]
