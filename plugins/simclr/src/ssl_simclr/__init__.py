"""SimCLR for ssl: the ``simclr`` branch and the projection head other branches reuse."""

from ssl_simclr.branch import SimCLRBranch, SimCLRConfig
from ssl_simclr.head import ProjectionHead

__all__ = ["ProjectionHead", "SimCLRBranch", "SimCLRConfig"]
