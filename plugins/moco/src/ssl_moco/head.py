"""The MoCo projection heads."""

from __future__ import annotations

from torch import nn


def moco_head(kind: str, in_dim: int, hidden_dim: int, out_dim: int) -> nn.Module:
    """``linear``: ``Linear(in_dim, out_dim)`` (v1); ``mlp``: ``Linear-ReLU-Linear`` (v2), no BN."""
    if kind == "linear":
        return nn.Linear(in_dim, out_dim)
    return nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.ReLU(inplace=True), nn.Linear(hidden_dim, out_dim))
