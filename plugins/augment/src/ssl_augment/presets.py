"""The view presets of the classic methods: SimCLR, MoCo v1 and v2, SimSiam, SDCLR, BYOL, SwAV multi-crop.

The symmetric presets (``simclr``, ``moco-v1``, ``moco-v2``, ``simsiam``, ``sdclr``) are data:
``SYMMETRIC`` holds each one's recipe as option values of the one symmetric generator
(``ssl_augment.pipeline.SymmetricViews``), which the plugin registers under the preset's name.
``byol`` (an asymmetric pair: per-view blur and solarize probabilities) and ``multi-crop``
(global and local crops) have their own generators. Every default can be overridden through
the preset's options. The Gaussian blur follows one rule: its default probability is 0 for
training images of 64 px or less (CIFAR-style recipes).
"""

from __future__ import annotations

from typing import Any

import attrs
from attrs import converters, validators
from ssl_core import BuildContext, option, pair

from ssl_augment.pipeline import (
    AugmentViews,
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
    resolve_blur_p,
    size_field,
    solarize_field,
)

# --- SimCLR, MoCo v1, MoCo v2, SimSiam, SDCLR: symmetric, as data ---------------------------------

#: SimCLR (Chen et al., 2020): crop (0.08, 1) above 64 px, (0.2, 1) at 64 px or less (the usual
#: CIFAR recipe), colour jitter p 0.8, grayscale after it, blur by the image size.
SIMCLR: dict[str, Any] = {
    "small_crop_scale": (0.2, 1.0), "large_crop_scale": (0.08, 1.0), "jitter": (0.4, 0.4, 0.4, 0.1),
    "jitter_p": 0.8, "grayscale_first": False, "blur_p": None, "interpolation": "bilinear",
}
#: MoCo v1 (He et al., 2020; the InstDisc augmentation): crop (0.2, 1) at every size, grayscale
#: before a strong colour jitter that every sample gets, no blur at any size.
MOCO_V1: dict[str, Any] = {
    "small_crop_scale": (0.2, 1.0), "large_crop_scale": (0.2, 1.0), "jitter": (0.4, 0.4, 0.4, 0.4),
    "jitter_p": 1.0, "grayscale_first": True, "blur_p": 0.0, "interpolation": "bilinear",
}
#: MoCo v2 (Chen et al., 2020): crop (0.2, 1) at every size, SimCLR's colour pipeline and blur.
MOCO_V2: dict[str, Any] = {
    "small_crop_scale": (0.2, 1.0), "large_crop_scale": (0.2, 1.0), "jitter": (0.4, 0.4, 0.4, 0.1),
    "jitter_p": 0.8, "grayscale_first": False, "blur_p": None, "interpolation": "bilinear",
}
#: SDCLR (Jiang et al., 2021), its official code: bicubic crops; at 64 px or less the CIFAR
#: recipe (crop (0.1, 1), no blur), above it the ImageNet one (crop (0.08, 1), blur p 0.5).
SDCLR: dict[str, Any] = {
    "small_crop_scale": (0.1, 1.0), "large_crop_scale": (0.08, 1.0), "jitter": (0.4, 0.4, 0.4, 0.1),
    "jitter_p": 0.8, "grayscale_first": False, "blur_p": None, "interpolation": "bicubic",
}

#: the symmetric presets: name -> the ``register`` keywords of ``SymmetricViews`` under that name
#: (``options``: the recipe, as option values of ``SymmetricViewsConfig``; ``description``).
SYMMETRIC: dict[str, dict[str, Any]] = {
    "simclr": {"options": SIMCLR, "description": (
        "SimCLR views: random resized crop and flip, colour jitter, random grayscale, Gaussian blur above 64 px")},
    "moco-v1": {"options": MOCO_V1, "description": (
        "MoCo v1 views: crop (0.2, 1) and flip, random grayscale, then colour jitter on every sample; no blur")},
    "moco-v2": {"options": MOCO_V2, "description": (
        "MoCo v2 views: crop (0.2, 1) and flip, colour jitter, random grayscale, Gaussian blur above 64 px")},
    "simsiam": {"options": MOCO_V2, "description": (
        "SimSiam views: MoCo v2's recipe, as in the SimSiam paper (Chen & He, 2021)")},
    "sdclr": {"options": SDCLR, "description": (
        "SDCLR views: bicubic crop (0.1, 1) at 64 px or less, (0.08, 1) and Gaussian blur above; flip, jitter, "
        "grayscale")},
}


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
