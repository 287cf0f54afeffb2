"""``ssl eval``: long-tail metrics, the linear probe, and every protocol on a tiny trained run."""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from safetensors.torch import load_file, save_file

from ssl_core import EvalError, UnknownComponentError
from ssl_core.evaluation.linear import fit_linear_probe, select_linear_probe
from ssl_core.evaluation.protocols import evaluate_run, per_class_accuracy
from ssl_core.run_folder import EVAL_FEATURES as FEATURES_FILE


pytestmark = pytest.mark.usefixtures("one_thread")


# -- metrics -----------------------------------------------------------------------------------


def test_per_class_accuracy_counts_each_class_alone():
    labels = torch.tensor([0, 0, 0, 0, 1, 1, 2])
    predicted = torch.tensor([0, 0, 0, 1, 1, 0, 0])
    assert per_class_accuracy(predicted, labels, 3) == [0.75, 0.5, 0.0]
    with pytest.raises(ValueError, match=r"class\(es\) \[3\] have no test images"):
        per_class_accuracy(predicted, labels, 4)


# -- linear probe ------------------------------------------------------------------------------


def test_the_probe_reaches_the_regularised_optimum():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(120, 6, generator=g) * torch.tensor([1.0, 2, 3, 0.5, 1, 4]) + 3
    y = torch.randint(0, 3, (120,), generator=g)
    probe = fit_linear_probe(x, y, 3, weight_decay=0.05, max_iter=200)
    assert torch.allclose(probe.mean, x.double().mean(0)) and torch.allclose(probe.std, x.double().std(0, correction=0))
    weight, bias = probe.weight.clone().requires_grad_(), probe.bias.clone().requires_grad_()
    x_hat = (x.double() - probe.mean) / probe.std
    objective = F.cross_entropy(x_hat @ weight + bias, y) + 0.05 / 2 * weight.pow(2).sum()
    grad_w, grad_b = torch.autograd.grad(objective, (weight, bias))
    assert grad_w.abs().max() < 1e-5 and grad_b.abs().max() < 1e-5  # stationary: the unique optimum
    assert probe.weight.abs().max() > 0.01
    assert torch.equal(probe.predict(x), (x_hat @ probe.weight + probe.bias).argmax(1))


def test_selection_keeps_the_best_validation_top1_and_breaks_ties_by_the_largest_decay():
    g = torch.Generator().manual_seed(1)
    centres = torch.eye(4) * 10
    y = torch.arange(200) % 4
    x = centres[y] + torch.randn(200, 4, generator=g)
    chosen = select_linear_probe(x[:100], y[:100], x[100:], y[100:], 4, weight_decays=(1e-4, 1e-2))
    assert chosen.validation_top1 == {1e-4: 1.0, 1e-2: 1.0} and chosen.weight_decay == 1e-2
    noisy = torch.randint(0, 4, (100,), generator=g)  # labels unrelated to the features
    chosen = select_linear_probe(x[:100], y[:100], x[100:], noisy, 4, weight_decays=(1e-4, 1e-2, 1.0))
    best = max(chosen.validation_top1.values())
    assert chosen.validation_top1[chosen.weight_decay] == best
    assert chosen.weight_decay == max(wd for wd, top1 in chosen.validation_top1.items() if top1 == best)


# -- ssl eval on a tiny trained run --------------------------------------------------------------

@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    """One epoch of SimCLR on 500 tiny shapes images (50 per class)."""
    from ssl_core.cli import cli

    out = tmp_path_factory.mktemp("eval") / "run"
    result = CliRunner().invoke(cli, [
        "run", "--branch", "simclr", "--epochs", "1", "--batch-size", "32", "--output-dir", str(out),
        "--no-callback", "knn-monitor", "--set", "encoder.widths=[8, 8, 16, 16]", "--set", "dataset.num_train=500",
        "--set", "dataset.num_test=40", "--set", "dataset.image_size=16",
    ])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("protocol, row, train_images", [
    ("linear", "full-shot", 450), ("few-shot", "few-shot", 10), ("knn", "knn", 450)])
def test_ssl_eval_prints_top1_and_writes_per_class_accuracy(plain_run, protocol, row, train_images):
    from ssl_core.cli import cli

    result = CliRunner().invoke(cli, ["eval", str(plain_run), "--protocol", protocol, "--device", "cpu"])
    assert result.exit_code == 0, result.output
    header = result.output.splitlines()[0].split()
    assert header == ["protocol", "train", "images", "selection", "val", "top-1", "top-1"]
    line = result.output.splitlines()[2]
    written = json.loads((plain_run / f"eval-{protocol}.json").read_text())
    assert (written["pool_size"], written["validation_size"], written["test_size"]) == (450, 50, 40)
    assert list(written["rows"]) == [row] and line.split()[0] == row
    got = written["rows"][row]
    per_class = np.array(got["per_class"])
    assert got["train_images"] == train_images and len(per_class) == 10
    assert got["top1"] == pytest.approx(per_class.mean())  # 4 test images per class: the mean of the classes
    assert line.split()[-1] == f"{100 * got['top1']:.2f}"
    if protocol != "knn":
        assert got["selection"] == f"weight decay {float(got['selection'].split()[-1]):g}"
        assert got["validation_top1"] == max(got["validation_top1_by_weight_decay"].values())


def test_the_default_protocol_is_linear(plain_run):
    from ssl_core.cli import cli

    result = CliRunner().invoke(cli, ["eval", str(plain_run), "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "full-shot" in result.output and (plain_run / "eval-linear.json").is_file()


def test_features_are_cached_and_recomputed_when_the_encoder_changes(plain_run, tmp_path):
    evaluate_run(plain_run, "knn", "cpu")
    cache = plain_run / FEATURES_FILE
    first = cache.stat().st_mtime_ns
    cached = load_file(str(cache))
    assert cached["train"].shape[0] == 500 and cached["test"].shape[0] == 40  # the whole training split
    evaluate_run(plain_run, "knn", "cpu")
    assert cache.stat().st_mtime_ns == first
    other = tmp_path / "changed"
    shutil.copytree(plain_run, other)
    weights = load_file(str(other / "encoder.safetensors"))
    weights["conv1.weight"] = weights["conv1.weight"] * 2
    save_file(weights, str(other / "encoder.safetensors"))
    evaluate_run(other, "knn", "cpu")
    assert not torch.equal(load_file(str(other / FEATURES_FILE))["train"], cached["train"])


def test_errors_name_the_missing_file_or_data(plain_run, tmp_path, monkeypatch, capsys):
    with pytest.raises(EvalError, match=f"{tmp_path} is not a run folder \\(no config.yaml"):
        evaluate_run(tmp_path, "linear")
    no_encoder = tmp_path / "no-encoder"
    no_encoder.mkdir()
    shutil.copy(plain_run / "config.yaml", no_encoder / "config.yaml")
    with pytest.raises(EvalError, match="encoder.safetensors not found: the run has no exported encoder"):
        evaluate_run(no_encoder, "linear", "cpu")
    with pytest.raises(UnknownComponentError, match="unknown protocol 'top5'.*few-shot, knn, linear"):
        evaluate_run(plain_run, "top5")

    from ssl_core.cli import main

    monkeypatch.setattr(sys, "argv", ["ssl", "eval", str(no_encoder)])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert "Error: " in capsys.readouterr().err


def test_a_run_on_unlabelled_data_is_refused(tmp_path):
    import datasets
    from PIL import Image

    folder = tmp_path / "data"
    folder.mkdir()
    images = [Image.fromarray(np.full((8, 8, 3), i, dtype=np.uint8)) for i in range(4)]
    features = datasets.Features({"img": datasets.Image()})
    for split in ("train", "test"):
        datasets.Dataset.from_dict({"img": images}, features=features).to_parquet(str(folder / f"{split}.parquet"))
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.yaml").write_text(f"dataset: {folder}\nencoder: small-resnet\noptions:\n  dataset:\n"
                                     f"    hf: {{path: {folder}, cache_dir: {tmp_path / 'cache'}}}\n")
    with pytest.raises(EvalError, match="has no labels.*ssl eval needs labels"):
        evaluate_run(run, "linear", "cpu")
