"""The ``timm`` encoder: the timm model itself, built with ``num_classes=0`` (pooled features).

The module returned is what ``timm.create_model`` returns, so its ``state_dict`` is timm's key
layout and ``encoder.safetensors`` loads with ``strict=True`` into
``timm.create_model(**encoder.timm_arguments)``. timm is imported when an encoder is built,
never when the plugin is loaded.
"""

from __future__ import annotations

import difflib
import re
from types import ModuleType
from typing import Any

from ssl_core import BuildContext, ComponentOptionError, HubError
from torch import nn

from ssl_timm.config import TimmConfig, resolved_patch_size

#: arguments the encoder sets itself; ``kwargs`` may not name them.
RESERVED = ("model_name", "pretrained", "num_classes", "in_chans")
#: input-size arguments given to every model and dropped for a model that does not take them.
SIZE_ARGUMENTS = ("img_size", "patch_size", "dynamic_img_size", "dynamic_img_pad")
_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")


def check_model(timm: ModuleType, name: str, pretrained: bool) -> None:
    """Refuse a name timm does not know (naming close matches) or, with ``pretrained``, one without weights."""
    if not timm.is_model(name):
        close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.5)
        hint = f"close matches: {', '.join(close)}" if close else "see timm.list_models() for the valid names"
        raise ComponentOptionError(f"encoder timm: model {name!r} is not a timm model; {hint}")
    base = name.partition(".")[0]
    if pretrained and not any(n == name or n.partition(".")[0] == name for n in timm.list_pretrained(f"{base}*")):
        raise ComponentOptionError(f"encoder timm: model {name!r} has no pretrained weights in timm; set "
                                   f"pretrained: false, or choose one of timm.list_pretrained() (e.g. "
                                   f"{', '.join(timm.list_pretrained('resnet18*')[:2])})")


def create_arguments(config: TimmConfig, context: BuildContext) -> dict[str, Any]:
    """The keyword arguments of ``timm.create_model`` asked for, before a model drops size arguments it lacks.

    ViTs get the training image size, the patch size and a dynamic image size (so crops of another
    size, such as SwAV's local crops, are patch-embedded with padding and interpolated position
    embeddings); ``config.kwargs`` comes last.
    """
    reserved = sorted(set(config.kwargs) & set(RESERVED))
    if reserved:
        raise ComponentOptionError(f"encoder timm: kwargs may not set {', '.join(reserved)}: the encoder sets "
                                   f"{', '.join(RESERVED)} (use the options model and pretrained)")
    arguments: dict[str, Any] = {"model_name": config.model, "num_classes": 0, "in_chans": context.channels,
                                 "img_size": context.image_size, "dynamic_img_size": True, "dynamic_img_pad": True}
    patch_size = resolved_patch_size(config, context.image_size)
    if patch_size is not None:
        arguments["patch_size"] = patch_size
    return {**arguments, **config.kwargs}


def build_model(timm: ModuleType, config: TimmConfig, arguments: dict[str, Any]) -> tuple[nn.Module, dict[str, Any]]:
    """``timm.create_model(**arguments)``, dropping each size argument the model does not take.

    Returns the model and the arguments it was built with."""
    arguments = dict(arguments)
    while True:
        try:
            return timm.create_model(pretrained=config.pretrained, **arguments), arguments
        except TypeError as exc:
            match = _UNEXPECTED.search(str(exc))
            name = match.group(1) if match else None
            if name in config.kwargs:
                raise ComponentOptionError(f"encoder timm: kwargs {name!r} is not an argument of timm model "
                                           f"{config.model!r} ({exc})") from None
            if name == "patch_size" and config.patch_size is not None:
                raise ComponentOptionError(f"encoder timm: model {config.model!r} takes no patch_size (patches are "
                                           "for ViTs); leave patch_size null") from None
            if name not in SIZE_ARGUMENTS or name not in arguments:
                raise
            del arguments[name]
        except OSError as exc:  # the weights are neither in the Hub cache nor downloadable
            raise HubError(f"encoder timm: the pretrained weights of {config.model!r} could not be loaded "
                           f"({type(exc).__name__}: {str(exc).splitlines()[0]}); they are downloaded from the "
                           "Hugging Face Hub on first use: go online once (HF_HUB_OFFLINE unset) or set "
                           "pretrained: false") from None


def timm_encoder(config: TimmConfig, context: BuildContext) -> nn.Module:
    """Any timm model (ResNet, ConvNeXt, ViT, ...) with pooled features; ViTs at patch 4 for small images."""
    import timm

    check_model(timm, config.model, config.pretrained)
    model, arguments = build_model(timm, config, create_arguments(config, context))
    # the pooled features' width: num_features, or head_hidden_size where a pre-logits layer follows the pooling
    model.feature_dim = int(getattr(model, "head_hidden_size", None) or model.num_features)
    model.timm_arguments = arguments  # timm.create_model(**model.timm_arguments) rebuilds the architecture
    return model
