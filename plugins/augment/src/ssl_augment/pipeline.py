"""The configurable view pipeline behind every view generator of ssl-augment but ``identity``.

A view is made by one recipe, a [`ViewSpec`][ssl_augment.pipeline.ViewSpec]: random resized
crop with a horizontal flip, colour jitter, random grayscale, Gaussian blur and solarize, each
with its own probability. [`AugmentViews`][ssl_augment.pipeline.AugmentViews] turns a list of
recipes into a view generator (one view per recipe, so views may differ in size and
probabilities: BYOL's asymmetric pair, SwAV's multi-crop), and
[`SymmetricViews`][ssl_augment.pipeline.SymmetricViews] builds ``num_views`` views of one
recipe from its options, [`SymmetricViewsConfig`][ssl_augment.pipeline.SymmetricViewsConfig].
The symmetric presets (``simclr``, ``moco-v1``, ``moco-v2``, ``simsiam``, ``sdclr``) are that
one class registered with their recipes as option values (``ssl_augment.presets.SYMMETRIC``).

The ``*_field`` helpers declare the options the generators share once; each config class lists
them with its own defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import torch
from attrs import converters, validators
from ssl_core import BuildContext, ViewGenerator, one_of, option, pair, positive, probability

from ssl_augment.ops import (
    blur_kernel_size,
    color_jitter,
    random_gaussian_blur,
    random_grayscale,
    random_resized_crop,
    random_solarize,
)

#: images of at most this side get the small-image defaults (CIFAR, STL at 64 px, ...).
SMALL_IMAGE = 64

#: the default blur probability above ``SMALL_IMAGE`` (0 at or below it).
LARGE_IMAGE_BLUR_P = 0.5


def is_small(image_size: int) -> bool:
    """Whether ``image_size`` gets the small-image defaults (at most ``SMALL_IMAGE`` px)."""
    return image_size <= SMALL_IMAGE


# --- converters and validators --------------------------------------------------------------


def _jitter_strengths(value: Any) -> tuple[float, float, float, float]:
    """Convert to the four jitter strengths (brightness, contrast, saturation, hue)."""
    items = tuple(float(x) for x in value)
    if len(items) != 4:
        raise ValueError(f"expected four jitter strengths (brightness, contrast, saturation, hue), got {value!r}")
    return items  # type: ignore[return-value]


def check_jitter(instance: Any, attribute: attrs.Attribute, value: tuple[float, ...]) -> None:
    """Jitter strengths are non-negative, the hue at most 0.5."""
    if min(value) < 0 or value[3] > 0.5:
        raise ValueError(f"'{attribute.name}' strengths must be >= 0 with a hue <= 0.5, got {value!r}")


def check_scale(instance: Any, attribute: attrs.Attribute, value: tuple[float, float] | None) -> None:
    """An area fraction range ``0 < low <= high <= 1`` (or ``None``)."""
    if value is not None and not 0 < value[0] <= value[1] <= 1:
        raise ValueError(f"'{attribute.name}' must satisfy 0 < low <= high <= 1, got {value!r}")


def check_ratio(instance: Any, attribute: attrs.Attribute, value: tuple[float, float]) -> None:
    """An aspect ratio range ``0 < low <= high``."""
    if not 0 < value[0] <= value[1]:
        raise ValueError(f"'{attribute.name}' must satisfy 0 < low <= high, got {value!r}")


def check_sigma(instance: Any, attribute: attrs.Attribute, value: tuple[float, float]) -> None:
    """A blur sigma range ``0 < low <= high``."""
    if not 0 < value[0] <= value[1]:
        raise ValueError(f"'{attribute.name}' must satisfy 0 < low <= high, got {value!r}")


def check_probabilities(instance: Any, attribute: attrs.Attribute, value: tuple[float, ...] | None) -> None:
    """Every entry of a tuple of probabilities lies in ``[0, 1]`` (or ``None``)."""
    if value is not None and not all(0 <= p <= 1 for p in value):
        raise ValueError(f"'{attribute.name}' must hold probabilities in [0, 1], got {value!r}")


count = validators.and_(validators.instance_of(int), positive)
non_negative_count = validators.and_(validators.instance_of(int), validators.ge(0))


# --- shared option declarations -------------------------------------------------------------


def num_views_field(default: int = 2) -> Any:
    """``num_views``: views per image."""
    return option(default, "views per image", validator=count)


def size_field() -> Any:
    """``size``: side of the views (``None``: the training image size)."""
    return option(None, "side of the views in pixels (default: the training image size)",
                  validator=validators.optional(count))


def crop_scale_field(default: tuple[float, float] | None, doc: str = "area fraction range of the random crop") -> Any:
    """``crop_scale``: area fraction range of the random resized crop."""
    return option(default, doc, validator=check_scale, converter=converters.optional(pair()))


def flip_field(default: float = 0.5) -> Any:
    """``flip_p``: probability of a horizontal flip."""
    return option(default, "probability of a horizontal flip", validator=probability, converter=float)


def jitter_field(default: tuple[float, float, float, float]) -> Any:
    """``jitter``: colour jitter strengths (brightness, contrast, saturation, hue)."""
    return option(default, "colour jitter strengths (brightness, contrast, saturation, hue)",
                  validator=check_jitter, converter=_jitter_strengths)


def jitter_p_field(default: float = 0.8) -> Any:
    """``jitter_p``: probability of the colour jitter."""
    return option(default, "probability of the colour jitter", validator=probability, converter=float)


def grayscale_field(default: float = 0.2) -> Any:
    """``grayscale_p``: probability of grayscale."""
    return option(default, "probability of grayscale", validator=probability, converter=float)


def blur_field(default: float | None = None,
               doc: str = "probability of a Gaussian blur (default: 0.5 above 64 px, 0 at 64 px or less)") -> Any:
    """``blur_p``: probability of the Gaussian blur (``None``: resolved from the image size)."""
    return option(default, doc, validator=validators.optional(probability), converter=converters.optional(float))


def solarize_field(default: float = 0.0) -> Any:
    """``solarize_p``: probability of solarize (``x <- 1 - x`` where ``x >= 0.5``)."""
    return option(default, "probability of solarize (1 - x where x >= 0.5)", validator=probability, converter=float)


def interpolation_field() -> Any:
    """``interpolation``: crop resampling."""
    return option("bilinear", "crop resampling: bilinear or bicubic", validator=one_of("bilinear", "bicubic"))


def resolve_blur_p(blur_p: float | None, image_size: int) -> float:
    """An explicit ``blur_p``, else 0.5 above ``SMALL_IMAGE`` px and 0 at or below it."""
    if blur_p is not None:
        return blur_p
    return 0.0 if is_small(image_size) else LARGE_IMAGE_BLUR_P


# --- the pipeline ---------------------------------------------------------------------------


@attrs.frozen
class ViewSpec:
    """The recipe of one view; every probability is per sample.

    Stages, in order: random resized crop to ``size`` (area fraction ``crop_scale``, aspect
    ratio ``ratio``) mirrored with probability ``flip_p``; colour jitter ``jitter`` with
    probability ``jitter_p``; grayscale with probability ``grayscale_p`` (before the jitter when
    ``grayscale_first``, as MoCo v1); Gaussian blur with probability ``blur_p``, ``sigma`` uniform
    in ``blur_sigma``, kernel ``blur_kernel_size(size)``; solarize with probability
    ``solarize_p``. A stage with probability 0 draws nothing from the generator.
    """

    size: int = attrs.field(validator=count)
    crop_scale: tuple[float, float] = attrs.field(default=(0.08, 1.0), converter=pair(), validator=check_scale)
    flip_p: float = attrs.field(default=0.5, converter=float, validator=probability)
    jitter: tuple[float, float, float, float] = attrs.field(default=(0.4, 0.4, 0.4, 0.1),
                                                            converter=_jitter_strengths, validator=check_jitter)
    jitter_p: float = attrs.field(default=0.8, converter=float, validator=probability)
    grayscale_p: float = attrs.field(default=0.2, converter=float, validator=probability)
    blur_p: float = attrs.field(default=0.0, converter=float, validator=probability)
    solarize_p: float = attrs.field(default=0.0, converter=float, validator=probability)
    ratio: tuple[float, float] = attrs.field(default=(3 / 4, 4 / 3), converter=pair(), validator=check_ratio)
    blur_sigma: tuple[float, float] = attrs.field(default=(0.1, 2.0), converter=pair(), validator=check_sigma)
    grayscale_first: bool = attrs.field(default=False, converter=bool)
    interpolation: str = attrs.field(default="bilinear", validator=one_of("bilinear", "bicubic"))

    @property
    def blur_kernel_size(self) -> int:
        """Side of the blur kernel: about 10 % of ``size``, odd."""
        return blur_kernel_size(self.size)


def apply_view(images: torch.Tensor, spec: ViewSpec, generator: torch.Generator) -> torch.Tensor:
    """One view of ``images`` (``(B, C, H, W)`` in ``[0, 1]``) by ``spec``, parameters drawn per sample."""
    x = random_resized_crop(images, spec.size, spec.crop_scale, spec.ratio, generator=generator,
                            interpolation=spec.interpolation, flip_p=spec.flip_p)
    if spec.grayscale_first:
        x = random_grayscale(x, spec.grayscale_p, generator=generator)
    x = color_jitter(x, *spec.jitter, p=spec.jitter_p, generator=generator)
    if not spec.grayscale_first:
        x = random_grayscale(x, spec.grayscale_p, generator=generator)
    x = random_gaussian_blur(x, spec.blur_p, spec.blur_sigma, generator=generator,
                             kernel_size=spec.blur_kernel_size)
    return random_solarize(x, spec.solarize_p, generator=generator)


class AugmentViews(ViewGenerator):
    """One view per recipe, in order, each drawn independently from the generator.

    Attributes:
        specs: the recipes, one per view.
        num_views: ``len(specs)``.
    """

    def __init__(self, specs: Sequence[ViewSpec]) -> None:
        if not specs:
            raise ValueError(f"a view generator needs at least one view recipe, got {specs!r}")
        self.specs = tuple(specs)
        self.num_views = len(self.specs)

    @property
    def sizes(self) -> list[int]:
        """The side of each view, in output order."""
        return [spec.size for spec in self.specs]

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        """The views of ``images``, each ``(B, C, size, size)`` in ``[0, 1]`` with the input's dtype."""
        return [apply_view(images, spec, generator) for spec in self.specs]


@attrs.define
class SymmetricViewsConfig:
    """Options of the symmetric views (``simclr``, ``moco-v1``, ``moco-v2``, ``simsiam``, ``sdclr``).

    The defaults are SimCLR's recipe; each preset registers this class with its own recipe as
    option values. A ``None`` ``crop_scale`` resolves by the training image size, to
    ``small_crop_scale`` at 64 px or less and ``large_crop_scale`` above; a ``None`` ``blur_p`` to
    0 at 64 px or less and 0.5 above.
    """

    num_views: int = num_views_field(2)
    size: int | None = size_field()
    crop_scale: tuple[float, float] | None = crop_scale_field(
        None, "area fraction range of the random crop (default: small_crop_scale at 64 px or less, "
              "large_crop_scale above)")
    small_crop_scale: tuple[float, float] = option(
        (0.2, 1.0), "the crop_scale default for training images of 64 px or less",
        validator=check_scale, converter=pair())
    large_crop_scale: tuple[float, float] = option(
        (0.08, 1.0), "the crop_scale default for training images above 64 px",
        validator=check_scale, converter=pair())
    flip_p: float = flip_field(0.5)
    jitter: tuple[float, float, float, float] = jitter_field((0.4, 0.4, 0.4, 0.1))
    jitter_p: float = jitter_p_field(0.8)
    grayscale_p: float = grayscale_field(0.2)
    grayscale_first: bool = option(False, "grayscale before the colour jitter (MoCo v1's order), not after it",
                                   validator=validators.instance_of(bool))
    blur_p: float | None = blur_field(None)
    solarize_p: float = solarize_field(0.0)
    interpolation: str = interpolation_field()


class SymmetricViews(AugmentViews):
    """Symmetric views: ``num_views`` views of one recipe (crop and flip, colour jitter, grayscale, blur, solarize).

    The generator of every symmetric preset; its options (``SymmetricViewsConfig``) hold the
    recipe, so a preset is this class registered with option values.

    Attributes (the resolved options):
        size: side of the views.
        crop_scale: area fraction range of the crop.
        blur_p: probability of the blur.
        blur_kernel_size: side of the blur kernel (about 10 % of ``size``, odd).
    """

    def __init__(self, config: SymmetricViewsConfig, context: BuildContext) -> None:
        small = is_small(context.image_size)
        self.config = config
        self.size = config.size or context.image_size
        self.crop_scale = config.crop_scale or (config.small_crop_scale if small else config.large_crop_scale)
        self.blur_p = resolve_blur_p(config.blur_p, context.image_size)
        spec = ViewSpec(size=self.size, crop_scale=self.crop_scale, flip_p=config.flip_p, jitter=config.jitter,
                        jitter_p=config.jitter_p, grayscale_p=config.grayscale_p, blur_p=self.blur_p,
                        solarize_p=config.solarize_p, grayscale_first=config.grayscale_first,
                        interpolation=config.interpolation)
        self.blur_kernel_size = spec.blur_kernel_size
        super().__init__([spec] * config.num_views)
