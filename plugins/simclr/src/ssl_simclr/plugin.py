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


@hookimpl
def register_branches(register):
    register("simclr", SimCLRBranch, config=SimCLRConfig, defaults=DEFAULTS)
    register("simclr-v2", SimCLRBranch, config=SimCLRConfig, options={"head_layers": 3}, defaults=DEFAULTS_V2,
             description="SimCLR v2: 3-layer projection head, T 0.1, LARS (Chen et al., 2020b)")
