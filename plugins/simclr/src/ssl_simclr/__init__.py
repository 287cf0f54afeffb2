"""SimCLR for ssl: the ``simclr`` and ``simclr-v2`` branches (head: ``ssl_core.nn.ProjectionHead``)."""

from ssl_simclr.branch import SimCLRBranch, SimCLRConfig

__all__ = ["SimCLRBranch", "SimCLRConfig"]
