"""The ``checkpoint`` callback: atomic safetensors + JSON checkpoints every N epochs."""

from __future__ import annotations

import attrs

from ssl_core.components import BuildContext, Callback
from ssl_core.options import option, positive
from ssl_core.training.state import TrainContext


@attrs.define
class CheckpointConfig:
    """Options of ``checkpoint``."""

    every: int = option(1, "save every N epochs (and after the last)", validator=positive)
    keep: int = option(2, "newest checkpoints kept (0: keep all)", validator=attrs.validators.ge(0))


class CheckpointCallback(Callback):
    """Saves ``checkpoints/epoch-NNNN`` (model, optimisers, RNG, history); ``--resume`` reads it.

    Runs after every other callback, so the saved metrics include theirs.
    """

    order = 100

    def __init__(self, config: CheckpointConfig, context: BuildContext | None = None) -> None:
        self.config = config

    def on_epoch_end(self, ctx: TrainContext) -> None:
        if ctx.epoch % self.config.every == 0 or ctx.epoch == ctx.config.epochs:
            ctx.trainer.save_checkpoint(ctx, keep=self.config.keep or None)
