"""Registers the ``sdclr-pruned`` branch."""

from ssl_core import hookimpl

from ssl_sdclr.branch import SDCLRBranch
from ssl_sdclr.config import SDCLRConfig

#: the official SDCLR views (CIFAR recipe at 64 px or less) and NT-Xent with T 0.2.
DEFAULTS = {
    "views": "sdclr",
    "loss": "nt-xent",
    "options": {"loss": {"nt-xent": {"temperature": 0.2}}},
}


@hookimpl
def register_branches(register):
    register("sdclr-pruned", SDCLRBranch, config=SDCLRConfig, defaults=DEFAULTS)
