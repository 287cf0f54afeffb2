"""The ``sdclr-pruned`` branch: a base method whose view 2 goes through the pruned self-competitor."""

from __future__ import annotations

import torch
from ssl_core import BuildContext, TrainContext, WrapperBranch
from torch import nn

from ssl_sdclr.base import build_base
from ssl_sdclr.competitor import SelfCompetitor
from ssl_sdclr.config import SDCLRConfig
from ssl_sdclr.variants import NormSet, run_variant


class SDCLRBranch(WrapperBranch):
    """SDCLR (Jiang et al., 2021): contrast the network with a magnitude-pruned copy of itself.

        u_i = g(f(x1_i)),   v_i = g_s(f_s(x2_i)),   L = NT-Xent({u_i}, {v_i}; T)

    over the 2N embeddings (2N - 2 negatives per anchor). ``f_s`` is the encoder ``f`` with
    every convolution weight ``w`` replaced by ``w * m``: ``m`` drops the ``k = ceil(p N)``
    smallest ``|w|`` over all ``N`` convolution weights (one global threshold), recomputed from
    the current weights at every epoch start and held for the epoch. ``f_s`` and the heads
    ``g_s`` share every weight with ``f`` and ``g`` but have their own batch norms. One forward
    of each network and one backward: its gradient is the sum of the official code's two
    partial passes.

    Our extension for encoders with linear layers and other norms (timm's ViTs and ConvNeXts):
    ``m`` covers every convolution *and linear* weight of the encoder (a ResNet has no linear
    layer, so there nothing changes), and every normalisation layer (layer and group norms as
    well as batch norms) has the competitor's own copy.

    The base (``simclr`` by default, the official method; any registered 2-view branch as our
    extension) is built through the registry. Through the contract's routing
    (``base.route_view(1, ...)``) view 2 runs through the competitor wherever the base runs an
    online module (``base.view_modules()``: the encoder pruned and with its own batch norms,
    each head with its own batch norms); teachers, keys and losses are the base's, unchanged.
    ``encoder`` (the dense network, which evaluation and export use) and ``criterion`` are the
    base's.
    """

    def __init__(self, config: SDCLRConfig, context: BuildContext) -> None:
        super().__init__(build_base(config, context))
        self.competitor = SelfCompetitor(self.encoder, config.prune_ratio)
        #: the competitor's copies of the normalisation layers of each online head of the base.
        heads = {name: NormSet(module) for name, module in self.base.view_modules().items() if name != "encoder"}
        self.head_bn = nn.ModuleDict({name: bns for name, bns in heads.items() if bns.paths})
        self.base.route_view(1, self._competitor)
        self.competitor.refresh(self.encoder, epoch=0)

    def _competitor(self, name: str, module: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """View 2's route: the pruned encoder, and each head with the competitor's norms."""
        if name == "encoder":
            return self.competitor(module, x)
        return run_variant(module, x, bn_set=self.head_bn[name]) if name in self.head_bn else module(x)

    def refresh_mask(self, epoch: int) -> None:
        """Recompute the competitor's mask from the current dense weights."""
        self.competitor.refresh(self.encoder, epoch)

    def on_fit_start(self, ctx: TrainContext) -> None:
        """A fresh run takes the mask of its starting weights; a resume keeps the checkpoint's."""
        if ctx.global_step == 0:
            self.refresh_mask(ctx.epoch)

    def on_epoch_start(self, ctx: TrainContext) -> None:
        """The per-epoch refresh: a new mask from the current weights, held for the epoch."""
        if int(self.competitor.epoch) != ctx.epoch:
            self.refresh_mask(ctx.epoch)
