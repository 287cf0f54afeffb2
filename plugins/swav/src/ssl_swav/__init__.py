"""SwAV for ssl: the ``swav`` branch (prototypes over multi-crop views) and the ``swav`` loss
(swapped prediction of Sinkhorn-Knopp codes)."""

from ssl_swav.branch import SwAVBranch
from ssl_swav.config import SwAVBranchConfig
from ssl_swav.loss import SwAVConfig, SwAVLoss, sinkhorn
from ssl_swav.prototypes import Prototypes, prototype_count
from ssl_swav.queue import EmbeddingQueue, queue_length

__all__ = [
    "EmbeddingQueue",
    "Prototypes",
    "SwAVBranch",
    "SwAVBranchConfig",
    "SwAVConfig",
    "SwAVLoss",
    "prototype_count",
    "queue_length",
    "sinkhorn",
]
