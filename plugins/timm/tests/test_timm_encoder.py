"""The ``timm`` encoder: pooled features, patch sizes, refusals, lazy import and timm-loadable exports."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import timm
import torch
from click.testing import CliRunner
from safetensors.torch import load_file
from ssl_core import BuildContext, ComponentOptionError, HubError, create, load_encoder
from ssl_core.cli import cli
from ssl_core.training.trainer import Trainer


def _encoder(model: str, image_size: int = 16, **options) -> torch.nn.Module:
    return create("encoder", "timm", BuildContext(image_size=image_size), model=model, **options)


@pytest.mark.parametrize("model, size", [("test_resnet", 16), ("test_convnext", 32), ("test_vit", 16),
                                         ("mobilenetv3_small_050", 16)])
def test_forward_gives_pooled_features_of_feature_dim(model, size, one_thread):
    encoder = _encoder(model, size)
    assert encoder(torch.rand(2, 3, size, size)).shape == (2, encoder.feature_dim)
    assert type(encoder).__module__.startswith("timm.")  # the timm model itself: timm's key layout


def test_vits_get_patch_4_at_64_px_or_less_else_their_own_and_any_crop_size(one_thread):
    small, large = _encoder("test_vit", 16), _encoder("test_vit", 96)
    assert small.patch_embed.patch_size == (4, 4) and small.patch_embed.img_size == (16, 16)
    assert large.patch_embed.patch_size == (16, 16) and large.patch_embed.img_size == (96, 96)
    assert _encoder("test_vit", 16, patch_size=8).patch_embed.patch_size == (8, 8)
    assert small(torch.rand(2, 3, 9, 9)).shape == (2, 64)  # a local crop: padded, position embeddings resampled


def test_kwargs_reach_timm(one_thread):
    encoder = _encoder("vit_tiny_patch16_224", 16, kwargs={"depth": 2})
    assert len(encoder.blocks) == 2 and encoder.feature_dim == 192
    assert encoder.timm_arguments["depth"] == 2


@pytest.mark.parametrize("options, message", [
    ({"model": "vit_tiny_patch16"}, "close matches: vit_tiny_patch16_384, vit_tiny_patch16_224"),
    ({"model": "resnet18", "patch_size": 8}, "takes no patch_size"),
    ({"model": "resnet18", "kwargs": {"depth": 2}}, "kwargs 'depth' is not an argument of timm model 'resnet18'"),
    ({"model": "resnet18", "kwargs": {"num_classes": 10}}, "kwargs may not set num_classes"),
    ({"model": "test_vit4", "pretrained": True}, "has no pretrained weights"),
])
def test_bad_options_are_refused_naming_the_value(options, message):
    with pytest.raises(ComponentOptionError, match=message):
        create("encoder", "timm", BuildContext(image_size=16), **options)


def test_pretrained_offline_is_a_clear_error(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))  # an empty cache
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    with pytest.raises(HubError, match="pretrained weights of 'test_resnet' could not be loaded.*pretrained: false"):
        _encoder("test_resnet", pretrained=True)


def test_loading_the_plugin_does_not_import_timm():
    code = "import sys, ssl_core; assert 'timm' in ssl_core.available('encoder'); assert 'timm' not in sys.modules"
    env = {**os.environ, "SSL_LOAD_PLUGINS": "ssl-timm"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


def test_an_exported_encoder_loads_into_timm_create_model_strictly(tmp_path, one_thread):
    options = {"encoder": {"timm": {"model": "test_vit"}},
               "dataset": {"shapes": {"num_train": 32, "num_test": 16, "image_size": 16}},
               "branch": {"simclr": {"hidden_dim": 16, "out_dim": 8}}}
    run = Trainer({"branch": "simclr", "encoder": "timm", "epochs": 1, "batch_size": 16, "device": "cpu",
                   "no_callback": ["knn-monitor"], "output_dir": str(tmp_path / "run"), "options": options}).fit()
    result = CliRunner().invoke(cli, ["export", str(run.output_dir), str(tmp_path / "export")])
    assert result.exit_code == 0, result.output
    model = timm.create_model("test_vit", num_classes=0, img_size=16, patch_size=4)
    model.load_state_dict(load_file(str(tmp_path / "export" / "model.safetensors")), strict=True)
    loaded = load_encoder(tmp_path / "export")
    images = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(images), loaded(images))
