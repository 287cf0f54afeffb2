"""The ``sdclr-pruned`` branch: a base method whose view 2 goes through the pruned self-competitor."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from ssl_core import Batch, Branch, BranchOutput, BuildContext
from ssl_core.components import Loss
from ssl_core.encoders.variants import BatchNormSet, run_variant
from torch import nn

from ssl_sdclr.base import build_base
from ssl_sdclr.competitor import SelfCompetitor
from ssl_sdclr.config import SDCLRConfig

if TYPE_CHECKING:
    from ssl_core.training.state import TrainContext


class SDCLRBranch(Branch):
    """SDCLR (Jiang et al., 2021): contrast the network with a magnitude-pruned copy of itself.

        u_i = g(f(x1_i)),   v_i = g_s(f_s(x2_i)),   L = NT-Xent({u_i}, {v_i}; T)

    over the 2N embeddings (2N - 2 negatives per anchor). ``f_s`` is the encoder ``f`` with
    every convolution weight ``w`` replaced by ``w * m``: ``m`` drops the ``k = ceil(p N)``
    smallest ``|w|`` over all ``N`` convolution weights (one global threshold), recomputed from
    the current weights at every epoch start and held for the epoch. ``f_s`` and the head ``g_s``
    share every weight with ``f`` and ``g`` but have their own batch norms. One forward of each
    network and one backward: its gradient is the sum of the official code's two partial passes.

    The base branch (``simclr`` by default; ``byol``, ``simsiam``, ``moco``, ``moco-v2`` as our
    extension) is built through the registry and is the ``base`` submodule; its ``encode`` is
    replaced by this branch's, so its own ``forward`` sends view 1 through ``f`` and view 2
    through ``f_s``. With ``simclr`` the head runs per view (``g`` and ``g_s``); the other bases
    run their heads, targets and keys unchanged. ``encoder`` (the dense network, which
    evaluation and export use) and ``criterion`` are the base's.
    """

    def __init__(self, config: SDCLRConfig, context: BuildContext) -> None:
        nn.Module.__init__(self)  # no Branch.__init__: the base holds (and has checked) encoder and criterion
        self.base = build_base(config, context)
        self.competitor = SelfCompetitor(self.base.encoder, config.prune_ratio)
        #: the competitor's copies of the head's batch norms (simclr base only; other bases share them).
        self.head_bn = BatchNormSet(self.base.head) if config.base == "simclr" else None
        self.base.encode = self.encode
        self.competitor.refresh(self.encoder, epoch=0)

    @property
    def encoder(self) -> nn.Module:
        """The dense encoder (the base's): trained, evaluated and exported."""
        return self.base.encoder

    @property
    def criterion(self) -> Loss:
        """The base's loss."""
        return self.base.criterion

    @property
    def loss_input_kind(self) -> str:
        """The base's loss input kind."""
        return self.base.loss_input_kind

    @property
    def sync_batchnorm(self) -> bool:
        """Whether the trainer may convert the batch norms to SyncBatchNorm: the base's choice."""
        return getattr(self.base, "sync_batchnorm", True)

    def encode(self, views: list[torch.Tensor]) -> list[torch.Tensor]:
        """Pooled features of view 1 through the dense encoder and of view 2 through the competitor."""
        if len(views) != 2:
            raise ValueError(f"sdclr-pruned encodes exactly 2 views (dense, pruned), got {len(views)}")
        return [self.encoder(views[0]), self.competitor(self.encoder, views[1])]

    def forward(self, batch: Batch) -> BranchOutput:
        if self.head_bn is None:
            return self.base(batch)
        return self.loss_from_features(self.encode(batch.views[:2]))

    def loss_from_features(self, features: list[torch.Tensor]) -> BranchOutput:
        """Heads and criterion on pooled features: feature 0 is dense, feature 1 the competitor's.

        With ``simclr``, feature 0 goes through the head with its own batch norms and feature 1
        through the head with the competitor's; other bases run their own ``loss_from_features``.
        """
        if self.head_bn is None:
            return self.base.loss_from_features(features)
        head = self.base.head
        z1, z2 = head(features[0]), run_variant(head, features[1], bn_set=self.head_bn)
        out = self.criterion(z1, z2)
        return BranchOutput(loss=out.loss, features=features, embeddings=[z1, z2],
                            positive_log_prob=out.positive_log_prob)

    def parameter_groups(self) -> list[dict[str, Any]]:
        """The base's groups, plus one group of the competitor's batch-norm parameters."""
        own = [*self.competitor.parameters(), *(self.head_bn.parameters() if self.head_bn is not None else ())]
        return [*self.base.parameter_groups(), *([{"params": own}] if own else [])]

    def refresh_mask(self, epoch: int) -> None:
        """Recompute the competitor's mask from the current dense weights."""
        self.competitor.refresh(self.encoder, epoch)

    # -- lifecycle: the mask refresh, then the base's own --------------------------------------

    def on_fit_start(self, ctx: TrainContext) -> None:
        """A fresh run takes the mask of its starting weights; a resume keeps the checkpoint's."""
        if ctx.global_step == 0:
            self.refresh_mask(ctx.epoch)
        self.base.on_fit_start(ctx)

    def on_epoch_start(self, ctx: TrainContext) -> None:
        """The per-epoch refresh: a new mask from the current weights, held for the epoch."""
        if int(self.competitor.epoch) != ctx.epoch:
            self.refresh_mask(ctx.epoch)
        self.base.on_epoch_start(ctx)

    def on_step_start(self, ctx: TrainContext, batch: Batch) -> None:
        """The base's."""
        self.base.on_step_start(ctx, batch)

    def on_step_end(self, ctx: TrainContext) -> None:
        """The base's (BYOL's target and MoCo's key updates)."""
        self.base.on_step_end(ctx)

    def on_epoch_end(self, ctx: TrainContext) -> None:
        """The base's."""
        self.base.on_epoch_end(ctx)

    def on_fit_end(self, ctx: TrainContext) -> None:
        """The base's."""
        self.base.on_fit_end(ctx)

    def extra_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The base's."""
        return self.base.extra_optimizers()
