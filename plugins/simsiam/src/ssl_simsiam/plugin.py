"""Registers the ``simsiam`` branch."""

from ssl_core import hookimpl

from ssl_simsiam.branch import SimSiamBranch, SimSiamConfig

#: solo-learn's CIFAR recipe (scripts/pretrain/cifar/simsiam.yaml): SGD, lr 0.5 per 256, wd 1e-5.
DEFAULTS = {
    "views": "simsiam",
    "loss": "neg-cosine",
    "optimizer": "sgd",
    "lr": 0.5,
    "weight_decay": 1e-5,
}

#: the paper ``simsiam`` implements (model cards cite it).
SIMSIAM_PAPER = "Exploring Simple Siamese Representation Learning (Chen and He, CVPR 2021)"


@hookimpl
def register_branches(register):
    register("simsiam", SimSiamBranch, config=SimSiamConfig, defaults=DEFAULTS, paper=SIMSIAM_PAPER)
