"""Exported folders carry the pictures and the model card shows them."""

from __future__ import annotations

import pytest
from huggingface_hub import ModelCard
from PIL import Image
from ssl_core import Trainer
from ssl_core.sharing import export
from ssl_plots.draw import plot_run

pytestmark = pytest.mark.usefixtures("one_thread")


def test_the_export_holds_the_plots_and_the_card_links_them(shapes_run, tmp_path):
    drawn = plot_run(shapes_run, tsne_points=15, device="cpu").pictures
    out = export(shapes_run, tmp_path / "export")
    names = sorted(p.name for p in drawn)
    assert sorted(p.name for p in (out / "plots").iterdir()) == names
    for name in names:
        with Image.open(out / "plots" / name) as image:
            assert image.format == "PNG"
    card = ModelCard.load(out / "README.md").text
    assert "## Plots" in card
    for name in names:
        assert f"![{name.removesuffix('.png')}](plots/{name})" in card
        assert f"- `plots/{name}`" in card


def test_a_run_started_over_loses_the_earlier_runs_pictures_and_exports_none(make_run, tmp_path):
    run = make_run(tmp_path / "run")
    assert plot_run(run, tsne_points=15, device="cpu").pictures
    Trainer(str(run / "config.yaml"), overwrite=True, epochs=1).fit()  # the suite's runs draw nothing
    assert not (run / "plots").exists()
    out = export(run, tmp_path / "export")
    assert not (out / "plots").exists()
    assert "## Plots" not in ModelCard.load(out / "README.md").text
