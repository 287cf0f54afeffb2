"""The ``plots`` callback: selecting it makes the end of the run draw its pictures (see ``after_run``)."""

from __future__ import annotations

from typing import Any

import attrs
from ssl_core import Callback, option, positive

#: the t-SNE map's default number of test images.
TSNE_POINTS = 2000


@attrs.define
class PlotsConfig:
    """Options of the ``plots`` callback."""

    tsne_points: int = option(TSNE_POINTS, "test images on the t-SNE map (a sample, seeded)", validator=positive)


class PlotsCallback(Callback):
    """Draw the run's pictures into RUN_DIR/plots/ when it ends (curves, per-class bars, t-SNE)."""

    order = 100

    def __init__(self, config: PlotsConfig, context: Any = None) -> None:
        self.config = config
