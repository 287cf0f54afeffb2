"""The ``simclr`` view generator: the augmentation pipeline of SimCLR (Chen et al., 2020)."""

from __future__ import annotations

from typing import Any

import attrs
import torch
from attrs import converters, validators
from ssl_core.components import BuildContext, ViewGenerator
from ssl_core.options import one_of, option, pair, positive, probability

from ssl_augment.ops import blur_kernel_size, color_jitter, random_gaussian_blur, random_grayscale, random_resized_crop

#: images of at most this side get the small-image defaults (CIFAR, STL at 64 px, ...).
SMALL_IMAGE = 64


def _jitter_strengths(value: Any) -> tuple[float, float, float, float]:
    """Convert to the four jitter strengths (brightness, contrast, saturation, hue)."""
    items = tuple(float(x) for x in value)
    if len(items) != 4:
        raise ValueError(f"expected four jitter strengths (brightness, contrast, saturation, hue), got {value!r}")
    return items  # type: ignore[return-value]


def _check_jitter(instance: Any, attribute: attrs.Attribute, value: tuple[float, ...]) -> None:
    if min(value) < 0 or value[3] > 0.5:
        raise ValueError(f"'{attribute.name}' strengths must be >= 0 with a hue <= 0.5, got {value!r}")


def _check_scale(instance: Any, attribute: attrs.Attribute, value: tuple[float, float] | None) -> None:
    if value is not None and not 0 < value[0] <= value[1] <= 1:
        raise ValueError(f"'{attribute.name}' must satisfy 0 < low <= high <= 1, got {value!r}")


_count = validators.and_(validators.instance_of(int), positive)


@attrs.define
class SimCLRViewsConfig:
    """Options of the ``simclr`` views; the ``None`` defaults depend on the training image size."""

    num_views: int = option(2, "views per image", validator=_count)
    size: int | None = option(None, "side of the views in pixels (default: the training image size)",
                              validator=validators.optional(_count))
    crop_scale: tuple[float, float] | None = option(
        None, "area fraction range of the random crop (default: (0.08, 1) above 64 px, (0.2, 1) at 64 px or less)",
        validator=_check_scale, converter=converters.optional(pair()))
    flip_p: float = option(0.5, "probability of a horizontal flip", validator=probability, converter=float)
    jitter: tuple[float, float, float, float] = option(
        (0.4, 0.4, 0.4, 0.1), "colour jitter strengths (brightness, contrast, saturation, hue)",
        validator=_check_jitter, converter=_jitter_strengths)
    jitter_p: float = option(0.8, "probability of the colour jitter", validator=probability, converter=float)
    grayscale_p: float = option(0.2, "probability of grayscale", validator=probability, converter=float)
    blur_p: float | None = option(None, "probability of a Gaussian blur (default: 0.5 above 64 px, 0 at 64 px or less)",
                                  validator=validators.optional(probability), converter=converters.optional(float))
    interpolation: str = option("bilinear", "crop resampling: bilinear or bicubic",
                                validator=one_of("bilinear", "bicubic"))


class SimCLRViews(ViewGenerator):
    """SimCLR views: random resized crop and flip, colour jitter, random grayscale, Gaussian blur.

    Attributes (the resolved options):
        size: side of the views.
        crop_scale: area fraction range of the crop.
        blur_p: probability of the blur.
        blur_kernel_size: side of the blur kernel (about 10 % of ``size``, odd).
    """

    def __init__(self, config: SimCLRViewsConfig, context: BuildContext) -> None:
        small = context.image_size <= SMALL_IMAGE
        self.config = config
        self.num_views = config.num_views
        self.size = config.size or context.image_size
        self.crop_scale = config.crop_scale or ((0.2, 1.0) if small else (0.08, 1.0))
        self.blur_p = config.blur_p if config.blur_p is not None else (0.0 if small else 0.5)
        self.blur_kernel_size = blur_kernel_size(self.size)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        """``num_views`` independent views of ``images``, each ``(B, C, size, size)`` in ``[0, 1]``."""
        return [self._view(images, generator) for _ in range(self.num_views)]

    def _view(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        c = self.config
        x = random_resized_crop(images, self.size, self.crop_scale, generator=generator,
                                interpolation=c.interpolation, flip_p=c.flip_p)
        x = color_jitter(x, *c.jitter, p=c.jitter_p, generator=generator)
        x = random_grayscale(x, c.grayscale_p, generator=generator)
        return random_gaussian_blur(x, self.blur_p, generator=generator, kernel_size=self.blur_kernel_size)
