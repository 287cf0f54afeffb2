"""SimCLR for ssl: the ``simclr`` and ``simclr-v2`` branches (head: ``ssl_core.heads.ProjectionHead``)."""

from ssl_simclr.branch import SimCLRBranch, SimCLRConfig, SimCLRV2Config

__all__ = ["SimCLRBranch", "SimCLRConfig", "SimCLRV2Config"]
