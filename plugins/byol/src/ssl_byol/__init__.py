"""BYOL for ssl: the ``byol`` branch (online network + predictor against a momentum target)."""

from ssl_byol.branch import BYOLBranch, BYOLConfig

__all__ = ["BYOLBranch", "BYOLConfig"]
