"""Registers the ``simclr`` branch."""

from ssl_core import hookimpl
from ssl_simclr.branch import SimCLRBranch, SimCLRConfig

DEFAULTS = {
    "views": "simclr",
    "loss": "nt-xent",
    "options": {"loss": {"nt-xent": {"temperature": 0.2}}},
}


@hookimpl
def register_branches(register):
    register("simclr", SimCLRBranch, config=SimCLRConfig, defaults=DEFAULTS)
