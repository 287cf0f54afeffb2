"""Options of the ``moco-v3`` branch and loss."""

from __future__ import annotations

import attrs
from attrs import validators as v
from ssl_core import option, positive, probability


@attrs.define
class MoCoV3Config:
    """Options of the ``moco-v3`` branch (defaults: the official ResNet heads, as solo-learn's CIFAR recipe)."""

    hidden_dim: int = option(4096, "projector hidden width", validator=positive)
    out_dim: int = option(256, "projection (query and key) dimension", validator=positive)
    projector_layers: int = option(2, "linear layers in the projector (ResNet: 2; the paper's ViT: 3)",
                                   validator=v.ge(1))
    pred_hidden_dim: int = option(4096, "predictor hidden width (the predictor has 2 linear layers)",
                                  validator=positive)
    base_tau: float = option(0.99, "teacher momentum at the first step", validator=probability, converter=float)
    final_tau: float = option(1.0, "teacher momentum at the last step (cosine schedule)",
                              validator=probability, converter=float)


@attrs.define
class MoCoV3LossConfig:
    """Options of the ``moco-v3`` loss."""

    temperature: float = option(0.2, "softmax temperature T (the official ResNet-50 runs use 1.0)",
                                validator=positive, converter=float)
