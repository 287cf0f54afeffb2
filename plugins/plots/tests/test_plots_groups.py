"""The per-class bars of long-tailed runs: Many / Medium / Few groups, ordered and shaded."""

from __future__ import annotations

import numpy as np
from ssl_plots.figures import png
from ssl_plots.per_class import long_tail_groups, per_class_figure, per_class_series

NAMES = [f"class {c}" for c in range(10)]


def test_a_run_trained_with_imbalance_is_grouped_by_class_index_and_eval_groups_win():
    assert long_tail_groups({"dataset": "long-tail"}, {}, 10) == {
        "many": [0, 1, 2, 3], "medium": [4, 5, 6], "few": [7, 8, 9]}
    assert long_tail_groups({"dataset": "shapes"}, {}, 10) is None
    ranked = {"many": [1, 4, 8, 9], "medium": [2, 3, 7], "few": [0, 5, 6]}
    assert long_tail_groups({"dataset": "shapes"}, {"long-tail": {"groups": ranked}}, 10) == ranked


def test_each_eval_row_with_per_class_is_a_series_beside_the_monitor():
    evals = {"long-tail": {"rows": {"full-shot": {"per_class": [0.5] * 10}, "few-shot": {"per_class": [0.2] * 10}}},
             "knn": {"rows": {"knn": {"per_class": [0.3] * 10}}}, "background": {"rows": {"plain": {"per_class": [1]}}}}
    series = per_class_series({"knn_per_class": [0.1] * 10}, evals)
    assert list(series) == ["k-NN monitor (last epoch)", "knn", "ssl eval long-tail: full-shot",
                            "ssl eval long-tail: few-shot"]


def test_grouped_bars_follow_the_groups_and_shade_each():
    groups = {"many": [1, 4, 8, 9], "medium": [2, 3, 7], "few": [0, 5, 6]}
    accuracy = [c / 10 for c in range(10)]
    figure = per_class_figure({"linear: full-shot": accuracy}, NAMES, groups)
    axes = figure.axes[0]
    order = [1, 4, 8, 9, 2, 3, 7, 0, 5, 6]
    assert [t.get_text() for t in axes.get_xticklabels()] == [NAMES[c] for c in order]
    assert np.allclose([bar.get_height() for bar in axes.containers[0]], [100 * accuracy[c] for c in order])
    assert [t.get_text() for t in axes.texts] == ["Many (4 classes)", "Medium (3 classes)", "Few (3 classes)"]
    assert len(png(figure)) > 10_000
