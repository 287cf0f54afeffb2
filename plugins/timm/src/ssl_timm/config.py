"""Options of the ``timm`` encoder."""

from __future__ import annotations

import attrs
from attrs import validators as v
from ssl_core import option, positive

#: images of this side or less get patch_size 4 by default (a 32 px image is then 8 x 8 patches).
SMALL_IMAGE_MAX_SIZE = 64
#: the default patch size for small images.
SMALL_IMAGE_PATCH_SIZE = 4


@attrs.define
class TimmConfig:
    """Options of the ``timm`` encoder."""

    model: str = option("resnet18", "the timm model name (any of timm.list_models(), e.g. convnext_atto, "
                                    "vit_tiny_patch16_224)", validator=v.min_len(1))
    pretrained: bool = option(False, "load timm's pretrained weights (downloaded from the Hugging Face Hub "
                                     "once, then read from its cache)")
    patch_size: int | None = option(None, "patch size of models that take one (ViTs); None: 4 for images of 64 px "
                                          "or less, else the model's own", validator=v.optional(positive))
    kwargs: dict = option({}, "further keyword arguments of timm.create_model (e.g. {depth: 4, embed_dim: 96})",
                          validator=v.instance_of(dict))


def resolved_patch_size(config: TimmConfig, image_size: int) -> int | None:
    """The patch size asked of timm: the option, else 4 for small images, else None (the model's own)."""
    if config.patch_size is not None:
        return config.patch_size
    return SMALL_IMAGE_PATCH_SIZE if image_size <= SMALL_IMAGE_MAX_SIZE else None
