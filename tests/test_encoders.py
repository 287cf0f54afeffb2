"""Encoders: stems, feature sizes, torchvision key layout, and running variants (masks, BN sets)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ssl_core import BuildContext, create
from ssl_sdclr.variants import NormSet, pruned_weight_names, run_variant


@pytest.mark.parametrize("size, cifar", [(32, True), (64, True), (96, False)])
def test_cifar_stem_is_chosen_for_images_of_64_px_or_less(size, cifar):
    encoder = create("encoder", "resnet18", BuildContext(image_size=size))
    assert (encoder.conv1.kernel_size == (3, 3)) is cifar
    assert isinstance(encoder.maxpool, nn.Identity) is cifar
    assert encoder(torch.randn(2, 3, size, size)).shape == (2, 512)


def test_stem_choice_can_be_overridden_and_resnet50_has_2048_features():
    encoder = create("encoder", "resnet50", BuildContext(image_size=32), cifar_stem=False)
    assert encoder.conv1.kernel_size == (7, 7) and encoder.feature_dim == 2048


def test_small_resnet_feature_dim_and_keys_follow_torchvision():
    encoder = create("encoder", "small-resnet", BuildContext(image_size=32), widths=(8, 8, 16, 16))
    assert encoder(torch.randn(2, 3, 32, 32)).shape == (2, 16)
    keys = set(encoder.state_dict())
    assert {"conv1.weight", "bn1.running_mean", "layer1.0.conv1.weight", "layer4.0.downsample.0.weight"} <= keys
    assert not any(k.startswith("fc.") for k in keys)


def _tiny():
    torch.manual_seed(0)
    return create("encoder", "small-resnet", BuildContext(image_size=16), widths=(4, 4, 8, 8)).train()


def test_masked_variant_ignores_masked_weights_but_leaves_them_stored():
    encoder = _tiny()
    names = pruned_weight_names(encoder)
    assert "conv1.weight" in names and "layer2.0.downsample.0.weight" in names
    params = dict(encoder.named_parameters())
    masks = {n: (torch.rand_like(params[n]) > 0.5).float() for n in names}
    stored = {n: params[n].detach().clone() for n in names}
    x = torch.randn(4, 3, 16, 16)
    out = run_variant(encoder, x, masks=masks)
    out.pow(2).sum().backward()
    for n in names:
        assert torch.equal(params[n].detach(), stored[n])  # never zeroed
        assert (params[n].grad[masks[n] == 0] == 0).all()  # masked weights get no gradient from the variant
    # changing a masked-out weight changes the dense forward but not the variant's
    encoder.eval()
    variant_before, dense_before = run_variant(encoder, x, masks=masks), encoder(x)
    with torch.no_grad():
        params["conv1.weight"][masks["conv1.weight"] == 0] += 5.0
    torch.testing.assert_close(run_variant(encoder, x, masks=masks), variant_before)
    assert not torch.allclose(encoder(x), dense_before)


def test_bn_sets_are_isolated():
    encoder = _tiny()
    bn_set = NormSet(encoder)
    dense_before = {k: v.clone() for k, v in encoder.state_dict().items() if "running" in k}
    copy_before = {k: v.clone() for k, v in bn_set.state_dict().items() if "running" in k}
    run_variant(encoder, torch.randn(4, 3, 16, 16) + 3.0, bn_set=bn_set)
    assert all(torch.equal(encoder.state_dict()[k], v) for k, v in dense_before.items())  # dense untouched
    assert not all(torch.equal(bn_set.state_dict()[k], v) for k, v in copy_before.items())  # the copy moved
    copy_after = {k: v.clone() for k, v in bn_set.state_dict().items() if "running" in k}
    encoder(torch.randn(4, 3, 16, 16))
    assert all(torch.equal(bn_set.state_dict()[k], v) for k, v in copy_after.items())  # and vice versa
    assert len(bn_set.paths) == sum(isinstance(m, nn.BatchNorm2d) for m in encoder.modules())


@pytest.mark.parametrize("arch", ["resnet18", "resnet50"])
def test_the_cifar_stem_gets_the_kaiming_fan_out_init_of_every_other_conv(arch):
    torch.manual_seed(0)
    stem = create("encoder", arch, BuildContext(image_size=32)).conv1.weight
    fan_out = stem.shape[0] * stem.shape[2] * stem.shape[3]  # 64 x 3 x 3
    expected = (2 / fan_out) ** 0.5  # kaiming normal, fan_out, relu: about 0.059 (PyTorch's default: about 0.11)
    assert stem.std().item() == pytest.approx(expected, rel=0.1)
