"""The public ``ssl_core.load_run`` and ``EvalRun``: lazy features, encoding with the trained or untrained encoder."""

from __future__ import annotations

import pytest
import torch

import ssl_core
from ssl_core import load_run
from ssl_core.evaluation.knn import knn_accuracy
from ssl_core.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def monitored_run(tmp_path_factory):
    """One epoch of SimCLR on 128 tiny shapes images with the k-NN monitor (k 20)."""
    out = tmp_path_factory.mktemp("eval-run") / "run"
    Trainer(branch="simclr", encoder="small-resnet", epochs=1, batch_size=32, output_dir=str(out), device="cpu",
            seed=3, sets=["encoder.widths=[8, 8, 16, 16]", "dataset.num_train=128", "dataset.num_test=40",
                          "dataset.image_size=16", "callback.knn-monitor.k=20"]).fit()
    return out


def test_load_run_is_public_and_encodes_nothing_until_asked(monitored_run):
    assert "load_run" in ssl_core.__all__ and ssl_core.load_run is load_run
    run = load_run(monitored_run, "cpu")
    assert not (monitored_run / "eval-features.safetensors").exists()
    assert run.summary["knn_top1"] == run.metrics[-1]["knn_top1"] and run.eval_results() == {}
    assert run.features["test"].shape == (40, 16) and (monitored_run / "eval-features.safetensors").is_file()


def test_encode_gives_the_trained_and_the_untrained_encoder_of_the_run(monitored_run):
    run = load_run(monitored_run, "cpu")
    summary, k = run.summary, run.config["options"]["callback"]["knn-monitor"]["k"]
    for untrained, key in ((False, "knn_top1"), (True, "knn_top1_untrained")):
        bank, bank_labels = run.encode(run.data.train, untrained=untrained)
        queries, labels = run.encode(run.data.test, untrained=untrained)
        assert round(knn_accuracy(bank, bank_labels, queries, labels, 10, k, 0.1), 4) == summary[key]
    trained, _ = run.encode(run.data.test)
    assert torch.equal(trained, run.features["test"])
    torch.manual_seed(123)  # the untrained encoder follows the run's seed, not the caller's RNG
    assert torch.equal(run.encode(run.data.test, untrained=True)[0], queries)


def test_the_k_nn_monitor_stores_the_last_per_class_accuracy(monitored_run):
    summary = load_run(monitored_run, "cpu").summary
    assert len(summary["knn_per_class"]) == 10
    assert sum(summary["knn_per_class"]) / 10 == pytest.approx(summary["knn_top1"], abs=1e-3)  # 4 images per class
