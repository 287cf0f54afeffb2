"""MLP heads shared by the branches (projectors and predictors)."""

from __future__ import annotations

from torch import nn


class ProjectionHead(nn.Sequential):
    """``layers`` linear layers: (Linear-BN-ReLU) x (layers - 1), then Linear to ``out_dim``.

    ``layers=2`` is SimCLR's head, ``layers=3`` SimCLR v2's; ``last_bn`` adds a BatchNorm1d
    after the output layer (without affine parameters when ``last_bn_affine`` is false, as in
    MoCo v3). Hidden linear layers have no bias (the BN that follows has one).
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, layers: int = 2, last_bn: bool = False,
                 last_bn_affine: bool = True) -> None:
        modules: list[nn.Module] = []
        dim = in_dim
        for _ in range(layers - 1):
            modules += [nn.Linear(dim, hidden_dim, bias=False), nn.BatchNorm1d(hidden_dim), nn.ReLU(inplace=True)]
            dim = hidden_dim
        modules.append(nn.Linear(dim, out_dim, bias=not last_bn))
        if last_bn:
            modules.append(nn.BatchNorm1d(out_dim, affine=last_bn_affine))
        super().__init__(*modules)
