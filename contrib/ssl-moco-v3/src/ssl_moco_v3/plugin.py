"""Registers the ``moco-v3`` branch and the ``moco-v3`` loss."""

from __future__ import annotations

from ssl_core import Register, hookimpl

from ssl_moco_v3.branch import MoCoV3Branch
from ssl_moco_v3.config import MoCoV3Config, MoCoV3LossConfig
from ssl_moco_v3.loss import MoCoV3Loss

#: solo-learn's CIFAR recipe (scripts/pretrain/cifar/mocov3.yaml): asymmetric (BYOL) views,
#: LARS (eta 0.02, clipped), lr 0.3 per 256 images, weight decay 1e-6, T 0.2; the official
#: ResNet-50 recipe is LARS, lr 0.6 (100 epochs) or 0.3 (300+) per 256 images, weight decay 1e-6, T 1.0.
DEFAULTS = {
    "views": "byol",
    "loss": "moco-v3",
    "optimizer": "lars",
    "lars_eta": 0.02,
    "lars_clip": True,
    "lr": 0.3,
    "weight_decay": 1e-6,
    "options": {"loss": {"moco-v3": {"temperature": 0.2}}},
}

#: the paper ``moco-v3`` implements (model cards cite it).
MOCO_V3_PAPER = "An Empirical Study of Training Self-Supervised Vision Transformers (Chen, Xie and He, ICCV 2021)"


@hookimpl
def register_branches(register: Register) -> None:
    """The ``moco-v3`` branch, with its run defaults."""
    register("moco-v3", MoCoV3Branch, config=MoCoV3Config, defaults=DEFAULTS, paper=MOCO_V3_PAPER)


@hookimpl
def register_losses(register: Register) -> None:
    """The ``moco-v3`` loss (input kind ``query-key``)."""
    register("moco-v3", MoCoV3Loss, config=MoCoV3LossConfig)
