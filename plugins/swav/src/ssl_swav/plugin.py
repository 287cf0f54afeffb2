"""Registers the ``swav`` branch and the ``swav`` loss."""

from ssl_core import Register, hookimpl

from ssl_swav.branch import SwAVBranch
from ssl_swav.config import SwAVBranchConfig
from ssl_swav.loss import SwAVConfig, SwAVLoss

#: SwAV's small-batch recipe (Caron et al., 2020; solo-learn's CIFAR swav.yaml): LARS (eta 0.02, clipped), lr 0.6 per
#: 256 images decaying to 0.0006, weight decay 1e-6, multi-crop views.
DEFAULTS = {
    "views": "multi-crop",
    "loss": "swav",
    "optimizer": "lars",
    "lars_eta": 0.02,
    "lars_clip": True,
    "lr": 0.6,
    "weight_decay": 1e-6,
    "final_lr_ratio": 0.001,
}

#: the paper ``swav`` implements (model cards cite it).
SWAV_PAPER = "Unsupervised Learning of Visual Features by Contrasting Cluster Assignments (Caron et al., NeurIPS 2020)"


@hookimpl
def register_branches(register):
    register("swav", SwAVBranch, config=SwAVBranchConfig, defaults=DEFAULTS, paper=SWAV_PAPER)


@hookimpl
def register_losses(register: Register) -> None:
    register("swav", SwAVLoss, config=SwAVConfig)
