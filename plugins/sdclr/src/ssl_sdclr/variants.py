"""Run any encoder with masked weights and/or another set of batch-norm layers.

Works for every ``nn.Module`` (torchvision-style or not) through
``torch.func.functional_call``: the stored parameters are never modified, so the dense model
keeps using and updating them, while the variant's forward sees ``w * mask`` for each masked
weight and the copies in a [`BatchNormSet`][ssl_sdclr.variants.BatchNormSet] in place
of the module's own batch-norm parameters and running statistics (updated in place by a
forward in training mode, as usual). Gradients flow to the stored weights through
``w * mask`` (zero where the mask is zero) and to the BN copies.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def conv_weight_names(module: nn.Module) -> list[str]:
    """Names (as in ``named_parameters``) of the weights of every convolution in ``module``."""
    return [f"{path}.weight" if path else "weight" for path, m in module.named_modules()
            if isinstance(m, nn.modules.conv._ConvNd)]


class BatchNormSet(nn.Module):
    """An independent copy of every batch-norm layer of ``module`` (affine and running stats)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.paths = [path for path, m in module.named_modules() if isinstance(m, _BatchNorm)]
        self.copies = nn.ModuleDict(
            {path.replace(".", "__"): copy.deepcopy(module.get_submodule(path)) for path in self.paths}
        )

    def tensors(self) -> dict[str, torch.Tensor]:
        """The copies' parameters and buffers under the names they replace in ``module``."""
        out = {}
        for path in self.paths:
            bn = self.copies[path.replace(".", "__")]
            for name, tensor in (*bn.named_parameters(recurse=False), *bn.named_buffers(recurse=False)):
                out[f"{path}.{name}"] = tensor
        return out


def run_variant(
    module: nn.Module,
    inputs: torch.Tensor,
    *,
    masks: dict[str, torch.Tensor] | None = None,
    bn_set: BatchNormSet | None = None,
) -> torch.Tensor:
    """``module(inputs)`` with each weight ``name`` in ``masks`` replaced by ``w * mask``
    and the batch norms replaced by ``bn_set``."""
    substitutes: dict[str, torch.Tensor] = {}
    if masks:
        parameters = dict(module.named_parameters())
        substitutes.update({name: parameters[name] * mask for name, mask in masks.items()})
    if bn_set is not None:
        substitutes.update(bn_set.tensors())
    return torch.func.functional_call(module, substitutes, (inputs,), strict=False)
