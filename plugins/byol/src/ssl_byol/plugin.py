"""Registers the ``byol`` branch."""

from ssl_core import hookimpl

from ssl_byol.branch import BYOLBranch, BYOLConfig

#: solo-learn's CIFAR recipe (scripts/pretrain/cifar/byol.yaml): LARS (eta 0.02, clipped), lr 1.0 per 256, wd 1e-5.
DEFAULTS = {
    "views": "byol",
    "loss": "normalized-mse",
    "optimizer": "lars",
    "lars_eta": 0.02,
    "lars_clip": True,
    "lr": 1.0,
    "weight_decay": 1e-5,
}

#: the paper ``byol`` implements (model cards cite it).
BYOL_PAPER = "Bootstrap Your Own Latent (Grill et al., NeurIPS 2020)"


@hookimpl
def register_branches(register):
    register("byol", BYOLBranch, config=BYOLConfig, defaults=DEFAULTS, paper=BYOL_PAPER)
