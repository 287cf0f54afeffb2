"""Registers the ``simclr`` and ``simclr-v2`` branches: one class, two presets."""

from ssl_core import hookimpl

from ssl_simclr.branch import SimCLRBranch, SimCLRConfig

DEFAULTS = {
    "views": "simclr",
    "loss": "nt-xent",
    "options": {"loss": {"nt-xent": {"temperature": 0.2}}},
}

#: SimCLR v2 (Chen et al., 2020b): T 0.1, LARS (eta 0.001, no clipping), weight decay 1e-4, lr 6.4 at batch 4096
#: (0.4 per 256 images).
DEFAULTS_V2 = {
    "views": "simclr",
    "loss": "nt-xent",
    "optimizer": "lars",
    "lars_eta": 0.001,
    "lars_clip": False,
    "lr": 0.4,
    "weight_decay": 1e-4,
    "options": {"loss": {"nt-xent": {"temperature": 0.1}}},
}

#: the paper ``simclr`` implements (model cards cite it).
SIMCLR_PAPER = ("A Simple Framework for Contrastive Learning of Visual Representations (Chen, Kornblith, Norouzi"
                " and Hinton, ICML 2020)")
#: the paper ``simclr-v2`` implements (model cards cite it).
SIMCLR_V2_PAPER = "Big Self-Supervised Models are Strong Semi-Supervised Learners (Chen et al., NeurIPS 2020)"


@hookimpl
def register_branches(register):
    register("simclr", SimCLRBranch, config=SimCLRConfig, defaults=DEFAULTS, paper=SIMCLR_PAPER)
    register("simclr-v2", SimCLRBranch, config=SimCLRConfig, options={"head_layers": 3}, defaults=DEFAULTS_V2,
             paper=SIMCLR_V2_PAPER, description="SimCLR v2: 3-layer projection head, T 0.1, LARS (Chen et al., 2020b)")
