"""MoCo v3 for ssl: the ``moco-v3`` branch and the ``moco-v3`` loss.

Written against the public API only (``ssl_core`` and ``ssl_core.nn``), as a third-party
plugin would be.
"""

from ssl_moco_v3.branch import MoCoV3Branch, moco_v3_head
from ssl_moco_v3.config import MoCoV3Config, MoCoV3LossConfig
from ssl_moco_v3.loss import MoCoV3Loss

__all__ = ["MoCoV3Branch", "MoCoV3Config", "MoCoV3Loss", "MoCoV3LossConfig", "moco_v3_head"]
