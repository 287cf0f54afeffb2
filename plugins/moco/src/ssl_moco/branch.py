"""The MoCo branch: a query encoder and head, their momentum copies and a queue of keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from ssl_core import Batch, Branch, BranchOutput, BuildContext
from ssl_core.components import IncompatibleComponentsError
from ssl_core.distributed import broadcast_, gather
from ssl_core.momentum import momentum_copy, update_momentum

from ssl_moco.config import MoCoConfig
from ssl_moco.head import moco_head
from ssl_moco.queue import effective_queue_size, fifo_enqueue
from ssl_moco.shuffle_bn import largest_divisor, shuffle_bn_forward

if TYPE_CHECKING:
    from ssl_core.training.state import TrainContext


class MoCoBranch(Branch):
    """MoCo (He et al., 2020; v2: Chen et al., 2020): queries against momentum keys and a queue.

        q = normalize(head(f(x1))),  k = normalize(head_k(f_k(x2))),
        L = InfoNCE(q, k, queue)   (symmetric: [InfoNCE(q1, k2, queue) + InfoNCE(q2, k1, queue)] / 2)

    The negatives are the queue before this step's enqueue. After the optimiser step
    (``on_step_end``) the key networks follow ``theta_k <- m theta_k + (1 - m) theta_q``
    (parameters only; the key encoder keeps its own BN statistics) and the step's keys,
    gathered over processes, are enqueued: k2 only, or k1 and k2 when symmetric.
    """

    loss_input_kind = "query-key-queue"
    #: per-process batch norm, as in MoCo: the trainer does not convert it to SyncBatchNorm,
    #: which would give the key encoder the statistics of the whole batch and undo shuffle-BN.
    sync_batchnorm = False

    def __init__(self, config: MoCoConfig, context: BuildContext) -> None:
        super().__init__(context.encoder, context.loss)
        if context.views is not None and context.views.num_views != 2:
            raise IncompatibleComponentsError(
                f"branch moco needs 2 views per image; the views give {context.views.num_views}")
        self.config = config
        self.num_train = context.num_train
        self.head = moco_head(config.head, context.encoder.feature_dim, config.hidden_dim, config.out_dim)
        self.key_encoder = momentum_copy(self.encoder)
        self.key_head = momentum_copy(self.head)
        size = effective_queue_size(config.queue_size, context.num_train, 1)
        self.register_buffer("queue", F.normalize(torch.randn(size, config.out_dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros((), dtype=torch.long))
        self._keys: list[torch.Tensor] = []
        self._pending: torch.Tensor | None = None

    @property
    def effective_queue_size(self) -> int:
        """The queue length K in use (see [`effective_queue_size`][ssl_moco.queue.effective_queue_size])."""
        return self.queue.shape[0]

    def fit_queue(self, keys_per_step: int) -> None:
        """Resize the queue to the size rule for ``keys_per_step`` (fresh random keys) if it differs."""
        size = effective_queue_size(self.config.queue_size, self.num_train, keys_per_step)
        if size != self.effective_queue_size:
            self.queue = F.normalize(torch.randn(size, self.config.out_dim, device=self.queue.device), dim=1)
            self.queue_ptr.zero_()

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        saved = state_dict.get(prefix + "queue")
        if saved is not None and saved.shape != self.queue.shape:  # a checkpoint's queue fixes the size
            self.queue = torch.empty(saved.shape, dtype=self.queue.dtype, device=self.queue.device)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def key_embeddings(self, view: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Normalised keys of ``view``: the key encoder with shuffle-BN, then the key head.

        See [`shuffle_bn_forward`][ssl_moco.shuffle_bn.shuffle_bn_forward]: the batch gathered
        over processes is shuffled by a permutation seeded from the sample indices (so a step
        stays a pure function of (parameters, buffers, batch)), and each process's shard runs in
        ``bn_splits`` sub-batches (clamped to a divisor of the per-process batch, 2+ samples each).
        """
        n = view.shape[0]
        splits = largest_divisor(n, min(self.config.bn_splits, n // 2))
        features = shuffle_bn_forward(self.key_encoder, view, index, splits)
        return F.normalize(self.key_head(features), dim=1)

    def forward(self, batch: Batch) -> BranchOutput:
        views = batch.views[:2]
        features = self.encode(views)
        keys = [self.key_embeddings(v, batch.index) for v in views] if self.config.symmetric \
            else [None, self.key_embeddings(views[1], batch.index)]
        self._keys = keys
        self._pending = torch.cat([k for k in keys if k is not None])
        return self.loss_from_features(features)

    def encode(self, views: list[torch.Tensor]) -> list[torch.Tensor]:
        """Query features, one encoder forward per view (batch-norm statistics per view)."""
        return [self.encoder(v) for v in views]

    def loss_from_features(self, features: list[torch.Tensor]) -> BranchOutput:
        """Heads and InfoNCE on given query features, against the keys the last ``forward`` stored.

        The keys come from the key encoder on the other view and do not depend on the query
        features, so within one step they are reused as they are.
        """
        q1, q2 = (F.normalize(self.head(f), dim=1) for f in features)
        k1, k2 = self._keys
        queue = self.queue.detach()
        out = self.criterion(q1, k2, queue)
        loss, log_prob = out.loss, out.positive_log_prob
        if self.config.symmetric:
            other = self.criterion(q2, k1, queue)
            loss = (loss + other.loss) / 2
            log_prob = torch.cat([log_prob, other.positive_log_prob])
        return BranchOutput(loss=loss, features=features, embeddings=[q1, q2], positive_log_prob=log_prob)

    def on_fit_start(self, ctx: TrainContext) -> None:
        """Size the queue for this run's keys per step (a checkpoint's queue of that size is kept),
        then copy process 0's queue to every process."""
        self.fit_queue(ctx.config.batch_size * (2 if self.config.symmetric else 1))
        broadcast_(self.queue)

    def on_step_end(self, ctx: TrainContext) -> None:
        """Momentum update of the key encoder and head, then enqueue the step's gathered keys."""
        update_momentum(self.encoder, self.key_encoder, self.config.momentum)
        update_momentum(self.head, self.key_head, self.config.momentum)
        if self._pending is not None:
            fifo_enqueue(self.queue, self.queue_ptr, gather(self._pending))
            self._pending = None
