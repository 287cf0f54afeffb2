"""Long-tailed data for ssl: the ``long-tail`` dataset and the ``long-tail`` protocol of ``ssl eval``."""

from ssl_longtail.dataset import LongTailConfig, long_tail
from ssl_longtail.metrics import GROUPS, class_groups, group_accuracies
from ssl_longtail.protocol import LongTailProtocol
from ssl_longtail.split import (
           COUNTS_FILE,
           LongTailSplit,
           SubsetImageDataset,
           class_counts,
           long_tail_split,
           training_subset,
)

__all__ = ["COUNTS_FILE", "GROUPS", "LongTailConfig", "LongTailProtocol", "LongTailSplit", "SubsetImageDataset",
           "class_counts", "class_groups", "group_accuracies", "long_tail", "long_tail_split", "training_subset"]
