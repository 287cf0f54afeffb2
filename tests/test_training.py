"""The trainer end to end: outputs, exact resume, crash-safe checkpoints, learning."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from safetensors.torch import load_file

from ssl_core import run_folder
from ssl_core.run_folder import STATE_META, RunFolder, load_checkpoint
from ssl_core.training.trainer import Trainer


def test_run_writes_config_metrics_encoder_and_checkpoints(tiny_run, tmp_path):
    from ssl_core.cli import cli

    out = tmp_path / "cli-run"
    result = CliRunner().invoke(cli, [
        "run", "--branch", "simclr", "--epochs", "2", "--batch-size", "32", "--output-dir", str(out),
        "--set", "encoder.widths=[8, 8, 16, 16]", "--set", "dataset.num_train=128", "--set", "dataset.num_test=40",
        "--set", "dataset.image_size=16", "--set", "callback.knn-monitor.k=20",
    ])
    assert result.exit_code == 0, result.output
    assert {"config.yaml", "metrics.jsonl", "encoder.safetensors", "checkpoints", "summary.json"} <= {
        p.name for p in out.iterdir()}
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in lines] == [1, 2]
    assert all({"epoch", "loss", "knn_top1", "images_per_s", "lr"} <= set(row) for row in lines)
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["epoch-0001", "epoch-0002"] or sorted(
        p.name for p in (out / "checkpoints").iterdir()) == ["epoch-0001", "epoch-0002"]
    assert "k-NN top-1 final" in result.output


def test_two_epochs_equal_one_epoch_then_resume_then_one(tiny_run, tmp_path):
    tiny_run["no_callback"] = ["knn-monitor"]
    straight = Trainer({**tiny_run, "epochs": 2, "output_dir": str(tmp_path / "a")}).fit()
    Trainer({**tiny_run, "epochs": 1, "output_dir": str(tmp_path / "b")}).fit()
    resumed = Trainer(resume=tmp_path / "b", epochs=2).fit()
    a = load_file(str(straight.output_dir / "encoder.safetensors"))
    b = load_file(str(resumed.output_dir / "encoder.safetensors"))
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert [r["loss"] for r in straight.history] == [r["loss"] for r in resumed.history]
    # the resumed run continued in its own folder with the full history
    assert resumed.output_dir == tmp_path / "b"
    assert len((tmp_path / "b" / "metrics.jsonl").read_text().splitlines()) == 2


def test_a_crash_while_saving_leaves_the_previous_checkpoint_loadable(tiny_run, monkeypatch):
    tiny_run["no_callback"] = ["knn-monitor"]
    trainer = Trainer(tiny_run)
    trainer.fit()
    run_dir = trainer.output_dir
    good = RunFolder(run_dir).latest_checkpoint()
    before = load_checkpoint(good)[0]

    def broken_save_file(tensors, filename, metadata=None):
        with open(filename, "wb") as handle:  # a partial file, then the process "dies"
            handle.write(b"\x00" * 100)
        raise OSError("disk full")

    monkeypatch.setattr(run_folder, "save_file", broken_save_file)
    for epoch in (2, 1):  # a new epoch, and re-saving the same one
        with pytest.raises(OSError, match="disk full"):
            RunFolder(run_dir).save_checkpoint(epoch, {"x": torch.zeros(1)}, {})
    assert RunFolder(run_dir).latest_checkpoint() == good
    after = load_checkpoint(good)[0]
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert not (run_dir / "checkpoints" / "epoch-0002").exists()


def test_checkpoints_hold_no_pickles_and_resume_restores_optimizer_state(tiny_run):
    tiny_run["no_callback"] = ["knn-monitor"]
    tiny_run["optimizer"] = "adamw"
    trainer = Trainer(tiny_run)
    trainer.fit()
    folder = RunFolder(trainer.output_dir).latest_checkpoint()
    assert sorted(p.name for p in folder.iterdir()) == ["state.json", "state.safetensors"]
    tensors, meta = load_checkpoint(folder)
    assert any(k.startswith("optimizer.main.") and k.endswith(".exp_avg") for k in tensors)
    assert meta["epoch"] == 1 and meta["global_step"] == 3  # 120 images (12 per class), batches of 32
    assert "rng.torch" in tensors


def test_encoder_file_loads_strictly_into_the_torchvision_model(tiny_run):
    from ssl_core.encoders.resnet import torchvision_resnet

    tiny_run.update(encoder="resnet18", batch_size=16, options={
        "dataset": {"shapes": {"num_train": 32, "num_test": 10, "image_size": 16}}})
    result = Trainer(tiny_run).fit()
    weights = load_file(str(result.output_dir / "encoder.safetensors"))
    model = torchvision_resnet("resnet18", cifar_stem=True)
    model.load_state_dict(weights, strict=True)
    assert model.conv1.kernel_size == (3, 3)
    assert not any(k.startswith("fc.") for k in weights)


def test_a_run_leaves_unselected_components_alone(tiny_run):
    # the uniformity regularizer is installed but not selected: its term never shows up
    result = Trainer(tiny_run).fit()
    assert not any(key.startswith("loss_uniformity") for key in result.history[0])
    tiny_run["regularizer"] = ["uniformity"]
    result = Trainer(tiny_run, overwrite=True).fit()
    assert "loss_uniformity" in result.history[0]


def test_simclr_on_shapes_learns_well_above_the_untrained_encoder(tmp_path, one_thread):
    """A short run (1,000 images, 6 epochs, about 20 s) must beat the same encoder untrained."""
    result = Trainer(branch="simclr", epochs=6, batch_size=64, callback=["knn-monitor"], seed=0,
                     output_dir=str(tmp_path / "learn"),
                     sets=["dataset.num_train=1000", "dataset.num_test=300", "callback.k=20"]).fit()
    untrained, trained = result.summary["knn_top1_untrained"], result.summary["knn_top1"]
    assert trained >= untrained + 0.10, (untrained, trained)  # measured: 0.19 -> 0.36


def test_a_run_folder_written_by_ssl_core_0_1_still_resumes_with_its_checkpoint_settings(tiny_run):
    tiny_run["no_callback"] = ["knn-monitor"]
    first = Trainer(tiny_run).fit()
    folder = RunFolder(first.output_dir)
    path = folder.latest_checkpoint() / STATE_META
    meta = json.loads(path.read_text())
    old = {k: v for k, v in meta["config"].items() if k not in ("no_callback", "checkpoint_every", "keep_checkpoints")}
    old["callback"] = ["checkpoint"]  # 0.1: checkpoints were a callback with options every / keep
    old["options"]["callback"] = {"checkpoint": {"every": 1, "keep": 3}}
    path.write_text(json.dumps({**meta, "config": old, "format": 1}))
    resumed = Trainer(resume=first.output_dir, epochs=3)
    assert (resumed.config.checkpoint_every, resumed.config.keep_checkpoints) == (1, 3)
    assert resumed.config.callback == ["knn-monitor"]  # 0.1 ran no other callback; 0.2's default joins
    result = resumed.fit()
    assert result.output_dir == first.output_dir and result.history[-1]["epoch"] == 3
    assert len(list(folder.checkpoints.glob("epoch-*"))) == 3


def test_a_checkpoint_whose_model_keys_changed_fails_with_a_message_saying_what_changed(tiny_run):
    from safetensors.torch import load_file, save_file

    from ssl_core.errors import RunFolderError

    tiny_run["no_callback"] = ["knn-monitor"]
    first = Trainer(tiny_run).fit()
    checkpoint = RunFolder(first.output_dir).latest_checkpoint()
    tensors = load_file(str(checkpoint / "state.safetensors"))
    renamed = {k.replace("model.branch.head.", "model.branch.head_bn."): v for k, v in tensors.items()}
    save_file(renamed, str(checkpoint / "state.safetensors"))
    meta = json.loads((checkpoint / STATE_META).read_text())
    (checkpoint / STATE_META).write_text(json.dumps({**meta, "format": 1}))
    with pytest.raises(RunFolderError, match="does not fit the model.*written by ssl-core 0.1"):
        Trainer(resume=first.output_dir, epochs=2).fit()
