"""Barlow Twins for ssl: the ``barlow-twins`` branch and the ``barlow-twins`` loss.

Written against the public API only (``ssl_core`` and ``ssl_core.nn``), as a third-party
plugin would be.
"""

from ssl_barlow_twins.branch import BarlowTwinsBranch
from ssl_barlow_twins.config import BarlowTwinsConfig, BarlowTwinsLossConfig
from ssl_barlow_twins.loss import BarlowTwinsLoss, barlow_twins_loss, cross_correlation

__all__ = [
    "BarlowTwinsBranch",
    "BarlowTwinsConfig",
    "BarlowTwinsLoss",
    "BarlowTwinsLossConfig",
    "barlow_twins_loss",
    "cross_correlation",
]
