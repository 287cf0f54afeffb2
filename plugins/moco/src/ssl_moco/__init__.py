"""MoCo for ssl: the ``moco`` (v1) and ``moco-v2`` branches."""

from ssl_moco.branch import MoCoBranch
from ssl_moco.config import MoCoConfig
from ssl_moco.head import moco_head
from ssl_moco.queue import effective_queue_size, fifo_enqueue
from ssl_moco.shuffle_bn import batch_permutation, shuffle_bn_forward
from ssl_moco.split_bn import SplitBatchNorm2d, split_batch_norms

__all__ = ["MoCoBranch", "MoCoConfig", "SplitBatchNorm2d", "batch_permutation", "effective_queue_size",
           "fifo_enqueue", "moco_head", "shuffle_bn_forward", "split_batch_norms"]
