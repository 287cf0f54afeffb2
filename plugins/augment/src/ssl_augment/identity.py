"""The ``identity`` view generator: resized copies of the input, no randomness."""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F
from attrs import validators
from ssl_core import BuildContext, ViewGenerator, option, positive

_count = validators.and_(validators.instance_of(int), positive)


@attrs.define
class IdentityViewsConfig:
    """Options of the ``identity`` views."""

    num_views: int = option(2, "copies per image", validator=_count)
    size: int | None = option(None, "side of the copies in pixels (default: the input's size)",
                              validator=validators.optional(_count))


class IdentityViews(ViewGenerator):
    """Identity views: copies of the input, resized (bilinear, antialiased) when ``size`` is set."""

    def __init__(self, config: IdentityViewsConfig, context: BuildContext) -> None:
        self.num_views = config.num_views
        self.size = config.size

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        """``num_views`` copies of ``images``; ``generator`` is not used."""
        x = images
        if self.size is not None and tuple(images.shape[-2:]) != (self.size, self.size):
            x = F.interpolate(images, size=self.size, mode="bilinear", align_corners=False, antialias=True)
            x = x.clamp_(0.0, 1.0)
        return [x.clone() for _ in range(self.num_views)]
