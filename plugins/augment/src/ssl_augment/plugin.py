"""The ``ssl`` plugin of ssl-augment: registers its view generators."""

from __future__ import annotations

from ssl_core import Register, hookimpl

from ssl_augment.identity import IdentityViews, IdentityViewsConfig
from ssl_augment.pipeline import SymmetricViews, SymmetricViewsConfig
from ssl_augment.presets import SYMMETRIC, BYOLViews, BYOLViewsConfig, MultiCropViews, MultiCropViewsConfig


@hookimpl
def register_view_generators(register: Register) -> None:
    """Register the view generators of this package: the symmetric presets as data, one class."""
    for name, preset in SYMMETRIC.items():
        register(name, SymmetricViews, config=SymmetricViewsConfig, options=dict(preset["options"]),
                 description=preset["description"])
    register("identity", IdentityViews, config=IdentityViewsConfig)
    register("byol", BYOLViews, config=BYOLViewsConfig)
    register("multi-crop", MultiCropViews, config=MultiCropViewsConfig)
