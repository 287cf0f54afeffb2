"""Run any encoder with masked weights and/or another set of normalisation layers.

Works for every ``nn.Module`` (torchvision, timm or other) through
``torch.func.functional_call``: the stored parameters are never modified, so the dense model
keeps using and updating them, while the variant's forward sees ``w * mask`` for each masked
weight and the copies in a [`NormSet`][ssl_sdclr.variants.NormSet] in place of the module's
own normalisation parameters and running statistics (updated in place by a forward in
training mode, as usual). Gradients flow to the stored weights through ``w * mask`` (zero
where the mask is zero) and to the copies.
"""

from __future__ import annotations

import copy

import torch
from ssl_core import IncompatibleComponentsError
from torch import nn
from torch.nn.modules.batchnorm import _NormBase

#: the layers whose weights are pruned: convolutions and linear layers (ViT and ConvNeXt blocks).
PRUNED_LAYERS = (nn.modules.conv._ConvNd, nn.Linear)
#: the normalisation layers a variant has its own copy of: batch and instance norms, layer norms
#: (timm's LayerNorm2d and the norm-activation layers subclass them), group norms, RMS norms.
NORM_LAYERS = (_NormBase, nn.LayerNorm, nn.GroupNorm, nn.RMSNorm)


def pruned_weight_names(module: nn.Module) -> list[str]:
    """Names (as in ``named_parameters``) of the weights of every convolution and linear layer in ``module``."""
    return [f"{path}.weight" if path else "weight" for path, m in module.named_modules()
            if isinstance(m, PRUNED_LAYERS)]


def norm_paths(module: nn.Module) -> list[str]:
    """The paths of ``module``'s normalisation layers (``NORM_LAYERS``).

    Raises:
        IncompatibleComponentsError: a layer named like a norm holds parameters or buffers but is
            none of ``NORM_LAYERS`` (timm's RmsNorm, EvoNorm), so a variant could not copy it.
    """
    unknown = [f"{path} ({type(m).__name__})" for path, m in module.named_modules()
               if "Norm" in type(m).__name__ and not isinstance(m, NORM_LAYERS)
               and (next(m.parameters(recurse=False), None) is not None or next(m.buffers(recurse=False), None)
                    is not None)]
    if unknown:
        raise IncompatibleComponentsError(
            f"sdclr-pruned gives the pruned network its own copy of every normalisation layer, but "
            f"{type(module).__name__} has {len(unknown)} it does not know: {', '.join(unknown[:3])}"
            f"{', ...' if len(unknown) > 3 else ''}; known: BatchNorm, InstanceNorm, LayerNorm (and subclasses such "
            "as timm's LayerNorm2d), GroupNorm, torch.nn.RMSNorm. Choose a model with these norms")
    return [path for path, m in module.named_modules() if isinstance(m, NORM_LAYERS)]


class NormSet(nn.Module):
    """An independent copy of every normalisation layer of ``module`` (affine parameters and running stats)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.paths = norm_paths(module)
        self.copies = nn.ModuleDict(
            {path.replace(".", "__"): copy.deepcopy(module.get_submodule(path)) for path in self.paths}
        )

    def tensors(self) -> dict[str, torch.Tensor]:
        """The copies' parameters and buffers under the names they replace in ``module``."""
        out = {}
        for path in self.paths:
            norm = self.copies[path.replace(".", "__")]
            for name, tensor in (*norm.named_parameters(recurse=False), *norm.named_buffers(recurse=False)):
                out[f"{path}.{name}"] = tensor
        return out


def run_variant(
    module: nn.Module,
    inputs: torch.Tensor,
    *,
    masks: dict[str, torch.Tensor] | None = None,
    bn_set: NormSet | None = None,
) -> torch.Tensor:
    """``module(inputs)`` with each weight ``name`` in ``masks`` replaced by ``w * mask``
    and the normalisation layers replaced by ``bn_set``."""
    substitutes: dict[str, torch.Tensor] = {}
    if masks:
        parameters = dict(module.named_parameters())
        substitutes.update({name: parameters[name] * mask for name, mask in masks.items()})
    if bn_set is not None:
        substitutes.update(bn_set.tensors())
    return torch.func.functional_call(module, substitutes, (inputs,), strict=False)
