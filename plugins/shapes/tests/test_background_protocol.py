"""``ssl eval RUN_DIR --protocol background``: four background variants of the shapes test split."""

from __future__ import annotations

import numpy as np
import pytest
from ssl_core import EvalError, Trainer
from ssl_core.evaluation.protocols import evaluate_run
from ssl_shapes import BACKGROUND_TESTS

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def biased_run(tmp_path_factory):
    """One epoch of SimCLR on 100 tiny shapes images, nine in ten on their class's background."""
    out = tmp_path_factory.mktemp("background") / "run"
    Trainer(branch="simclr", encoder="small-resnet", epochs=1, batch_size=25, output_dir=str(out), device="cpu",
            no_callback=["knn-monitor"], sets=["encoder.widths=[8, 8, 16, 16]", "dataset.num_train=100",
                                               "dataset.num_test=30", "dataset.image_size=16",
                                               "dataset.background_bias=0.9"]).fit()
    return out


def test_four_rows_with_per_class_and_k_nn_from_one_probe(biased_run):
    result = evaluate_run(biased_run, "background", "cpu")
    rows = result["rows"]
    assert list(rows) == list(BACKGROUND_TESTS) == ["random", "plain", "other-class", "own-class"]
    for row in rows.values():
        assert len(row["per_class"]) == 10 and 0 <= row["top1"] <= 1 and 0 <= row["knn_top1"] <= 1
        assert row["top1"] == pytest.approx(float(np.mean(row["per_class"])))  # 3 test images per class
        assert row["selection"] == rows["random"]["selection"]  # one probe for every variant
    assert result["background_bias"] == 0.9
    # the random variant is the test split itself: the knn protocol's test features, the same probe
    linear = evaluate_run(biased_run, "linear", "cpu")["rows"]["full-shot"]
    assert rows["random"]["top1"] == linear["top1"]
    assert (biased_run / "eval-background.json").is_file()


def test_a_run_on_other_data_is_refused_naming_its_dataset(tmp_path):
    import datasets
    from PIL import Image

    folder = tmp_path / "data"
    folder.mkdir()
    images = [Image.fromarray(np.full((8, 8, 3), 20 * i, dtype=np.uint8)) for i in range(8)]
    features = datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(names=["a", "b"])})
    for split in ("train", "test"):
        datasets.Dataset.from_dict({"img": images, "label": [i % 2 for i in range(8)]}, features=features).to_parquet(
            str(folder / f"{split}.parquet"))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(f"dataset: {folder}\nencoder: small-resnet\noptions:\n  dataset:\n"
                                     f"    hf: {{path: {folder}, cache_dir: {tmp_path / 'cache'}}}\n")
    with pytest.raises(EvalError, match=f"protocol 'background' evaluates runs on the shapes dataset; run {run} "
                                        f"trained on dataset '{folder}'"):
        evaluate_run(run, "background", "cpu")
