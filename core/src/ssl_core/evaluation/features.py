"""Pooled encoder features of a whole (un-augmented) dataset, in eval mode."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import DataLoader

from ssl_core.data.sources import ImageDataset


@torch.no_grad()
def extract_features(
    encoder: nn.Module,
    dataset: ImageDataset,
    normalize: nn.Module,
    device: torch.device,
    batch_size: int = 512,
    num_workers: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(features (N, d) float32 on CPU, labels (N,))`` with the encoder in eval mode
    (batch norm uses its running statistics); the encoder's mode is restored afterwards."""
    was_training = encoder.training
    encoder.eval()
    features, labels = [], []
    try:
        for images, _, label in DataLoader(dataset, batch_size=batch_size, num_workers=num_workers):
            x = normalize(images.to(device).float().div_(255))
            features.append(encoder(x).float().cpu())
            labels.append(label)
    finally:
        encoder.train(was_training)
    return torch.cat(features), torch.cat(labels)
