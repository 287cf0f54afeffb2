"""The self-competitor: an encoder's weights times a pruning mask, with its own normalisation layers."""

from __future__ import annotations

import torch
from ssl_core import IncompatibleComponentsError
from torch import nn

from ssl_sdclr.pruning import global_magnitude_masks
from ssl_sdclr.variants import NormSet, pruned_weight_names, run_variant


class SelfCompetitor(nn.Module):
    """The pruned copy of ``encoder``: ``w * m`` for every convolution and linear weight, its own norms.

    It stores no weights: ``forward(encoder, x)`` runs the encoder given to it with each
    convolution and linear weight ``w`` replaced by ``w * m`` and its normalisation layers
    (batch norms; layer and group norms of ConvNeXts and ViTs) replaced by the copies in
    ``bn`` (own affine parameters and running statistics), through
    [`run_variant`][ssl_sdclr.variants.run_variant]. So the gradient reaches ``w`` as
    ``m * dL/d(w m)`` and the dense encoder keeps using and updating every weight.

    The masks (``masks.<weight path with "__">``, boolean) and ``epoch`` (the epoch they were
    computed for, -1 before the first ``refresh``) are buffers, so checkpoints keep them.
    Norms, biases and anything that is neither a convolution nor a linear layer (a ViT's
    position embedding and class token) are never pruned. The torchvision-style ResNets have
    no linear layer (``fc`` is ``Identity``), so there it is every convolution, as officially.

    Attributes:
        prune_ratio: the fraction ``p`` of the pruned weights the mask drops.
        weight_names: the pruned weights (every convolution and linear layer of the encoder, stem and
            shortcuts included).
        bn: the competitor's copies of the normalisation layers.
        masks: the module holding the mask buffers.
    """

    def __init__(self, encoder: nn.Module, prune_ratio: float) -> None:
        super().__init__()
        self.prune_ratio = prune_ratio
        self.weight_names = pruned_weight_names(encoder)
        if not self.weight_names:
            raise IncompatibleComponentsError(
                f"sdclr-pruned prunes convolution and linear weights, but encoder {type(encoder).__name__} has "
                "neither")
        parameters = dict(encoder.named_parameters())
        self.bn = NormSet(encoder)
        self.masks = nn.Module()
        for name in self.weight_names:
            self.masks.register_buffer(self._key(name), torch.ones_like(parameters[name], dtype=torch.bool))
        self.register_buffer("epoch", torch.tensor(-1, dtype=torch.long))

    @staticmethod
    def _key(name: str) -> str:
        return name.replace(".", "__")

    def mask_dict(self) -> dict[str, torch.Tensor]:
        """The masks by the encoder's weight names."""
        return {name: self.masks.get_buffer(self._key(name)) for name in self.weight_names}

    @torch.no_grad()
    def refresh(self, encoder: nn.Module, epoch: int) -> None:
        """Recompute every mask from scratch from ``encoder``'s current weights (one global threshold)."""
        parameters = dict(encoder.named_parameters())
        fresh = global_magnitude_masks([parameters[name] for name in self.weight_names], self.prune_ratio)
        for mask, new in zip(self.mask_dict().values(), fresh):
            mask.copy_(new)
        self.epoch.fill_(epoch)

    def sparsity(self) -> float:
        """The fraction of the pruned layers' weights the masks drop."""
        masks = list(self.mask_dict().values())
        return 1.0 - sum(int(m.sum()) for m in masks) / sum(m.numel() for m in masks)

    def forward(self, encoder: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """``encoder(x)`` with masked weights and the competitor's normalisation layers."""
        return run_variant(encoder, x, masks=self.mask_dict(), bn_set=self.bn)
