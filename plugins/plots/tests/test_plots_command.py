"""``ssl plot`` with --compare, the background pictures, the after_run hook and data without labels."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from ssl_core import load_run
from ssl_core.cli import cli
from ssl_core.evaluation.protocols import evaluate_run
from ssl_plots import plugin
from ssl_plots.draw import plot_run

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def compared(make_run, tmp_path_factory):
    """SimCLR with and without the uniformity regularizer, both evaluated with ssl eval --protocol background."""
    folder = tmp_path_factory.mktemp("compared")
    base, other = make_run(folder / "base"), make_run(folder / "plain", regularizer=())
    for run in (base, other):
        evaluate_run(run, "background", "cpu")
    return base, other


def test_ssl_plot_with_compare_prints_what_it_wrote(compared):
    base, other = compared
    result = CliRunner().invoke(cli, ["plot", str(base), "--compare", str(other), "--tsne-points", "20",
                                      "--device", "cpu"])
    assert result.exit_code == 0, result.output
    names = ["curves.png", "tsne.png", "per_class.png", "backgrounds.png", "curves-vs-plain.png",
             "backgrounds-vs-plain.png"]
    assert [line.removeprefix("wrote ") for line in result.output.splitlines() if line.startswith("wrote")] == [
        str(base / "plots" / name) for name in names]
    assert all((base / "plots" / name).is_file() for name in names)


def test_the_background_bars_are_the_protocols_numbers_side_by_side(compared):
    base, other = compared
    report = plot_run(base, other, tsne_points=20, device="cpu")
    probe, knn = report.pictures[base / "plots" / "backgrounds-vs-plain.png"].axes
    rows = [load_run(run, "cpu").eval_results()["background"]["rows"] for run in (base, other)]
    variants = ["random", "plain", "other-class", "own-class"]
    for axes, key in ((probe, "top1"), (knn, "knn_top1")):
        assert [t.get_text().split("\n")[0] for t in axes.get_xticklabels()] == variants
        heights = [bar.get_height() for bars in axes.containers for bar in bars]
        assert np.allclose(heights, [100 * r[v][key] for r in rows for v in variants])
    legend = [t.get_text() for t in report.pictures[base / "plots" / "backgrounds-vs-plain.png"].legends[0].get_texts()]
    assert legend == ["chance", "simclr + uniformity", "simclr"]
    curves = report.pictures[base / "plots" / "curves-vs-plain.png"].axes[0]
    assert {line.get_label() for line in curves.lines} == {
        "simclr + uniformity: loss", "simclr + uniformity: loss_branch", "simclr + uniformity: loss_uniformity",
        "simclr: loss", "simclr: loss_branch"}


def test_after_run_draws_only_when_the_plots_callback_is_selected(shapes_run, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SSL_NO_CALLBACK", raising=False)
    config = load_run(shapes_run, "cpu").config
    assert "plots" not in config["callback"]  # the suite's runs leave it out
    plugin.after_run(run_dir=shapes_run, summary={}, config=config)
    assert capsys.readouterr().out == ""
    selected = {**config, "callback": [*config["callback"], "plots"],
                "options": {**config["options"], "callback": {"plots": {"tsne_points": 15}}}}
    plugin.after_run(run_dir=shapes_run, summary={}, config=selected)
    out = capsys.readouterr().out
    assert "plots: wrote curves.png, tsne.png, per_class.png" in out and str(shapes_run / "plots") in out


def test_a_drawing_failure_is_one_line_and_never_raises(tmp_path, capsys):
    plugin.after_run(run_dir=tmp_path, summary={}, config={"callback": ["plots"]})
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"plots: drawing the pictures of {tmp_path} failed (EvalError")
    assert "the run itself is complete" in err[0]


def test_plots_is_a_default_callback_that_no_callback_leaves_out(monkeypatch):
    from ssl_core.config import resolve

    monkeypatch.delenv("SSL_NO_CALLBACK", raising=False)
    assert "plots" in resolve({"branch": "simclr"}).callback
    assert "plots" not in resolve({"branch": "simclr", "no_callback": ["plots"]}).callback


def test_data_without_labels_gets_the_curves_and_an_uncoloured_map_with_a_note(tmp_path):
    import datasets
    from PIL import Image
    from ssl_core import Trainer

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)) for _ in range(48)]
    folder = tmp_path / "data"
    folder.mkdir()
    for split, part in (("train", images[:32]), ("test", images[32:])):
        datasets.Dataset.from_dict({"img": part}, features=datasets.Features({"img": datasets.Image()})).to_parquet(
            str(folder / f"{split}.parquet"))
    run = tmp_path / "run"
    Trainer(branch="simclr", encoder="small-resnet", dataset=str(folder), epochs=1, batch_size=16, output_dir=str(run),
            device="cpu", sets=["encoder.widths=[8, 8, 16, 16]", f"dataset.cache_dir={tmp_path / 'cache'}"]).fit()
    report = plot_run(run, tsne_points=10, device="cpu")
    assert sorted(p.name for p in report.pictures) == ["curves.png", "tsne.png"]
    assert report.notes == [f"dataset {str(folder)!r} has no labels: the t-SNE map is uncoloured and there are no "
                            "per-class bars"]
    for axes in report.pictures[run / "plots" / "tsne.png"].axes:
        assert len(axes.collections) == 1 and len(axes.collections[0].get_offsets()) == 10
