"""The training curves: loss (total and each term), learning rate and k-NN top-1 per epoch."""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ssl_plots.figures import new_figure

#: what one run contributes to the curves: ``(legend label, metrics.jsonl rows, summary.json)``.
Series = tuple[str, list[dict[str, Any]], dict[str, Any]]


def loss_keys(metrics: list[dict[str, Any]]) -> list[str]:
    """``loss`` and every other ``loss*`` key of the epochs (the branch's and each regularizer's term)."""
    keys = {key for row in metrics for key in row if key.startswith("loss")}
    return sorted(keys, key=lambda key: (key != "loss", key))


def knn_points(metrics: list[dict[str, Any]], summary: dict[str, Any]) -> tuple[list[int], list[float]]:
    """Epochs and k-NN top-1 (%) where it was measured; epoch 0 is the untrained encoder."""
    untrained = summary.get("knn_top1_untrained")
    points = [(0, untrained)] if untrained is not None else []
    points += [(row["epoch"], row["knn_top1"]) for row in metrics if row.get("knn_top1") is not None]
    return [epoch for epoch, _ in points], [100 * value for _, value in points]


def curves_figure(runs: list[Series]) -> Figure:
    """Three panels of one or more runs (solid: the first, dashed: the others): loss terms, lr, k-NN top-1.

    Loss lines are labelled by their ``metrics.jsonl`` key (``"<run label>: <key>"`` with several
    runs), the lr and k-NN lines by the run label."""
    figure = new_figure(14, 4.2)
    loss, lr, knn = figure.subplots(1, 3)
    for index, (label, metrics, summary) in enumerate(runs):
        style = "-" if index == 0 else "--"
        epochs = [row["epoch"] for row in metrics]
        for key in loss_keys(metrics):
            points = [(row["epoch"], row[key]) for row in metrics if row.get(key) is not None]
            loss.plot(*zip(*points), style, marker="o", markersize=3, label=f"{label}: {key}" if len(runs) > 1 else key)
        if any("lr" in row for row in metrics):
            lr.plot(epochs, [row.get("lr", float("nan")) for row in metrics], style, marker="o", markersize=3,
                    label=label)
        knn_epochs, top1 = knn_points(metrics, summary)
        if knn_epochs:
            knn.plot(knn_epochs, top1, style, marker="o", markersize=4, label=label)
    loss.set(title="Training loss (epoch mean)", xlabel="epoch", ylabel="loss (epoch mean of the steps)")
    lr.set(title="Learning rate (last step of each epoch)", xlabel="epoch", ylabel="learning rate")
    knn.set(title="k-NN top-1 on the test split", xlabel="epoch (0: untrained encoder)", ylabel="top-1 accuracy (%)")
    for axes in (loss, lr, knn):
        axes.grid(alpha=0.3)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        if axes.lines:
            axes.legend(fontsize="small")
    if not knn.lines:
        knn.text(0.5, 0.5, "not measured\n(knn-monitor was off, or the data has no labels)",
                 ha="center", va="center", transform=knn.transAxes, color="grey")
    return figure
