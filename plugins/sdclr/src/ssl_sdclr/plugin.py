"""Registers the ``sdclr-pruned`` branch."""

from ssl_core import hookimpl

from ssl_sdclr.base import run_defaults
from ssl_sdclr.branch import SDCLRBranch
from ssl_sdclr.config import SDCLRConfig

#: the paper ``sdclr-pruned`` implements (model cards cite it).
SDCLR_PRUNED_PAPER = "Self-Damaging Contrastive Learning (Jiang, Chen, Mortazavi and Wang, ICML 2021)"


@hookimpl
def register_branches(register):
    register("sdclr-pruned", SDCLRBranch, config=SDCLRConfig, defaults=run_defaults, paper=SDCLR_PRUNED_PAPER)
