"""SwAV for ssl: the ``swav`` branch (prototypes and swapped prediction over multi-crop views)."""

from ssl_swav.branch import SwAVBranch
from ssl_swav.config import SwAVBranchConfig
from ssl_swav.prototypes import Prototypes, prototype_count
from ssl_swav.queue import EmbeddingQueue, queue_length

__all__ = ["EmbeddingQueue", "Prototypes", "SwAVBranch", "SwAVBranchConfig", "prototype_count", "queue_length"]
