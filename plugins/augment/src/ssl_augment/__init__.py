"""ssl-augment: batched, seeded augmentation ops and view generators.

View generators: ``simclr``, ``moco-v1``, ``moco-v2``, ``simsiam``, ``sdclr`` (one class,
``SymmetricViews``, registered with each preset's recipe as option values, ``SYMMETRIC``),
``byol``, ``multi-crop`` (all built on the configurable ``ssl_augment.pipeline``) and ``identity``.

The ops (``ssl_augment.ops``) work on ``(B, C, H, W)`` batches in ``[0, 1]`` on any device,
with per-sample parameters drawn from a ``torch.Generator``.
"""

from ssl_augment.identity import IdentityViews, IdentityViewsConfig
from ssl_augment.ops import (
    JitterParams,
    adjust_brightness,
    adjust_contrast,
    adjust_hue,
    adjust_saturation,
    apply_color_jitter,
    blur_kernel_size,
    color_jitter,
    crop_resize,
    gaussian_blur,
    random_gaussian_blur,
    random_grayscale,
    random_resized_crop,
    random_solarize,
    sample_color_jitter,
    sample_crop_boxes,
    solarize,
    to_grayscale,
)
from ssl_augment.pipeline import AugmentViews, SymmetricViews, SymmetricViewsConfig, ViewSpec, apply_view
from ssl_augment.presets import SYMMETRIC, BYOLViews, BYOLViewsConfig, MultiCropViews, MultiCropViewsConfig

__all__ = [
    "SYMMETRIC",
    "AugmentViews",
    "BYOLViews",
    "BYOLViewsConfig",
    "IdentityViews",
    "IdentityViewsConfig",
    "JitterParams",
    "MultiCropViews",
    "MultiCropViewsConfig",
    "SymmetricViews",
    "SymmetricViewsConfig",
    "ViewSpec",
    "adjust_brightness",
    "adjust_contrast",
    "adjust_hue",
    "adjust_saturation",
    "apply_color_jitter",
    "apply_view",
    "blur_kernel_size",
    "color_jitter",
    "crop_resize",
    "gaussian_blur",
    "random_gaussian_blur",
    "random_grayscale",
    "random_resized_crop",
    "random_solarize",
    "sample_color_jitter",
    "sample_crop_boxes",
    "solarize",
    "to_grayscale",
]
