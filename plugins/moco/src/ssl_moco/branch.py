"""The MoCo branch: a query encoder and head, their momentum copies (the teacher) and a queue of keys."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from ssl_core import Batch, Branch, BranchOutput, BuildContext, IncompatibleComponentsError, TrainContext, ViewRoute
from ssl_core.nn import broadcast_, gather, momentum_copy, update_momentum
from torch import nn

from ssl_moco.config import MoCoConfig
from ssl_moco.head import moco_head
from ssl_moco.queue import effective_queue_size, fifo_enqueue
from ssl_moco.shuffle_bn import shuffle_bn_forward
from ssl_moco.split_bn import split_batch_norms


class MoCoBranch(Branch):
    """MoCo (He et al., 2020; v2: Chen et al., 2020): queries against momentum keys and a queue.

        q = normalize(head(f(x1))),  k = normalize(head_k(f_k(x2))),
        L = InfoNCE(q, k, queue)   (symmetric: [InfoNCE(q1, k2, queue) + InfoNCE(q2, k1, queue)] / 2)

    The teacher is the key encoder ``f_k`` (``teacher_features``, with shuffle-BN) and the
    loss applies the key head. The negatives are the queue before this step's enqueue. After
    the optimiser step (``on_step_end``) the key networks follow
    ``theta_k <- m theta_k + (1 - m) theta_q`` (parameters only; the key encoder keeps its own
    BN statistics) and the step's keys, gathered over processes, are enqueued: k2 only, or
    k1 and k2 when symmetric. The queue is sized when the branch is built, for the run's
    global batch (see [`effective_queue_size`][ssl_moco.queue.effective_queue_size]).
    """

    loss_input_kind = "query-key-queue"
    #: one encoder forward per view (batch-norm statistics per view), as in MoCo.
    concat_views = False
    #: per-process batch norm, as in MoCo: the trainer does not convert it to SyncBatchNorm,
    #: which would give the key encoder the statistics of the whole batch and undo shuffle-BN.
    sync_batchnorm = False

    def __init__(self, config: MoCoConfig, context: BuildContext) -> None:
        super().__init__(context.encoder, context.loss)
        self.config = config
        self.head = moco_head(config.head, context.encoder.feature_dim, config.hidden_dim, config.out_dim)
        self.key_encoder = split_batch_norms(momentum_copy(self.encoder), config.bn_splits)
        self.key_head = momentum_copy(self.head)
        keys_per_step = context.batch_size * (2 if config.symmetric else 1)
        size = effective_queue_size(config.queue_size, context.num_train, keys_per_step)
        self.register_buffer("queue", F.normalize(torch.randn(size, config.out_dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self._pending: torch.Tensor | None = None

    @property
    def effective_queue_size(self) -> int:
        """The queue length K in use."""
        return self.queue.shape[0]

    @property
    def online_views(self) -> tuple[int, ...]:
        """The views that are queries: both when ``symmetric``, else view 1 only (view 2 gives the key)."""
        return (0, 1) if self.config.symmetric else (0,)

    def route_view(self, view: int, route: ViewRoute) -> None:
        """Route a query view; view 2 is a query only with ``symmetric``."""
        if view not in self.online_views:
            raise IncompatibleComponentsError(
                f"moco: view {view + 1} is a query only with the symmetric loss (the asymmetric loss uses it for the "
                "key alone); set the branch option symmetric: true")
        super().route_view(view, route)

    def view_modules(self) -> dict[str, nn.Module]:
        """The query encoder and head."""
        return {"encoder": self.encoder, "head": self.head}

    @torch.no_grad()
    def teacher_features(self, batch: Batch) -> list[torch.Tensor | None]:
        """The key encoder's pooled features of the views that give keys (``None`` for the other).

        With shuffle-BN (see [`shuffle_bn_forward`][ssl_moco.shuffle_bn.shuffle_bn_forward]): the
        batch gathered over processes is shuffled by a permutation derived from the sample indices
        (so a step stays a pure function of (parameters, buffers, batch)), and each process's
        shard is normalised in ``bn_splits`` sub-batches (clamped to a divisor of the per-process
        batch, 2+ samples each) within one forward: the key encoder's batch norms are
        [`SplitBatchNorm2d`][ssl_moco.split_bn.SplitBatchNorm2d].
        """
        keyed = (0, 1) if self.config.symmetric else (1,)
        return [shuffle_bn_forward(self.key_encoder, view, batch.index) if i in keyed else None
                for i, view in enumerate(batch.views[:2])]

    def loss_from_features(self, features: list[torch.Tensor],
                           teacher: list[torch.Tensor | None] | None = None) -> BranchOutput:
        """Query heads on ``features``, key head on the ``teacher`` features, InfoNCE against the queue.

        Asymmetric (the default), view 2 gives only the key: its ``features`` entry is ``None``
        (``encode`` runs the online encoder on ``online_views`` alone)."""
        if teacher is None:
            raise ValueError("moco: loss_from_features needs the key encoder's features (teacher_features(batch))")
        q1, q2 = (None if q is None else F.normalize(q, dim=1) for q in self.per_view("head", features))
        k1, k2 = (None if t is None else F.normalize(self.key_head(t), dim=1) for t in teacher)
        queue = self.queue.detach()
        out = self.criterion(q1, k2, queue)
        loss, log_prob = out.loss, out.positive_log_prob
        if self.config.symmetric:
            other = self.criterion(q2, k1, queue)
            loss = (loss + other.loss) / 2
            log_prob = torch.cat([log_prob, other.positive_log_prob])
        return BranchOutput(loss=loss, features=features, embeddings=[q1, q2], targets=[k1, k2],
                            positive_log_prob=log_prob)

    def forward(self, batch: Batch) -> BranchOutput:
        """The step's loss; its keys are kept for the enqueue at ``on_step_end``."""
        output = super().forward(batch)
        self._pending = torch.cat([k for k in output.targets if k is not None]).detach()
        return output

    def on_fit_start(self, ctx: TrainContext) -> None:
        """Copy process 0's queue to every process."""
        broadcast_(self.queue)

    def on_step_end(self, ctx: TrainContext) -> None:
        """Momentum update of the key encoder and head, then enqueue the step's gathered keys."""
        update_momentum(self.encoder, self.key_encoder, self.config.momentum)
        update_momentum(self.head, self.key_head, self.config.momentum)
        if self._pending is not None:
            fifo_enqueue(self.queue, self.queue_ptr, gather(self._pending))
            self._pending = None
