"""MoCo for ssl: the ``moco`` (v1) and ``moco-v2`` branches."""

from ssl_moco.branch import MoCoBranch
from ssl_moco.config import MoCoConfig
from ssl_moco.head import moco_head
from ssl_moco.queue import effective_queue_size, fifo_enqueue
from ssl_moco.shuffle_bn import batch_permutation, shuffle_bn_forward

__all__ = ["MoCoBranch", "MoCoConfig", "batch_permutation", "effective_queue_size", "fifo_enqueue",
           "moco_head", "shuffle_bn_forward"]
