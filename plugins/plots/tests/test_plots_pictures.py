"""ssl-plots' pictures of a finished run: valid PNGs whose plotted numbers are the run's own."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from ssl_core import load_run
from ssl_plots.draw import plot_run

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def report(shapes_run):
    return plot_run(shapes_run, tsne_points=30, device="cpu")


def _figure(report, name):
    return report.pictures[report.folder / name]


def test_the_pictures_are_pngs_of_a_sensible_size_in_run_dir_plots(shapes_run, report):
    assert report.folder == shapes_run / "plots"
    assert sorted(p.name for p in report.pictures) == ["curves.png", "per_class.png", "tsne.png"]
    assert sorted(p.name for p in report.folder.iterdir()) == ["curves.png", "per_class.png", "tsne.png"]
    for path in report.pictures:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG" and image.width >= 900 and image.height >= 400, path
        assert path.stat().st_size > 10_000, path
    # a background-biased run without ssl eval --protocol background gets the command to run
    assert any("--protocol background" in note for note in report.notes)


def test_the_curves_are_the_numbers_of_metrics_jsonl(shapes_run, report):
    run = load_run(shapes_run, "cpu", labels=False)
    metrics, summary = run.metrics, run.summary
    loss, lr, knn = _figure(report, "curves.png").axes
    lines = {line.get_label(): line for line in loss.lines}
    assert sorted(lines) == ["loss", "loss_branch", "loss_uniformity"]
    for key, line in lines.items():
        assert list(line.get_xdata()) == [1, 2, 3]
        assert list(line.get_ydata()) == [row[key] for row in metrics]
    assert list(lr.lines[0].get_ydata()) == [row["lr"] for row in metrics]
    # knn_top1 is measured on epochs 2 and 3 only; epoch 0 is the untrained encoder of summary.json
    assert "knn_top1" not in metrics[0]
    assert list(knn.lines[0].get_xdata()) == [0, 2, 3]
    expected = [summary["knn_top1_untrained"], metrics[1]["knn_top1"], metrics[2]["knn_top1"]]
    assert np.allclose(knn.lines[0].get_ydata(), [100 * v for v in expected])
    assert "epoch" in knn.get_xlabel() and "(%)" in knn.get_ylabel() and knn.get_title()


def test_the_per_class_bars_are_the_k_nn_monitors_last_evaluation(shapes_run, report):
    per_class = load_run(shapes_run, "cpu", labels=False).summary["knn_per_class"]
    axes = _figure(report, "per_class.png").axes[0]
    heights = [bar.get_height() for bar in axes.containers[0]]
    assert len(per_class) == 10 and np.allclose(heights, [100 * v for v in per_class])
    assert [t.get_text() for t in axes.get_xticklabels()][:2] == ["circle", "square"]
    assert axes.get_legend().get_texts()[0].get_text() == "k-NN monitor (last epoch)"


def test_the_tsne_map_shows_the_sampled_test_images_by_class_in_two_panels(report):
    untrained, trained = _figure(report, "tsne.png").axes
    assert (untrained.get_title(), trained.get_title()) == ("untrained encoder", "trained encoder")
    for axes in (untrained, trained):
        assert sum(len(c.get_offsets()) for c in axes.collections) == 30
        assert len(axes.collections) > 1  # one colour per class present in the sample
