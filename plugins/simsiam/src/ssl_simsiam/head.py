"""The SimSiam projector."""

from __future__ import annotations

from torch import nn


class SimSiamProjector(nn.Sequential):
    """``layers`` bias-free linear layers, each followed by BN; ReLU after all but the last.

    The output BN has no affine parameters (``affine=False``), as in the paper. ``layers=3``
    is the ImageNet projector, ``layers=2`` the paper's CIFAR one.
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, layers: int = 3) -> None:
        modules: list[nn.Module] = []
        dim = in_dim
        for _ in range(layers - 1):
            modules += [nn.Linear(dim, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True)]
            dim = hidden_dim
        modules += [nn.Linear(dim, out_dim, bias=False), nn.BatchNorm1d(out_dim, affine=False)]
        super().__init__(*modules)
