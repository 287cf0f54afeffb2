"""SDCLR for ssl: the ``sdclr-pruned`` branch and its pruned self-competitor."""

from ssl_sdclr.branch import SDCLRBranch
from ssl_sdclr.competitor import SelfCompetitor
from ssl_sdclr.config import SDCLRConfig
from ssl_sdclr.pruning import global_magnitude_masks, prune_count

__all__ = ["SDCLRBranch", "SDCLRConfig", "SelfCompetitor", "global_magnitude_masks",
           "prune_count"]
