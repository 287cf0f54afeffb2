"""ssl export and load_encoder, offline: the exported folder, its card, and loading it back."""

from __future__ import annotations

import json
import re
import shutil

import pytest
import torch
import torchvision
import yaml
from click.testing import CliRunner
from huggingface_hub import ModelCard
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ssl_core import BuildContext, ConfigError, RunFolderError, hookimpl, load_encoder, registry
from ssl_core.cli import cli
from ssl_core.model_card import methods
from ssl_core.evaluation.protocols import evaluate_run
from ssl_core.sharing import export, public_config
from ssl_core.training.trainer import Trainer

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One epoch of SimCLR on 500 tiny shapes images, with the k-NN monitor and ssl eval --protocol knn."""
    out = tmp_path_factory.mktemp("export") / "run"
    Trainer(branch="simclr", encoder="small-resnet", epochs=1, batch_size=32, output_dir=str(out), device="cpu",
            sets=["encoder.widths=[8, 8, 16, 16]", "dataset.num_train=500", "dataset.num_test=40",
                  "dataset.image_size=16"]).fit()
    evaluate_run(out, "knn", "cpu")
    return out


@pytest.fixture(scope="module")
def exported(run_dir):
    return export(run_dir, run_dir.parent / "shared")


def test_the_run_encoder_and_the_export_carry_format_pt(run_dir, exported):
    for path in (run_dir / "encoder.safetensors", exported / "model.safetensors"):
        with safe_open(str(path), "pt") as handle:
            meta = handle.metadata()
        assert meta["format"] == "pt" and meta["encoder"] == "small-resnet", path
        assert json.loads(meta["options"])["widths"] == [8, 8, 16, 16]


def test_export_then_load_gives_the_same_outputs_with_strict_keys(run_dir, exported):
    expected = load_file(str(run_dir / "encoder.safetensors"))
    encoder = load_encoder(exported)
    assert set(encoder.state_dict()) == set(expected) == set(load_file(str(exported / "model.safetensors")))
    x = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    reference = load_encoder(run_dir)  # a run folder loads too
    with torch.no_grad():
        assert torch.equal(encoder(x), reference(x))
    assert not encoder.training


def test_config_json_rebuilds_the_encoder(exported):
    config = json.loads((exported / "config.json").read_text())
    assert config["encoder"] == "small-resnet" and config["feature_dim"] == 16
    assert (config["image_size"], config["channels"]) == (16, 3)
    assert config["mean"] == [0.485, 0.456, 0.406] and config["ssl_core_version"]
    assert config["torchvision_model"] is None  # one block per stage: no torchvision architecture


def test_the_card_parses_with_the_metrics_and_their_protocol(exported):
    card = ModelCard.load(exported / "README.md")
    data = card.data
    assert data.library_name == "ssl-core" and data.pipeline_tag == "image-feature-extraction"
    assert data.license == "apache-2.0" and "simclr" in data.tags
    protocols = {r.metric_name.split()[0]: r for r in data.eval_results}
    assert set(protocols) == {"knn", "knn-monitor"}
    knn = json.loads((exported / "eval-knn.json").read_text())
    assert protocols["knn"].metric_value == round(100 * knn["rows"]["knn"]["top1"], 2)
    assert "k 200, T 0.1" in protocols["knn"].metric_config and "k 200, T 0.1" in protocols["knn-monitor"].metric_config
    assert "A Simple Framework for Contrastive Learning" in card.text
    assert "| protocol | row | metric | value | how it was measured |" in card.text
    assert "run" not in knn  # the run's local path is not published


def test_the_usage_snippet_runs(exported, monkeypatch):
    code = re.search(r"```python\n(.*?)```", ModelCard.load(exported / "README.md").text, re.S)[1]
    monkeypatch.chdir(exported.parent)  # the snippet names the folder as a relative path
    exec(compile(code, "card-snippet", "exec"), {})


def test_run_config_has_no_absolute_path(run_dir, exported):
    text = (exported / "run_config.yaml").read_text()
    assert str(run_dir) not in text and str(run_dir.parent) not in text
    assert yaml.safe_load(text)["output_dir"] == "."
    assert sorted(p.name for p in exported.iterdir()) == [
        "README.md", "config.json", "eval-knn.json", "metrics.jsonl", "model.safetensors", "run_config.yaml",
        "summary.json"]


def test_public_config_makes_paths_relative_or_removes_them(tmp_path):
    config = {"output_dir": str(tmp_path), "dataset": "/home/someone/data/cifar", "init_from": "user/repo",
              "options": {"dataset": {"hf": {"path": "/home/someone/data/cifar"}}, "x": [str(tmp_path / "a")]}}
    clean, removed = public_config(config, tmp_path)
    assert clean == {"output_dir": ".", "dataset": None, "init_from": "user/repo",
                     "options": {"dataset": {"hf": {"path": None}}, "x": ["a"]}}
    assert removed == ["dataset", "options.dataset.hf.path"]


def test_an_existing_folder_is_refused_without_overwrite(run_dir, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunFolderError, match="not empty; give --overwrite"):
        export(run_dir, tmp_path)
    with pytest.raises(RunFolderError, match="holds no ssl export"):
        export(run_dir, tmp_path, overwrite=True)
    out = export(run_dir, tmp_path / "out")
    assert export(run_dir, out, overwrite=True, include_checkpoints=True) == out
    meta = json.loads(next((out / "checkpoints").glob("*/state.json")).read_text())
    assert str(run_dir) not in json.dumps(meta)


def test_a_pickle_or_a_missing_safetensors_is_refused(exported, tmp_path):
    torch.save({"w": torch.zeros(1)}, tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text((exported / "config.json").read_text())
    with pytest.raises(RunFolderError, match="has no model.safetensors.*pytorch_model.bin, a pickle, which ssl-core "
                                             "never loads"):
        load_encoder(tmp_path)
    with pytest.raises(RunFolderError, match="is a pickle; give the folder"):
        load_encoder(tmp_path / "pytorch_model.bin")
    save_file({"conv1.weight": torch.zeros(1)}, str(tmp_path / "model.safetensors"))
    with pytest.raises(RunFolderError, match="does not fit encoder 'small-resnet'"):
        load_encoder(tmp_path)


def test_an_imagenet_stem_resnet18_loads_into_torchvision_strictly(tmp_path):
    run = tmp_path / "run"
    Trainer(branch="simclr", encoder="resnet18", epochs=1, batch_size=8, output_dir=str(run), device="cpu",
            no_callback=["knn-monitor"], sets=["encoder.cifar_stem=false", "dataset.num_train=16",
                                               "dataset.num_test=10", "dataset.image_size=16"]).fit()
    out = export(run, tmp_path / "out")
    assert json.loads((out / "config.json").read_text())["torchvision_model"] == "resnet18"
    model = torchvision.models.resnet18()
    model.fc = torch.nn.Identity()
    model.load_state_dict(load_file(str(out / "model.safetensors")), strict=True)
    assert "torchvision.models.resnet18()" in (out / "README.md").read_text()


def test_ssl_eval_scores_an_exported_folder(exported):
    result = CliRunner().invoke(cli, ["eval", str(exported), "--protocol", "knn", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert (exported / "eval-knn.json").is_file()


def test_ssl_eval_on_an_export_without_its_local_dataset_says_why(exported, tmp_path):
    copy = tmp_path / "export"
    shutil.copytree(exported, copy)
    config = yaml.safe_load((copy / "run_config.yaml").read_text())
    (copy / "run_config.yaml").write_text(yaml.safe_dump({**config, "dataset": None}))  # as for a local path
    result = CliRunner().invoke(cli, ["eval", str(copy), "--protocol", "knn", "--device", "cpu"])
    assert result.exit_code != 0 and "exported from a run on a local path" in str(result.exception)


def _init_from_trainer(exported, tmp_path, encoder: str, widths: str) -> Trainer:
    """A trainer with ``init_from`` whose components are built (as fit builds them), not trained."""
    trainer = Trainer(branch="simclr", encoder=encoder, epochs=1, batch_size=32, init_from=str(exported),
                      output_dir=str(tmp_path / "run"), device="cpu", no_callback=["knn-monitor"],
                      sets=[*([f"encoder.widths={widths}"] if widths else []), "dataset.num_train=64",
                            "dataset.num_test=10", "dataset.image_size=16"])
    trainer._build_components(trainer._create("dataset", "shapes", BuildContext()), steps_per_epoch=2)
    return trainer


def test_ssl_run_init_from_starts_from_the_shared_weights(exported, tmp_path):
    trainer = _init_from_trainer(exported, tmp_path, "small-resnet", "[8, 8, 16, 16]")
    shared = load_file(str(exported / "model.safetensors"))
    assert all(torch.equal(v, shared[k]) for k, v in trainer.branch.encoder.state_dict().items())
    with pytest.raises(ConfigError, match="do not fit this run's encoder 'small-resnet'"):
        _init_from_trainer(exported, tmp_path, "small-resnet", "[8, 8, 16, 32]")


class _PaperPlugin:
    @hookimpl
    def register_branches(self, register) -> None:
        register("papered-branch", lambda config, context: None, description="a test branch",
                 paper="A Paper Nobody Wrote (Doe, 2031)")


def test_the_card_cites_the_paper_each_plugin_registered(add_plugin):
    """A third-party branch's ``paper=`` is cited (core holds no table of names); without one: '-'."""
    add_plugin(_PaperPlugin(), "paper-test")
    rows = methods({"branch": "papered-branch", "regularizer": ["uniformity", "not-installed"]})
    out = CliRunner().invoke(cli, ["describe", "branch", "papered-branch"]).output
    assert rows == [("branch", "papered-branch", "a test branch", "A Paper Nobody Wrote (Doe, 2031)"),
                    ("regularizer", "uniformity", registry.spec("regularizer", "uniformity").description,
                     "Understanding Contrastive Representation Learning through Alignment and Uniformity on the "
                     "Hypersphere (Wang and Isola, ICML 2020)"),
                    ("regularizer", "not-installed", "(plugin not installed here)", "-")]
    assert "paper: A Paper Nobody Wrote (Doe, 2031)" in out
