"""The SwAV branch: multi-crop features, projector, prototypes and swapped prediction."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from ssl_core import Batch, Branch, BranchOutput, BuildContext, IncompatibleComponentsError, TrainContext
from ssl_core.nn import ProjectionHead, full_precision, rank, world_size

from ssl_swav.config import SwAVBranchConfig
from ssl_swav.prototypes import Prototypes, prototype_count
from ssl_swav.queue import EmbeddingQueue, queue_length


class SwAVBranch(Branch):
    """SwAV (Caron et al., 2020): every crop predicts the cluster codes of the global crops.

        z_c = normalize(g(f(x_c))),   s_c = z_c C^T   (C: K unit prototypes, rows)
        q_g = sinkhorn(s_g)   (no gradient; g over the G global crops, queue scores appended)
        L = mean_g mean_{c != g} mean_i ( -sum_k q_g[i, k] log softmax(s_c[i] / T)_k )

    The crops go through the encoder once per resolution (same-size crops concatenated) and
    through the projector together. The loss (``swav`` by default) computes the codes and
    the swapped prediction; the branch owns the prototypes and the queue. After every
    optimiser step the prototypes are renormalised and the step's global embeddings are
    enqueued (``on_step_end``); in the first ``freeze_prototypes_epochs`` epochs the
    prototypes get no update.
    """

    loss_input_kind = "prototype-scores"
    #: multi-crop: every view the generator gives.
    num_views = None

    def __init__(self, config: SwAVBranchConfig, context: BuildContext) -> None:
        super().__init__(context.encoder, context.loss)
        self.config = config
        self.num_global = self.criterion.num_global
        self._check_views(context)
        self.projector = ProjectionHead(self.encoder.feature_dim, config.hidden_dim, config.out_dim)
        count = prototype_count(config.num_prototypes, context.num_train, config.samples_per_prototype)
        self.prototypes = Prototypes(config.out_dim, count)
        self.prototypes.frozen = config.freeze_prototypes_epochs > 0
        length = queue_length(config.queue_length, context.num_train, context.batch_size)
        self.queue = EmbeddingQueue(self.num_global, length, config.out_dim) if config.queue_length else None
        self._pending: torch.Tensor | None = None

    def _check_views(self, context: BuildContext) -> None:
        views = context.views
        if views is None:
            return
        loss = getattr(self.criterion, "ssl_name", type(self.criterion).__name__)
        view_globals = getattr(views, "num_global", None)
        if view_globals is not None and view_globals != self.num_global:
            raise IncompatibleComponentsError(
                f"loss {loss!r} takes codes from the first {self.num_global} crops but the views give "
                f"{view_globals} global crops; set loss.num_global={view_globals} or views.global_count="
                f"{self.num_global}")
        if views.num_views < max(2, self.num_global):
            raise IncompatibleComponentsError(
                f"branch swav needs at least 2 views and the {self.num_global} global crops of loss {loss!r}; "
                f"the views give {views.num_views}")

    @property
    def num_prototypes(self) -> int:
        """The number of prototypes K in use (see [`prototype_count`][ssl_swav.prototypes.prototype_count])."""
        return self.prototypes.weight.shape[0]

    def encode(self, views: list[torch.Tensor]) -> list[torch.Tensor]:
        """Pooled features of each view: one encoder forward per resolution, same-size views concatenated."""
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, view in enumerate(views):
            groups.setdefault(tuple(view.shape[1:]), []).append(i)
        features: list[torch.Tensor | None] = [None] * len(views)
        n = views[0].shape[0]
        for members in groups.values():
            for i, part in zip(members, self.encoder(torch.cat([views[i] for i in members])).split(n)):
                features[i] = part
        return features

    def forward(self, batch: Batch) -> BranchOutput:
        out = self.loss_from_features(self.encode(batch.views))
        if self.queue is not None:
            self._pending = torch.stack([z.detach() for z in out.embeddings[: self.num_global]], dim=1)
        return out

    @torch.no_grad()
    def queue_scores(self) -> list[torch.Tensor] | None:
        """This process's queue rows scored against the prototypes, per global crop; ``None`` until full."""
        if self.queue is None or not self.queue.full:
            return None
        rows = self.queue.rows_of(rank(), world_size())
        return [full_precision(self.prototypes)(r) for r in rows]

    def loss_from_features(self, features: list[torch.Tensor],
                           teacher: list[torch.Tensor | None] | None = None) -> BranchOutput:
        """Projector, prototypes and criterion on pooled features (one tensor per crop, global ones first).

        ``embeddings`` are the normalised projections ``z_c`` of each crop.
        """
        n = features[0].shape[0]
        z = F.normalize(self.projector(torch.cat(features)), dim=1)
        scores = list(full_precision(self.prototypes)(z).split(n))  # scores / temperature: float32 under bf16
        out = self.criterion(scores, self.queue_scores())
        embeddings = list(z.split(n))
        with torch.no_grad():
            z_std = torch.cat(embeddings[: self.num_global]).float().std(dim=0).mean()
        return BranchOutput(loss=out.loss, features=features, embeddings=embeddings, logs={"z_std": z_std})

    def on_fit_start(self, ctx: TrainContext) -> None:
        """Renormalise the prototypes on a fresh start; a resume keeps the checkpoint's bit for bit.

        Their last step already normalised them, and normalising again moves them by rounding.
        """
        if ctx.global_step == 0:
            self.prototypes.normalize_()

    def on_epoch_start(self, ctx: TrainContext) -> None:
        """Freeze the prototypes during the first ``freeze_prototypes_epochs`` epochs."""
        self.prototypes.frozen = ctx.epoch < self.config.freeze_prototypes_epochs

    def on_step_end(self, ctx: TrainContext) -> None:
        """Renormalise the prototypes; from ``queue_start_epoch`` on, enqueue the step's global embeddings."""
        self.prototypes.normalize_()
        if self._pending is not None and ctx.epoch >= self.config.queue_start_epoch:
            self.queue.push(ctx.accelerator.gather(self._pending).transpose(0, 1))
        self._pending = None
