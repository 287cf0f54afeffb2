"""The ``knn-monitor`` callback: weighted k-NN top-1 of the encoder every N epochs."""

from __future__ import annotations

import attrs
import torch
from tqdm.auto import tqdm

from ssl_core.components import Callback
from ssl_core.context import BuildContext, TrainContext
from ssl_core.evaluation.knn import knn_predict
from ssl_core.options import option, positive


@attrs.define
class KNNMonitorConfig:
    """Options of ``knn-monitor``."""

    k: int = option(200, "neighbours", validator=positive)
    temperature: float = option(0.1, "vote weight exp(similarity / T)", validator=positive, converter=float)
    every: int = option(1, "evaluate every N epochs (and after the last)", validator=positive)
    untrained: bool = option(True, "also evaluate the untrained encoder before the first epoch")


class KNNMonitor(Callback):
    """Weighted k-NN (cosine, votes exp(s/T)) of test features against the train features.

    The train set (un-augmented) is the bank and the test set the queries; both are encoded
    with the encoder in eval mode on the main process. Adds ``knn_top1`` to the epoch's
    metrics and ``knn_top1_untrained`` to the run summary; the last evaluation also stores the
    accuracy on each class's test images as ``knn_per_class`` (``None`` for a class without
    test images). Skipped, with a note, for data without labels or without a test split.
    """

    order = 10

    def __init__(self, config: KNNMonitorConfig, context: BuildContext | None = None) -> None:
        self.config = config

    def _usable(self, ctx: TrainContext) -> bool:
        data = ctx.data
        return data.test is not None and data.num_classes is not None and data.train.labels is not None

    def _evaluate(self, ctx: TrainContext) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The k-NN predictions of the test images and their labels (main process; ``None`` elsewhere)."""
        acc = ctx.accelerator
        result = None
        if acc.is_main_process:
            bank, bank_labels = ctx.features(ctx.data.train)
            queries, query_labels = ctx.features(ctx.data.test)
            result = knn_predict(bank, bank_labels, queries, ctx.data.num_classes, self.config.k,
                                 self.config.temperature), query_labels
        acc.wait_for_everyone()
        return result

    def on_fit_start(self, ctx: TrainContext) -> None:
        if not self._usable(ctx):
            tqdm.write("knn-monitor: skipped (needs labels and a test split)")
        elif self.config.untrained and ctx.epoch == 0 and "knn_top1_untrained" not in ctx.summary:
            ctx.summary["knn_top1_untrained"] = _top1(self._evaluate(ctx))

    def on_epoch_end(self, ctx: TrainContext) -> None:
        last = ctx.epoch == ctx.epochs
        if self._usable(ctx) and (ctx.epoch % self.config.every == 0 or last):
            result = self._evaluate(ctx)
            ctx.metrics["knn_top1"] = ctx.summary["knn_top1"] = _top1(result)
            if last and result is not None:
                ctx.summary["knn_per_class"] = _per_class(*result, ctx.data.num_classes)


def _top1(result: tuple[torch.Tensor, torch.Tensor] | None) -> float | None:
    """The top-1 of ``(predicted, labels)``, rounded to 4 places (``None`` off the main process)."""
    return None if result is None else round((result[0] == result[1]).float().mean().item(), 4)


def _per_class(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list[float | None]:
    """The accuracy on each class's test images (rounded to 4 places), ``None`` for a class without any."""
    labelled = labels >= 0
    predicted, labels = predicted[labelled], labels[labelled]
    totals = torch.bincount(labels, minlength=num_classes)
    hits = torch.bincount(labels[predicted == labels], minlength=num_classes)
    return [round(h / t, 4) if t else None for h, t in zip(hits.tolist(), totals.tolist())]
