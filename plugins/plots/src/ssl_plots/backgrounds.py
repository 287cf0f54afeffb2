"""Background reliance on ``shapes``: test top-1 by background variant, one run or several side by side."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from ssl_plots.figures import new_figure

#: the protocol of ssl-shapes whose result this picture shows.
PROTOCOL = "background"
#: the panels: ``(row key, title)``.
METRICS = (("top1", "Linear probe"), ("knn_top1", "k-NN"))


def backgrounds_figure(results: dict[str, dict[str, Any]]) -> Figure:
    """Bars of test top-1 (%) per background variant, one colour per run (``results``: label -> the
    ``eval-background.json`` result); a panel per classifier."""
    first = next(iter(results.values()))
    variants = list(first["rows"])
    figure = new_figure(12, 4.6)
    panels = figure.subplots(1, len(METRICS), sharey=True)
    x, width = np.arange(len(variants)), 0.8 / len(results)
    for axes, (key, title) in zip(panels, METRICS):
        for index, (label, result) in enumerate(results.items()):
            heights = [100 * result["rows"][v][key] for v in variants]
            bars = axes.bar(x + (index - (len(results) - 1) / 2) * width, heights, width, label=label)
            axes.bar_label(bars, fmt="%.0f", fontsize="small")
        axes.set_xticks(x, [f"{v}\nbackground" for v in variants])
        axes.set(title=title, xlabel="test images shown on", ylim=(0, 105))
        axes.grid(axis="y", alpha=0.3)
        axes.axhline(100 / len(first["rows"][variants[0]]["per_class"]), color="0.4", linestyle=":", label="chance")
    panels[0].set_ylabel("test top-1 accuracy (%)")
    figure.legend(*panels[0].get_legend_handles_labels(), loc="outside lower center", ncols=len(results) + 1)
    biases = ", ".join(sorted({str(r.get("background_bias")) for r in results.values()}))
    figure.suptitle(f"Accuracy by background (shapes, training background_bias {biases})\n"
                    "own-class far above other-class: the encoder reads the background, not the shape")
    return figure
