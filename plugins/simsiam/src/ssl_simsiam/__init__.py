"""SimSiam for ssl: the ``simsiam`` branch and its projector."""

from ssl_simsiam.branch import SimSiamBranch, SimSiamConfig
from ssl_simsiam.head import SimSiamProjector

__all__ = ["SimSiamBranch", "SimSiamConfig", "SimSiamProjector"]
