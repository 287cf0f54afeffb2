"""Nothing lost, nothing silent: the NaN guard, run-folder refusals, resume checks and interrupts."""

from __future__ import annotations

import json
import os
import shutil
import signal

import pytest
import torch
from safetensors.torch import load_file

from ssl_core import ConfigError, Trainer
from ssl_core.errors import NonFiniteError, RunFolderError
from ssl_core.run_folder import RunFolder
from ssl_core.training.model import SSLModel



def _inject(monkeypatch, at_steps: set[int], action=None) -> None:
    """Make the loss of the given (0-based, global) steps NaN, or run ``action`` there instead."""
    forward, calls = SSLModel.forward, {"n": 0}

    def patched(self, batch):
        loss, logs = forward(self, batch)
        step, calls["n"] = calls["n"], calls["n"] + 1
        if step in at_steps:
            if action is not None:
                action()
            else:
                loss = loss * float("nan")
        return loss, logs

    monkeypatch.setattr(SSLModel, "forward", patched)


def _tensors(run_dir) -> dict[str, torch.Tensor]:
    return load_file(str(RunFolder(run_dir).encoder_path))


def _equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_a_non_finite_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_run, monkeypatch):
    _inject(monkeypatch, {4})  # the tiny run has 3 steps per epoch: this is epoch 2
    with pytest.raises(NonFiniteError, match=r"non-finite loss, gradient at step 4 \(epoch 2, lr .*--max-bad-steps"):
        Trainer({**tiny_run, "epochs": 3, "keep_checkpoints": 1}).fit()
    folder = RunFolder(tiny_run["output_dir"])
    assert folder.latest_checkpoint().name == "epoch-0001"  # not pruned, nothing newer written
    assert not folder.encoder_path.exists()
    rows = [json.loads(line) for line in (folder.path / "metrics.jsonl").read_text().splitlines()]
    assert [row["epoch"] for row in rows] == [1]
    assert all(isinstance(v, str) or torch.isfinite(torch.tensor(float(v))) for v in rows[0].values())


def test_an_infinite_loss_term_is_named(tiny_run):
    with pytest.raises(NonFiniteError, match=r"non-finite .*at step 0 "):
        Trainer(tiny_run, sets=["loss.temperature=1e-30"]).fit()
    assert not RunFolder(tiny_run["output_dir"]).checkpoints.exists()


def test_max_bad_steps_skips_bad_steps_and_the_run_ends_finite(tiny_run, monkeypatch):
    _inject(monkeypatch, {2})
    result = Trainer({**tiny_run, "epochs": 2, "max_bad_steps": 1}).fit()
    assert result.summary["skipped_bad_steps"] == [2]
    assert all(torch.isfinite(t).all() for t in _tensors(result.output_dir).values())
    assert all(torch.isfinite(torch.tensor(row["loss"])) for row in result.history)


def test_more_bad_steps_than_allowed_stop_the_run(tiny_run, monkeypatch):
    _inject(monkeypatch, {1, 5})
    with pytest.raises(NonFiniteError, match=r"more than --max-bad-steps 1 bad steps \(steps \[1, 5\]\)"):
        Trainer({**tiny_run, "epochs": 2, "max_bad_steps": 1}).fit()


def test_a_fresh_run_into_a_run_folder_is_refused_unless_overwrite(tiny_run):
    Trainer(tiny_run).fit()
    folder = RunFolder(tiny_run["output_dir"])
    (folder.path / "benchmark.log").write_text("kept")
    with pytest.raises(RunFolderError, match=r"holds a run.*--resume .*--overwrite"):
        Trainer(tiny_run).fit()
    Trainer({**tiny_run, "epochs": 2}, overwrite=True).fit()
    assert [p.name for p in sorted(folder.checkpoints.iterdir())] == ["epoch-0001", "epoch-0002"]
    assert len(folder.read_metrics()) == 2 and (folder.path / "benchmark.log").read_text() == "kept"
    with pytest.raises(ConfigError, match="give one of them"):
        Trainer(resume=folder.path, overwrite=True)


def test_a_folder_with_other_files_only_is_fine_and_a_file_is_refused(tiny_run, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "benchmark.log").write_text("x")
    Trainer(tiny_run).fit()
    with pytest.raises(RunFolderError, match="is a file"):
        Trainer({**tiny_run, "output_dir": str(out / "benchmark.log")}).fit()


@pytest.mark.parametrize(("change", "message"), [
    ({"sets": ["encoder.widths=[8,8,16,32]"]}, r"options.encoder.small-resnet.widths: \[8, 8, 16, 16\] -> \[8, 8, 16, 32\]"),
    ({"regularizer": ["uniformity"]}, r"regularizer: \[\] -> \['uniformity'\]"),
    ({"optimizer": "adamw"}, r"optimizer: 'sgd' -> 'adamw'"),
])
def test_resume_refuses_what_cannot_change(tiny_run, change, message):
    Trainer(tiny_run).fit()
    with pytest.raises(ConfigError, match=f"cannot change on resume: {message}"):
        Trainer(resume=tiny_run["output_dir"], epochs=2, **change)


def test_resume_with_no_epochs_left_says_so_and_writes_nothing(tiny_run):
    Trainer({**tiny_run, "epochs": 2}).fit()
    config = (RunFolder(tiny_run["output_dir"]).path / "config.yaml").read_text()
    for epochs in (1, 2):
        with pytest.raises(ConfigError, match=f"already trained 2 epochs, so epochs {epochs} leaves nothing to do"):
            Trainer(resume=tiny_run["output_dir"], epochs=epochs)
    assert (RunFolder(tiny_run["output_dir"]).path / "config.yaml").read_text() == config


def test_sigterm_mid_epoch_checkpoints_the_step_and_resume_is_exact(tiny_run, monkeypatch, tmp_path):
    whole = Trainer({**tiny_run, "epochs": 2, "output_dir": str(tmp_path / "whole")}).fit()
    monkeypatch.setattr(SSLModel, "forward", SSLModel.forward)
    _inject(monkeypatch, {4}, lambda: os.kill(os.getpid(), signal.SIGTERM))  # epoch 2, its second step
    with pytest.raises(KeyboardInterrupt):
        Trainer({**tiny_run, "epochs": 2}).fit()
    folder = RunFolder(tiny_run["output_dir"])
    assert folder.latest_checkpoint().name == "epoch-0001-step-000002"
    monkeypatch.undo()
    resumed = Trainer(resume=folder.path).fit()
    assert _equal(_tensors(resumed.output_dir), _tensors(whole.output_dir))
    strip = ("images_per_s", "epoch_time_s")
    assert [{k: v for k, v in r.items() if k not in strip} for r in resumed.history] == \
        [{k: v for k, v in r.items() if k not in strip} for r in whole.history]


def test_checkpoint_every_steps_adds_step_checkpoints(tiny_run):
    Trainer({**tiny_run, "epochs": 2, "checkpoint_every_steps": 2, "keep_checkpoints": 0}).fit()
    names = [p.name for p in sorted(RunFolder(tiny_run["output_dir"]).checkpoints.iterdir())]
    assert names == ["epoch-0000-step-000002", "epoch-0001", "epoch-0001-step-000001", "epoch-0002"]


def test_a_copied_run_folder_resumes_into_the_copy_from_any_directory(tiny_run, tmp_path, monkeypatch):
    Trainer(tiny_run).fit()
    copy = tmp_path / "elsewhere" / "copy"
    shutil.copytree(tiny_run["output_dir"], copy)
    monkeypatch.chdir(tmp_path / "elsewhere")
    Trainer(resume="copy", epochs=2).fit()
    assert len(RunFolder(copy).read_metrics()) == 2
    assert len(RunFolder(tiny_run["output_dir"]).read_metrics()) == 1


def test_resume_falls_back_past_a_corrupt_checkpoint_and_rewrites_a_deleted_config(tiny_run):
    Trainer({**tiny_run, "epochs": 2}).fit()
    folder = RunFolder(tiny_run["output_dir"])
    newest = folder.checkpoints / "epoch-0002" / "state.safetensors"
    newest.write_bytes(newest.read_bytes()[:100])  # truncated, as by a full disk
    (folder.path / "config.yaml").unlink()
    with pytest.warns(UserWarning, match="skipping checkpoint epoch-0002.*epoch-0001"):
        result = Trainer(resume=folder.path, epochs=3).fit()
    assert [row["epoch"] for row in result.history] == [1, 2, 3]
    assert (folder.path / "config.yaml").is_file()
