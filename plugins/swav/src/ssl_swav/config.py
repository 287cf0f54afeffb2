"""Options of the ``swav`` branch."""

from __future__ import annotations

import attrs
from ssl_core import non_negative, option, positive


@attrs.define
class SwAVBranchConfig:
    """Options of the ``swav`` branch (the loss's temperature and Sinkhorn settings are ``loss.*``)."""

    hidden_dim: int = option(2048, "projector hidden width", validator=positive)
    out_dim: int = option(128, "embedding dimension D (also the prototypes' dimension)", validator=positive)
    num_prototypes: int = option(3000, "prototypes K, before the small-dataset cap", validator=positive)
    samples_per_prototype: int = option(
        10, "cap K at num_train // this (but keep at least 10 prototypes); 0: no cap", validator=non_negative)
    freeze_prototypes_epochs: int = option(1, "first epochs in which the prototypes are not updated",
                                           validator=non_negative)
    queue_length: int = option(0, "past embeddings per global crop added to the codes' Sinkhorn "
                                  "(0: no queue; rounded to whole global batches)", validator=non_negative)
    queue_start_epoch: int = option(15, "epoch (0-based) from which the queue is filled; it is used once full",
                                    validator=non_negative)
