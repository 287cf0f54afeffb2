"""The ``ssl`` plugin of ssl-augment: registers its view generators."""

from __future__ import annotations

from ssl_core import Register, hookimpl

from ssl_augment.identity import IdentityViews, IdentityViewsConfig
from ssl_augment.presets import (
    BYOLViews,
    BYOLViewsConfig,
    MoCoV1Views,
    MoCoV1ViewsConfig,
    MoCoV2Views,
    MoCoV2ViewsConfig,
    MultiCropViews,
    MultiCropViewsConfig,
    SDCLRViews,
    SDCLRViewsConfig,
    SimSiamViews,
    SimSiamViewsConfig,
)
from ssl_augment.simclr import SimCLRViews, SimCLRViewsConfig


@hookimpl
def register_view_generators(register: Register) -> None:
    """Register the view generators of this package."""
    register("simclr", SimCLRViews, config=SimCLRViewsConfig)
    register("identity", IdentityViews, config=IdentityViewsConfig)
    register("moco-v1", MoCoV1Views, config=MoCoV1ViewsConfig)
    register("moco-v2", MoCoV2Views, config=MoCoV2ViewsConfig)
    register("simsiam", SimSiamViews, config=SimSiamViewsConfig)
    register("sdclr", SDCLRViews, config=SDCLRViewsConfig)
    register("byol", BYOLViews, config=BYOLViewsConfig)
    register("multi-crop", MultiCropViews, config=MultiCropViewsConfig)
