"""The view presets of the classic methods: ``moco-v1``, ``moco-v2``, ``simsiam``, ``sdclr``, ``byol``, ``multi-crop``.

Each is the [pipeline][ssl_augment.pipeline] with its method's defaults; every default can be
overridden through the preset's options. The Gaussian blur follows the ``simclr`` rule: its
probability is 0 for training images of 64 px or less (CIFAR-style recipes) unless set.
"""

from __future__ import annotations

from typing import Any

import attrs
from attrs import converters, validators
from ssl_core import BuildContext, one_of, option, pair

from ssl_augment.pipeline import (
    AugmentViews,
    SymmetricViews,
    ViewSpec,
    blur_field,
    check_probabilities,
    check_scale,
    count,
    crop_scale_field,
    flip_field,
    grayscale_field,
    interpolation_field,
    is_small,
    jitter_field,
    jitter_p_field,
    non_negative_count,
    num_views_field,
    resolve_blur_p,
    size_field,
    solarize_field,
)

# --- MoCo v1, MoCo v2, SimSiam, SDCLR: symmetric ----------------------------------------------


@attrs.define
class MoCoV1ViewsConfig:
    """Options of the ``moco-v1`` views (the InstDisc augmentation MoCo v1 uses)."""

    num_views: int = num_views_field(2)
    size: int | None = size_field()
    crop_scale: tuple[float, float] | None = crop_scale_field((0.2, 1.0))
    flip_p: float = flip_field(0.5)
    jitter: tuple[float, float, float, float] = jitter_field((0.4, 0.4, 0.4, 0.4))
    jitter_p: float = jitter_p_field(1.0)
    grayscale_p: float = grayscale_field(0.2)
    blur_p: float | None = blur_field(0.0, "probability of a Gaussian blur (MoCo v1 has none)")
    solarize_p: float = solarize_field(0.0)
    interpolation: str = interpolation_field()


class MoCoV1Views(SymmetricViews):
    """MoCo v1 views: random resized crop (0.2, 1) and flip, random grayscale, colour jitter on every sample.

    As in MoCo v1, the grayscale comes before the colour jitter. Attributes as ``simclr``'s.
    """

    small_crop_scale = large_crop_scale = (0.2, 1.0)
    grayscale_first = True


@attrs.define
class MoCoV2ViewsConfig:
    """Options of the ``moco-v2`` views; ``blur_p`` defaults by the training image size."""

    num_views: int = num_views_field(2)
    size: int | None = size_field()
    crop_scale: tuple[float, float] | None = crop_scale_field((0.2, 1.0))
    flip_p: float = flip_field(0.5)
    jitter: tuple[float, float, float, float] = jitter_field((0.4, 0.4, 0.4, 0.1))
    jitter_p: float = jitter_p_field(0.8)
    grayscale_p: float = grayscale_field(0.2)
    blur_p: float | None = blur_field(None)
    solarize_p: float = solarize_field(0.0)
    interpolation: str = interpolation_field()


class MoCoV2Views(SymmetricViews):
    """MoCo v2 views: random resized crop (0.2, 1) and flip, colour jitter, random grayscale, Gaussian blur.

    Attributes as ``simclr``'s.
    """

    small_crop_scale = large_crop_scale = (0.2, 1.0)


@attrs.define
class SimSiamViewsConfig(MoCoV2ViewsConfig):
    """Options of the ``simsiam`` views: the SimSiam paper uses MoCo v2's augmentation, so the same options."""


class SimSiamViews(MoCoV2Views):
    """SimSiam views, MoCo v2's: random resized crop (0.2, 1) and flip, colour jitter, grayscale, Gaussian blur.

    Attributes as ``simclr``'s.
    """


@attrs.define
class SDCLRViewsConfig:
    """Options of the ``sdclr`` views; ``crop_scale`` and ``blur_p`` default by the training image size."""

    num_views: int = num_views_field(2)
    size: int | None = size_field()
    crop_scale: tuple[float, float] | None = crop_scale_field(
        None, "area fraction range of the random crop (default: (0.1, 1) at 64 px or less, (0.08, 1) above)")
    flip_p: float = flip_field(0.5)
    jitter: tuple[float, float, float, float] = jitter_field((0.4, 0.4, 0.4, 0.1))
    jitter_p: float = jitter_p_field(0.8)
    grayscale_p: float = grayscale_field(0.2)
    blur_p: float | None = blur_field(None)
    solarize_p: float = solarize_field(0.0)
    interpolation: str = option("bicubic", "crop resampling: bilinear or bicubic",
                                validator=one_of("bilinear", "bicubic"))


class SDCLRViews(SymmetricViews):
    """SDCLR views (Jiang et al., 2021): bicubic random resized crop and flip, colour jitter, grayscale.

    At 64 px or less the official CIFAR recipe: crop scale (0.1, 1), no blur; above, its
    ImageNet recipe: crop scale (0.08, 1), Gaussian blur with probability 0.5. Attributes as
    ``simclr``'s.
    """

    small_crop_scale = (0.1, 1.0)
    large_crop_scale = (0.08, 1.0)


# --- BYOL: asymmetric ---------------------------------------------------------------------------


def _per_view_field(default: tuple[float, float] | None, doc: str) -> Any:
    """A pair of probabilities, one per view."""
    return option(default, doc, validator=check_probabilities, converter=converters.optional(pair()))


@attrs.define
class BYOLViewsConfig:
    """Options of the ``byol`` views: two views with their own blur and solarize probabilities."""

    size: int | None = size_field()
    crop_scale: tuple[float, float] | None = crop_scale_field((0.08, 1.0))
    flip_p: float = flip_field(0.5)
    jitter: tuple[float, float, float, float] = jitter_field((0.4, 0.4, 0.2, 0.1))
    jitter_p: float = jitter_p_field(0.8)
    grayscale_p: float = grayscale_field(0.2)
    blur_p: tuple[float, float] | None = _per_view_field(
        None, "probabilities of a Gaussian blur in view 1 and view 2 (default: (1, 0.1) above 64 px, "
              "(0, 0) at 64 px or less)")
    solarize_p: tuple[float, float] = _per_view_field((0.0, 0.2), "probabilities of solarize in view 1 and view 2")
    interpolation: str = interpolation_field()


class BYOLViews(AugmentViews):
    """BYOL views: an asymmetric pair; view 1 always blurred, view 2 rarely blurred and sometimes solarized.

    Both views: random resized crop and flip, colour jitter, random grayscale, then Gaussian
    blur and solarize with each view's own probability.

    Attributes (the resolved options):
        size: side of the views.
        crop_scale: area fraction range of the crop.
        blur_p: the blur probabilities of view 1 and view 2.
        solarize_p: the solarize probabilities of view 1 and view 2.
    """

    def __init__(self, config: BYOLViewsConfig, context: BuildContext) -> None:
        self.config = config
        self.size = config.size or context.image_size
        self.crop_scale = config.crop_scale or (0.08, 1.0)
        if config.blur_p is not None:
            self.blur_p = config.blur_p
        else:
            self.blur_p = (0.0, 0.0) if is_small(context.image_size) else (1.0, 0.1)
        self.solarize_p = config.solarize_p
        specs = [
            ViewSpec(size=self.size, crop_scale=self.crop_scale, flip_p=config.flip_p, jitter=config.jitter,
                     jitter_p=config.jitter_p, grayscale_p=config.grayscale_p, blur_p=blur_p,
                     solarize_p=solarize_p, interpolation=config.interpolation)
            for blur_p, solarize_p in zip(self.blur_p, self.solarize_p)
        ]
        super().__init__(specs)


# --- SwAV multi-crop ----------------------------------------------------------------------------

#: the multi-crop defaults above 64 px (SwAV on ImageNet: 2 x 224 px, 6 x 96 px).
LARGE_MULTI_CROP = {"global_scale": (0.14, 1.0), "local_scale": (0.05, 0.14), "local_fraction": 96 / 224}
#: the multi-crop defaults at 64 px or less (solo-learn's CIFAR multi-crop: 2 x 32 px, 6 x 18 px).
SMALL_MULTI_CROP = {"global_scale": (0.2, 1.0), "local_scale": (0.08, 0.5), "local_fraction": 18 / 32}


@attrs.define
class MultiCropViewsConfig:
    """Options of the ``multi-crop`` views; the ``None`` defaults depend on the training image size."""

    global_count: int = option(2, "number of global crops (first in the output)", validator=count)
    global_size: int | None = option(None, "side of the global crops (default: the training image size)",
                                     validator=validators.optional(count))
    global_scale: tuple[float, float] | None = option(
        None, "area fraction range of the global crops (default: (0.14, 1) above 64 px, (0.2, 1) at 64 px or less)",
        validator=check_scale, converter=converters.optional(pair()))
    local_count: int = option(6, "number of local crops (after the global ones)", validator=non_negative_count)
    local_size: int | None = option(
        None, "side of the local crops (default: the image size x 96/224 above 64 px, x 18/32 at 64 px or less)",
        validator=validators.optional(count))
    local_scale: tuple[float, float] | None = option(
        None, "area fraction range of the local crops (default: (0.05, 0.14) above 64 px, (0.08, 0.5) at 64 px "
              "or less)", validator=check_scale, converter=converters.optional(pair()))
    flip_p: float = flip_field(0.5)
    jitter: tuple[float, float, float, float] = jitter_field((0.4, 0.4, 0.4, 0.1))
    jitter_p: float = jitter_p_field(0.8)
    grayscale_p: float = grayscale_field(0.2)
    blur_p: float | None = blur_field(None)
    solarize_p: float = solarize_field(0.0)
    interpolation: str = interpolation_field()


class MultiCropViews(AugmentViews):
    """SwAV multi-crop views: global and local random resized crops, each with the SimCLR colour pipeline.

    The output holds the ``num_global`` global crops first, then the local ones; every crop is
    flipped, colour-jittered, grayscaled and blurred with the same probabilities.

    Attributes (the resolved options):
        num_global: number of global crops (the first ones).
        num_local: number of local crops.
        global_size, local_size: sides of the crops.
        global_scale, local_scale: area fraction ranges of the crops.
        blur_p: probability of the blur.
        sizes: the side of every view, in output order.
    """

    def __init__(self, config: MultiCropViewsConfig, context: BuildContext) -> None:
        defaults = SMALL_MULTI_CROP if is_small(context.image_size) else LARGE_MULTI_CROP
        self.config = config
        self.num_global = config.global_count
        self.num_local = config.local_count
        self.global_size = config.global_size or context.image_size
        self.local_size = config.local_size or max(1, round(context.image_size * defaults["local_fraction"]))
        self.global_scale = config.global_scale or defaults["global_scale"]
        self.local_scale = config.local_scale or defaults["local_scale"]
        self.blur_p = resolve_blur_p(config.blur_p, context.image_size)

        def spec(size: int, scale: tuple[float, float]) -> ViewSpec:
            return ViewSpec(size=size, crop_scale=scale, flip_p=config.flip_p, jitter=config.jitter,
                            jitter_p=config.jitter_p, grayscale_p=config.grayscale_p, blur_p=self.blur_p,
                            solarize_p=config.solarize_p, interpolation=config.interpolation)

        super().__init__([spec(self.global_size, self.global_scale)] * self.num_global
                         + [spec(self.local_size, self.local_scale)] * self.num_local)
