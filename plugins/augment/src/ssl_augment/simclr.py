"""The ``simclr`` view generator: the augmentation pipeline of SimCLR (Chen et al., 2020)."""

from __future__ import annotations

import attrs

from ssl_augment.pipeline import (
    SMALL_IMAGE,
    SymmetricViews,
    blur_field,
    crop_scale_field,
    flip_field,
    grayscale_field,
    interpolation_field,
    jitter_field,
    jitter_p_field,
    num_views_field,
    size_field,
    solarize_field,
)

__all__ = ["SMALL_IMAGE", "SimCLRViews", "SimCLRViewsConfig"]


@attrs.define
class SimCLRViewsConfig:
    """Options of the ``simclr`` views; the ``None`` defaults depend on the training image size."""

    num_views: int = num_views_field(2)
    size: int | None = size_field()
    crop_scale: tuple[float, float] | None = crop_scale_field(
        None, "area fraction range of the random crop (default: (0.08, 1) above 64 px, (0.2, 1) at 64 px or less)")
    flip_p: float = flip_field(0.5)
    jitter: tuple[float, float, float, float] = jitter_field((0.4, 0.4, 0.4, 0.1))
    jitter_p: float = jitter_p_field(0.8)
    grayscale_p: float = grayscale_field(0.2)
    blur_p: float | None = blur_field(None)
    solarize_p: float = solarize_field(0.0)
    interpolation: str = interpolation_field()


class SimCLRViews(SymmetricViews):
    """SimCLR views: random resized crop and flip, colour jitter, random grayscale, Gaussian blur.

    Attributes (the resolved options):
        size: side of the views.
        crop_scale: area fraction range of the crop ((0.08, 1) above 64 px, (0.2, 1) at 64 px or less).
        blur_p: probability of the blur (0.5 above 64 px, 0 at 64 px or less).
        blur_kernel_size: side of the blur kernel (about 10 % of ``size``, odd).
    """

    small_crop_scale = (0.2, 1.0)
    large_crop_scale = (0.08, 1.0)
