"""ResNet encoders: torchvision's ResNet-18/34/50 and a small ResNet for fast CPU runs.

Every encoder returns pooled features ``(B, feature_dim)`` and keeps torchvision's key
layout (``conv1``, ``bn1``, ``layer1.0.conv1``, ...) with ``fc`` replaced by ``Identity``, so
``encoder.safetensors`` loads with ``strict=True`` into the matching torchvision model built
by [`torchvision_resnet`][ssl_core.encoders.resnet.torchvision_resnet].
"""

from __future__ import annotations

import attrs
import torchvision
from attrs import validators as v
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from ssl_core.context import BuildContext
from ssl_core.options import option

#: images of this side or less get the CIFAR stem by default.
CIFAR_STEM_MAX_SIZE = 64


@attrs.define
class ResNetConfig:
    """Options of the torchvision ResNets."""

    cifar_stem: bool | None = option(
        None, "3x3 stride-1 first conv and no max-pool; None: automatic (images of 64 px or less)",
        validator=v.optional(v.instance_of(bool)),
    )
    zero_init_residual: bool = option(False, "zero-initialise the last BN of each residual block")


@attrs.define
class SmallResNetConfig:
    """Options of the small ResNet (one BasicBlock per stage, 3x3 stem, no max-pool)."""

    widths: tuple = option((32, 64, 128, 256), "channels of the four stages",
                           converter=tuple, validator=v.deep_iterable(v.and_(v.instance_of(int), v.gt(0))))
    stem_stride: int = option(2, "stride of the 3x3 stem conv (1: full resolution, about 4x slower)",
                              validator=v.in_((1, 2)))


def _use_cifar_stem(choice: bool | None, image_size: int) -> bool:
    return image_size <= CIFAR_STEM_MAX_SIZE if choice is None else choice


def _finish(model: ResNet, channels: int, cifar_stem: bool) -> ResNet:
    """Apply the stem choice, drop the classifier and record ``feature_dim``.

    A replaced stem gets the kaiming-normal fan_out init torchvision gives every other conv."""
    width = model.conv1.out_channels
    if cifar_stem:
        model.conv1 = nn.Conv2d(channels, width, kernel_size=3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif channels != 3:
        model.conv1 = nn.Conv2d(channels, width, kernel_size=7, stride=2, padding=3, bias=False)
    if cifar_stem or channels != 3:
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
    model.feature_dim = model.fc.in_features
    model.fc = nn.Identity()
    return model


def torchvision_resnet(arch: str, cifar_stem: bool, channels: int = 3) -> ResNet:
    """A torchvision ResNet (``resnet18``, ``resnet34``, ``resnet50``) as an encoder."""
    model = getattr(torchvision.models, arch)(weights=None)
    return _finish(model, channels, cifar_stem)


def resnet_factory(arch: str):
    """The registry factory for one torchvision architecture."""

    def build(config: ResNetConfig, context: BuildContext) -> ResNet:
        model = getattr(torchvision.models, arch)(weights=None, zero_init_residual=config.zero_init_residual)
        return _finish(model, context.channels, _use_cifar_stem(config.cifar_stem, context.image_size))

    build.__doc__ = f"torchvision {arch} (CIFAR stem for images of 64 px or less)."
    return build


class SmallResNet(ResNet):
    """A ResNet with one BasicBlock per stage, narrow widths and a 3x3 stem without max-pool.

    Built for small images on a CPU: with the default stride-2 stem a 32 px image is seen at
    16, 8, 4 and 2 px by the four stages. Keys follow torchvision's ResNet layout.
    """

    def __init__(self, widths: tuple[int, int, int, int], stem_stride: int = 2, channels: int = 3) -> None:
        super().__init__(BasicBlock, [1, 1, 1, 1])
        self.inplanes = widths[0]
        self.conv1 = nn.Conv2d(channels, widths[0], kernel_size=3, stride=stem_stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.maxpool = nn.Identity()
        self.layer1 = self._make_layer(BasicBlock, widths[0], 1)
        self.layer2 = self._make_layer(BasicBlock, widths[1], 1, stride=2)
        self.layer3 = self._make_layer(BasicBlock, widths[2], 1, stride=2)
        self.layer4 = self._make_layer(BasicBlock, widths[3], 1, stride=2)
        self.feature_dim = widths[3]
        self.fc = nn.Identity()
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")


def small_resnet(config: SmallResNetConfig, context: BuildContext) -> SmallResNet:
    """Small ResNet (one block per stage, widths 32-256, stride-2 3x3 stem): fast CPU runs."""
    return SmallResNet(config.widths, config.stem_stride, context.channels)
