"""SimCLR for ssl: the ``simclr`` branch (its projection head is ``ssl_core.heads.ProjectionHead``)."""

from ssl_simclr.branch import SimCLRBranch, SimCLRConfig

__all__ = ["SimCLRBranch", "SimCLRConfig"]
