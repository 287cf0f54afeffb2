"""Options of the ``barlow-twins`` branch and loss."""

from __future__ import annotations

import attrs
from attrs import validators as v
from ssl_core import non_negative, option, positive


@attrs.define
class BarlowTwinsConfig:
    """Options of the ``barlow-twins`` branch (CIFAR-size projector; the paper's ImageNet one is 8192 wide)."""

    hidden_dim: int = option(2048, "projector hidden width (paper, ImageNet: 8192)", validator=positive)
    out_dim: int = option(2048, "projection dimension D; C is D x D (paper, ImageNet: 8192)", validator=positive)
    layers: int = option(3, "linear layers in the projector (Linear-BN-ReLU x (layers - 1), then Linear)",
                         validator=v.ge(1))


@attrs.define
class BarlowTwinsLossConfig:
    """Options of the ``barlow-twins`` loss."""

    lambd: float = option(5e-3, "lambda, the weight of the off-diagonal (redundancy) terms",
                          validator=non_negative, converter=float)
    scale: float = option(1.0, "factor on the whole loss (1: the paper's equation; solo-learn's scale_loss)",
                          validator=positive, converter=float)
    eps: float = option(1e-5, "added to each dimension's batch variance before the square root (as BatchNorm1d)",
                        validator=non_negative, converter=float)
    gather: bool = option(True, "batch statistics and C over the global batch (every process's samples)")
