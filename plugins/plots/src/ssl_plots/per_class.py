"""Per-class test accuracy bars, from the k-NN monitor and ``ssl eval``, long-tail groups shaded."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ssl_plots.figures import new_figure, percent

#: the long-tail groups, most frequent classes first, and their shading.
GROUP_COLORS = {"many": "#d8e8f5", "medium": "#fbe7cf", "few": "#f6d5d5"}
#: protocols whose rows are not per-class results of the run's own test split.
OTHER_PICTURES = ("background",)


def per_class_series(summary: dict[str, Any], evals: dict[str, dict[str, Any]]) -> dict[str, list[float | None]]:
    """Each per-class accuracy list of the run by its legend label: the k-NN monitor's, then each ``ssl eval`` row's."""
    found: dict[str, list[float | None]] = {}
    if summary.get("knn_per_class"):
        found["k-NN monitor (last epoch)"] = summary["knn_per_class"]
    for protocol, result in sorted(evals.items()):
        if protocol in OTHER_PICTURES:
            continue
        for row, values in result.get("rows", {}).items():
            if values.get("per_class"):
                found[protocol if row == protocol else f"ssl eval {protocol}: {row}"] = values["per_class"]
    return found


def long_tail_groups(config: dict[str, Any], evals: dict[str, dict[str, Any]], num_classes: int,
                     ) -> dict[str, list[int]] | None:
    """Many / Medium / Few class indices of a long-tailed run, or ``None`` for any other run.

    From ``ssl eval --protocol long-tail`` when it ran; else, for a run trained with
    ``--imbalance`` (dataset ``long-tail``), by class index: its profile keeps fewer images
    the higher the class index, so Few is the last ``C // 3`` classes and Medium the ``C // 3``
    before them (ssl-longtail's rule)."""
    if "groups" in evals.get("long-tail", {}):
        return evals["long-tail"]["groups"]
    if config.get("dataset") != "long-tail":
        return None
    third = num_classes // 3
    ranked = list(range(num_classes))
    return {"many": ranked[:num_classes - 2 * third], "medium": ranked[num_classes - 2 * third:num_classes - third],
            "few": ranked[num_classes - third:]}


def per_class_figure(series: dict[str, list[float | None]], class_names: list[str],
                     groups: dict[str, list[int]] | None = None) -> Figure:
    """Grouped bars of test accuracy (%) per class, one colour per source; with ``groups`` the
    classes are ordered Many, Medium, Few and each group's span is shaded and named."""
    order = [c for name in GROUP_COLORS for c in (groups or {}).get(name, [])] or list(range(len(class_names)))
    figure = new_figure(max(8.0, 0.9 * len(order) + 2), 4.8)
    axes = figure.subplots()
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(order))
    for index, (label, values) in enumerate(series.items()):
        heights = percent([values[c] for c in order])
        axes.bar(x + (index - (len(series) - 1) / 2) * width, heights, width, label=label)
    start = 0
    for name, color in GROUP_COLORS.items():
        members = (groups or {}).get(name, [])
        if members:
            axes.axvspan(start - 0.5, start + len(members) - 0.5, color=color, zorder=0)
            axes.text(start + (len(members) - 1) / 2, 103, f"{name.capitalize()} ({len(members)} classes)", ha="center",
                      va="bottom", fontsize="small")
            start += len(members)
    axes.set_xticks(x, [class_names[c] for c in order], rotation=30 if len(order) > 6 else 0, ha="right")
    axes.set(title="Test accuracy per class" + (" (long-tailed run: Many / Medium / Few groups shaded)"
                                                if groups else ""),
             xlabel="class (ordered Many, Medium, Few)" if groups else "class", ylabel="test accuracy (%)", ylim=(0, 112 if groups else 105), xlim=(-0.5, len(order) - 0.5))
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize="small", loc="upper right" if not groups else "lower right")
    return figure
