"""Registers the ``barlow-twins`` branch and the ``barlow-twins`` loss."""

from __future__ import annotations

# --8<-- [start:plugin]
from ssl_core import Register, hookimpl

from ssl_barlow_twins.branch import BarlowTwinsBranch
from ssl_barlow_twins.config import BarlowTwinsConfig, BarlowTwinsLossConfig
from ssl_barlow_twins.loss import BarlowTwinsLoss

#: solo-learn's CIFAR recipe (scripts/pretrain/cifar/barlow.yaml): asymmetric (BYOL) views,
#: LARS (eta 0.02, clipped), lr 0.3 per 256 images, weight decay 1e-4, scale_loss 0.1,
#: projector 2048-2048-2048.
DEFAULTS = {
    "views": "byol",
    "loss": "barlow-twins",
    "optimizer": "lars",
    "lars_eta": 0.02,
    "lars_clip": True,
    "lr": 0.3,
    "weight_decay": 1e-4,
    "options": {"loss": {"barlow-twins": {"scale": 0.1}}},
}

#: the paper ``barlow-twins`` implements (model cards cite it).
BARLOW_TWINS_PAPER = ("Barlow Twins: Self-Supervised Learning via Redundancy Reduction (Zbontar, Jing, Misra, LeCun "
                      "and Deny, ICML 2021)")


@hookimpl
def register_branches(register: Register) -> None:
    """The ``barlow-twins`` branch, with its run defaults."""
    register("barlow-twins", BarlowTwinsBranch, config=BarlowTwinsConfig, defaults=DEFAULTS, paper=BARLOW_TWINS_PAPER)


@hookimpl
def register_losses(register: Register) -> None:
    """The ``barlow-twins`` loss (input kind ``pair``)."""
    register("barlow-twins", BarlowTwinsLoss, config=BarlowTwinsLossConfig)
# --8<-- [end:plugin]
