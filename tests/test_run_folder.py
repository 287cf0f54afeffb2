"""The run folder: checkpoint order, checksums, temporaries, clearing a run, strict JSON."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from ssl_core.errors import RunFolderError
from ssl_core.run_folder import STATE_META, STATE_TENSORS, RunFolder, load_checkpoint


def _save(folder: RunFolder, epoch: int, keep: int = 0, **step: int):
    return folder.save_checkpoint(epoch, {"x": torch.full((64,), float(epoch))}, {"epoch": epoch}, keep=keep, **step)


def _names(folder: RunFolder) -> list[str]:
    return sorted(p.name for p in folder.checkpoints.iterdir())


def test_checkpoints_order_by_number_beyond_four_digits(tmp_path):
    folder = RunFolder(tmp_path)
    _save(folder, 9999, keep=1)
    written = _save(folder, 10000, keep=1)
    assert _names(folder) == ["epoch-10000"]
    assert folder.latest_checkpoint() == written


def test_step_checkpoints_order_by_epoch_then_step_and_prune_in_that_order(tmp_path):
    folder = RunFolder(tmp_path)
    for epoch, step in [(2, 0), (2, 5), (2, 999999), (2, 1000000), (3, 0)]:
        _save(folder, epoch, keep=3, step=step)
    assert _names(folder) == ["epoch-0002-step-1000000", "epoch-0002-step-999999", "epoch-0003"]
    assert folder.latest_checkpoint().name == "epoch-0003"
    written = _save(folder, 3, step=7)
    assert written.name == "epoch-0003-step-000007" and folder.latest_checkpoint() == written
    tensors, meta = load_checkpoint(written)
    assert meta["epoch"] == 3 and torch.equal(tensors["x"], torch.full((64,), 3.0))


def test_pruning_never_removes_the_checkpoint_just_written(tmp_path):
    folder = RunFolder(tmp_path)
    _save(folder, 5)
    _save(folder, 3, keep=1)
    assert _names(folder) == ["epoch-0003", "epoch-0005"]


def test_a_negative_step_is_refused(tmp_path):
    with pytest.raises(ValueError, match="step -1"):
        _save(RunFolder(tmp_path), 1, step=-1)


def _flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["flip", "truncate", "bad-json"])
def test_a_damaged_newest_checkpoint_falls_back_to_the_previous_one_with_a_warning(tmp_path, damage):
    folder = RunFolder(tmp_path)
    good, bad = _save(folder, 1), _save(folder, 2)
    if damage == "flip":
        _flip_last_byte(bad / STATE_TENSORS)
    elif damage == "truncate":
        (bad / STATE_TENSORS).write_bytes((bad / STATE_TENSORS).read_bytes()[:-10])
    else:
        (bad / STATE_META).write_text((bad / STATE_META).read_text()[:20])
    broken = STATE_META if damage == "bad-json" else STATE_TENSORS
    with pytest.raises(RunFolderError, match=f"epoch-0002/{broken}"):
        load_checkpoint(bad)
    with pytest.warns(UserWarning, match=f"skipping checkpoint epoch-0002 .*{broken}.*; using {good}"):
        assert folder.latest_checkpoint() == good
    assert load_checkpoint(good)[1]["epoch"] == 1


def test_no_checkpoint_that_verifies_is_an_error_naming_them(tmp_path):
    folder = RunFolder(tmp_path)
    _flip_last_byte(_save(folder, 1) / STATE_TENSORS)
    with pytest.raises(RunFolderError, match="no checkpoint in .* verifies: epoch-0001"):
        folder.latest_checkpoint()
    with pytest.raises(RunFolderError, match="verifies"):
        RunFolder(folder.checkpoints / "epoch-0001").latest_checkpoint()


def test_a_checkpoint_without_checksum_still_loads_and_a_newer_format_is_refused(tmp_path):
    folder = RunFolder(tmp_path)
    path = _save(folder, 1)
    meta = json.loads((path / STATE_META).read_text())
    assert len(meta.pop("sha256")) == 64
    (path / STATE_META).write_text(json.dumps({**meta, "format": 2}))
    _flip_last_byte(path / STATE_TENSORS)  # undetectable without a checksum
    assert load_checkpoint(path)[1]["epoch"] == 1
    (path / STATE_META).write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(RunFolderError, match="format 99, newer"), warnings.catch_warnings():
        warnings.simplefilter("error")
        folder.latest_checkpoint()


def test_remove_temporaries_removes_what_a_kill_left_and_restores_a_lone_old_checkpoint(tmp_path):
    folder = RunFolder(tmp_path)
    _save(folder, 1)
    ckpt = folder.checkpoints
    leftovers = [tmp_path / ".metrics.jsonl.tmp-123", ckpt / ".epoch-0002.tmp-123", ckpt / ".epoch-0001.old-123"]
    leftovers[0].write_text("{")
    for path in leftovers[1:]:
        path.mkdir()
        (path / STATE_META).write_text("{}")
    (ckpt / ".epoch-0004.old-77").mkdir()  # killed between moving it aside and renaming its replacement in
    (tmp_path / ".hidden").write_text("mine")
    (tmp_path / "bench.log").write_text("mine")
    assert sorted(folder.remove_temporaries()) == sorted(leftovers)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden", "bench.log", "checkpoints"]
    assert _names(folder) == ["epoch-0001", "epoch-0004"]


def test_holds_run_and_clear_run_keep_files_ssl_did_not_write(tmp_path):
    folder = RunFolder(tmp_path)
    (tmp_path / "bench.log").write_text("log")
    (tmp_path / "notes.json").write_text("{}")
    assert not folder.holds_run()
    _save(folder, 1)
    assert folder.holds_run()
    folder.write_config({"epochs": 1})
    folder.write_metrics([{"epoch": 1, "loss": 1.0}])
    folder.write_summary({"loss": 1.0})
    folder.write_json("class_counts.json", [1, 2])
    folder.write_json("eval-linear.json", {"top1": 0.5})
    folder.write_file("plots/curves.png", b"png")  # a plugin's picture: --overwrite must not keep it
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "keep.txt").write_text("mine")
    folder.write_file("mine/theirs.txt", "ssl's")
    folder.write_encoder({"w": torch.zeros(2)}, {})
    folder.file("eval-features.safetensors").write_bytes(b"")
    (tmp_path / "eval-knn.json").write_text("{}")  # written by an older version, which kept no list
    folder.clear_run()
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == [
        "bench.log", "mine", "mine/keep.txt", "notes.json"]
    assert not folder.holds_run()
    RunFolder(tmp_path / "absent").clear_run()


def test_non_finite_values_are_refused_naming_the_file_and_keys(tmp_path):
    folder = RunFolder(tmp_path)
    with pytest.raises(RunFolderError, match=r"metrics.jsonl: .* at \[1\].loss$"):
        folder.write_metrics([{"loss": 1.0}, {"loss": float("nan")}])
    with pytest.raises(RunFolderError, match=r"summary.json: .* at a.b\[1\], c$"):
        folder.write_summary({"a": {"b": [1.0, float("inf")]}, "c": -float("inf"), "d": "nan"})
    with pytest.raises(RunFolderError, match=f"{folder.checkpoints}/epoch-0001/{STATE_META}: .* at lr$"):
        folder.save_checkpoint(1, {"x": torch.zeros(1)}, {"lr": float("nan")})
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["checkpoints"]


def test_a_file_as_run_folder_fails_with_a_message_naming_it(tmp_path):
    path = tmp_path / "out"
    path.write_text("")
    for folder in (RunFolder(path), RunFolder(path / "run")):
        with pytest.raises(RunFolderError, match=f"output folder {path} is a file"):
            folder.check_writable()
        with pytest.raises(RunFolderError, match=f"output folder {path} is a file"):
            folder.write_config({})
        with pytest.raises(RunFolderError, match=f"output folder {path} is a file"):
            folder.clear_run()
    RunFolder(tmp_path / "new" / "run").check_writable()


def test_write_file_records_the_file_for_export_and_refuses_names_outside_the_folder(tmp_path):
    folder = RunFolder(tmp_path)
    folder.write_file("plots/tsne.png", b"\x89PNG")
    folder.write_json("eval-knn.json", {"top1": 0.5})
    folder.write_summary({"loss": 1.0})
    folder.write_json("plots/eval-data.json", {})  # a plugin's file, not an ssl eval result
    assert folder.written_files() == [tmp_path / "eval-knn.json", tmp_path / "plots" / "eval-data.json",
                                      tmp_path / "plots" / "tsne.png"]
    assert folder.eval_results() == {"knn": tmp_path / "eval-knn.json"}
    assert (tmp_path / "plots" / "tsne.png").read_bytes() == b"\x89PNG"
    leftover = tmp_path / "plots" / ".tsne.png.tmp-99"  # a write killed before its rename
    leftover.write_bytes(b"\x89")
    assert folder.remove_temporaries() == [leftover]
    for name in ("../outside.png", str(tmp_path / "abs.png"), ".ssl-files.json"):
        with pytest.raises(ValueError, match="not a file name inside the run folder"):
            folder.write_file(name, b"")
