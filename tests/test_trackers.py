"""Experiment trackers through Accelerate: tensorboard read back offline, names checked, resume continues."""

from __future__ import annotations

import json

import pytest
from ssl_core.errors import ConfigError
from ssl_core.training.tracking import hyperparameters
from ssl_core.training.trainer import Trainer

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def _scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar of the run's tensorboard logs: tag -> [(step, value)] in step order."""
    found: dict[str, list[tuple[int, float]]] = {}
    for events in sorted((run_dir / "trackers").rglob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events), size_guidance={"scalars": 0})
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            found.setdefault(tag, []).extend((e.step, e.value) for e in acc.Scalars(tag))
    return {tag: sorted(values) for tag, values in found.items()}


def test_tensorboard_gets_every_epoch_metric_and_step_logs_every_n_steps(tiny_run):
    # 3 steps per epoch (the shapes train split of 128 images leaves 96+ for training, batch 32, drop_last);
    # log_every_steps 2 logs the epoch's steps 0 and 2, which is also the last
    run = {**tiny_run, "epochs": 2, "log_with": ["tensorboard"], "log_every_steps": 2, "no_callback": []}
    result = Trainer(run).fit()
    scalars = _scalars(result.output_dir)
    history = [json.loads(line) for line in (result.output_dir / "metrics.jsonl").read_text().splitlines()]
    for field in ("loss", "lr", "images_per_s", "epoch_time_s", "knn_top1", "epoch"):
        assert [v for _, v in scalars[f"epoch/{field}"]] == pytest.approx([row[field] for row in history], rel=1e-6)
    assert [s for s, _ in scalars["epoch/loss"]] == [3, 6]  # logged at the global step each epoch ends on
    assert [s for s, _ in scalars["train/loss"]] == [1, 3, 4, 6]  # after steps 0 and 2 of each epoch
    assert {"train/lr", "train/images_per_s"} <= set(scalars)


def test_the_resolved_configuration_is_logged_as_flat_hyperparameters(tiny_run):
    result = Trainer({**tiny_run, "log_with": ["tensorboard"]}).fit()
    written = list((result.output_dir / "trackers").rglob("hparams.yml"))
    assert len(written) == 1
    import yaml

    hparams = yaml.safe_load(written[0].read_text())
    assert hparams["branch"] == "simclr" and hparams["batch_size"] == 32
    assert hparams["options.encoder.small-resnet.widths"] == "[8, 8, 16, 16]"
    assert hparams["log_with"] == "['tensorboard']"


def test_hyperparameters_flatten_nested_options_to_scalars():
    flat = hyperparameters({"a": 1, "b": {"c": {"d": 0.5}, "e": None}, "f": [1, 2], "g": True})
    assert flat == {"a": 1, "b.c.d": 0.5, "b.e": "None", "f": "[1, 2]", "g": True}


def test_a_resumed_run_continues_the_same_tensorboard_folder(tiny_run):
    Trainer({**tiny_run, "log_with": ["tensorboard"]}).fit()
    result = Trainer(resume=tiny_run["output_dir"], epochs=2).fit()
    steps = [s for s, _ in _scalars(result.output_dir)["epoch/loss"]]
    assert steps == [3, 6]  # one series, the second epoch after the first


def test_overwrite_removes_the_tracker_logs(tiny_run):
    Trainer({**tiny_run, "log_with": ["tensorboard"]}).fit()
    result = Trainer({**tiny_run, "log_with": ["tensorboard"]}, overwrite=True).fit()
    assert [s for s, _ in _scalars(result.output_dir)["epoch/loss"]] == [3]


def test_an_unknown_tracker_is_refused_with_the_valid_names(tiny_run):
    with pytest.raises(ConfigError, match=r"unknown tracker; valid: .*tensorboard.*wandb"):
        Trainer({**tiny_run, "log_with": ["tensorbord"]}).fit()


def test_a_tracker_whose_package_is_missing_says_what_to_install(tiny_run, monkeypatch):
    import accelerate.tracking

    monkeypatch.setattr(accelerate.tracking, "get_available_trackers", list)
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(ConfigError, match="pip install wandb"):
        Trainer({**tiny_run, "log_with": ["wandb"]}).fit()
