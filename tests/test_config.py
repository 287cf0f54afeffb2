"""Run configuration: precedence, files, --set, and errors that name the bad value."""

from __future__ import annotations

import attrs
import pytest
import yaml

from ssl_core import IncompatibleComponentsError
from ssl_core.config import ConfigError, RunConfig, apply_set, resolve
from ssl_core import ComponentOptionError, UnknownComponentError
from ssl_core.training.trainer import Trainer


def test_branch_defaults_fill_views_loss_and_options():
    config = resolve({"branch": "simclr"})
    assert (config.views, config.loss) == ("simclr", "nt-xent")
    assert config.options["loss"]["nt-xent"].temperature == 0.2
    # every selected component's options are written out in full
    assert config.options["encoder"]["small-resnet"].widths == (32, 64, 128, 256)
    assert set(config.options["callback"]) == {"knn-monitor"} and config.callback == ["knn-monitor"]
    assert (config.checkpoint_every, config.keep_checkpoints) == (1, 2)


def test_precedence_file_then_flags_then_set(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump({"epochs": 3, "lr": 0.5, "options": {"loss": {"nt-xent": {"temperature": 0.3}}}}))
    trainer = Trainer(str(path), lr=0.1, sets=["loss.temperature=0.05"])
    assert trainer.config.epochs == 3
    assert trainer.config.lr == 0.1
    assert trainer.config.options["loss"]["nt-xent"].temperature == 0.05


def test_toml_file_with_the_same_fields(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('branch = "simclr"\nepochs = 4\nregularizer = ["uniformity"]\n'
                    '[options.regularizer.uniformity]\nweight = 0.3\n')
    config = Trainer(str(path)).config
    assert config.epochs == 4 and config.regularizer == ["uniformity"]
    assert attrs.asdict(config.options["regularizer"]["uniformity"]) == {"weight": 0.3, "t": 2.0}


def test_set_with_kind_name_option_and_kind_option():
    raw = {"branch": "simclr", "regularizer": ["uniformity"]}
    assert apply_set(raw, "regularizer.weight=0.7")["options"]["regularizer"]["uniformity"]["weight"] == 0.7
    both = apply_set(raw, "callback.knn-monitor.k=5")
    assert both["options"]["callback"]["knn-monitor"]["k"] == 5
    config = resolve({"branch": "simclr"}, ["encoder.widths=[8, 8, 16, 16]", "dataset.num_train=500"])
    assert config.options["encoder"]["small-resnet"].widths == (8, 8, 16, 16)
    assert config.options["dataset"]["shapes"].num_train == 500


def test_set_errors_say_what_to_write():
    with pytest.raises(ConfigError, match="2 regularizer components are selected.*regularizer.NAME.weight"):
        resolve({"regularizer": ["uniformity", "icl-msr"]}, ["regularizer.weight=2"])
    with pytest.raises(ConfigError, match="run.FIELD=VALUE"):
        resolve({}, ["run.a.b=2"])
    with pytest.raises(ConfigError, match="unknown config field.*epoch\\b.*valid fields"):
        resolve({}, ["run.epoch=2"])
    with pytest.raises(ConfigError, match="unknown kind 'optimizer'"):
        resolve({}, ["optimizer.lr=1"])
    with pytest.raises(ConfigError, match="expected KIND.OPTION=VALUE"):
        resolve({}, ["temperature"])


def test_every_run_field_can_be_set_with_set_run_field():
    config = resolve({"epochs": 3}, ["run.epochs=5", "run.checkpoint_every=2", "run.optimizer=lars", "run.lr=0.7"])
    assert (config.epochs, config.checkpoint_every, config.optimizer, config.lr) == (5, 2, "lars", 0.7)
    # run.branch changes the branch and so the defaults it brings
    assert resolve({}, ["run.branch=byol"]).loss == "normalized-mse"


def test_ssl_no_callback_leaves_defaults_out_unless_asked_for(monkeypatch):
    monkeypatch.setenv("SSL_NO_CALLBACK", "plots,knn-monitor,not-installed")
    assert resolve({}).callback == []  # a name that is not installed is ignored
    assert resolve({"callback": ["knn-monitor"]}).callback == ["knn-monitor"]  # asked for: kept
    monkeypatch.setenv("SSL_NO_CALLBACK", "plots")
    assert resolve({}).callback == ["knn-monitor"]
    monkeypatch.setenv("SSL_NO_CALLBACK", "")
    assert "plots" in resolve({}).callback  # ssl-plots' default callback, back without the variable


def test_callbacks_are_the_defaults_plus_callback_minus_no_callback():
    assert resolve({}).callback == ["knn-monitor"]
    assert resolve({"no_callback": ["knn-monitor"]}).callback == []
    config = resolve({"no_callback": "knn-monitor"})
    assert config.callback == [] and "knn-monitor" not in config.options.get("callback", {})
    with pytest.raises(UnknownComponentError, match="unknown callback 'nope'.*knn-monitor"):
        resolve({"no_callback": ["nope"]})


def test_checkpoint_is_no_longer_a_callback_and_the_message_says_what_replaced_it():
    with pytest.raises(ConfigError, match="no longer a callback.*checkpoint_every.*keep_checkpoints"):
        resolve({"callback": ["checkpoint"]})


def test_unknown_fields_names_and_options_are_errors_listing_valid_ones():
    with pytest.raises(ConfigError, match="unknown config field.*epoch\\b.*valid fields:.*epochs"):
        resolve({"epoch": 3})
    with pytest.raises(UnknownComponentError, match="unknown branch 'nope'; installed:.*simclr"):
        resolve({"branch": "nope"})
    with pytest.raises(UnknownComponentError, match="unknown encoder 'resnet19'.*resnet18"):
        resolve({"encoder": "resnet19"})
    with pytest.raises(ComponentOptionError, match="unknown option.*tau.*valid options: temperature, gather"):
        resolve({}, ["loss.tau=1"])
    with pytest.raises(ConfigError, match="options given for regularizer 'uniformity', which this run does not select"):
        resolve({"options": {"regularizer": {"uniformity": {"weight": 1.0}}}})
    with pytest.raises(ConfigError, match="optimizer.*'rmsprop'"):
        resolve({"optimizer": "rmsprop"})


def test_incompatible_loss_is_refused_with_the_reason(tiny_run):
    tiny_run["loss"] = "neg-cosine"
    with pytest.raises(IncompatibleComponentsError, match=r"'neg-cosine' takes 'prediction-target'.*fit: .*\bnt-xent\b"):
        Trainer(tiny_run).fit()


def test_default_config_is_valid():
    assert RunConfig().branch == "simclr"


def test_a_local_dataset_path_is_stored_absolute(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    config = resolve({"dataset": "./data"})
    assert config.dataset == str(tmp_path / "data") == config.options["dataset"]["hf"].path
    assert resolve({"dataset": "owner/hub-name"}).dataset == "owner/hub-name"  # a Hub name is left as it is
    assert resolve({"dataset": "hf"}, ["dataset.path=data"]).options["dataset"]["hf"].path == str(tmp_path / "data")


def test_option_types_and_ranges_are_checked_by_name():
    with pytest.raises(ConfigError, match="epochs must be an integer, got 'one'"):
        resolve({"epochs": "one"})
    with pytest.raises(ConfigError, match="lr: could not convert"):
        resolve({"lr": "fast"})
    with pytest.raises(ConfigError, match="batch_size 1 is out of range.*valid: 2 or more"):
        resolve({"batch_size": 1})
    assert resolve({"lr": 1, "seed": 2**32 - 1}).lr == 1.0
