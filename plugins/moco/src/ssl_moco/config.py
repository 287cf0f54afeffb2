"""Options of the MoCo branches: one class; ``moco-v2`` presets ``head: mlp`` at registration."""

from __future__ import annotations

import attrs
from ssl_core import one_of, option, positive, probability

_HEAD_DOC = "projection head: linear (v1) or mlp (Linear-ReLU-Linear, v2)"


@attrs.define
class MoCoConfig:
    """Options of the ``moco`` branch (MoCo v1: a linear 128-d head)."""

    head: str = option("linear", _HEAD_DOC, validator=one_of("linear", "mlp"))
    hidden_dim: int = option(2048, "hidden width of the mlp head (unused by the linear head)", validator=positive)
    out_dim: int = option(128, "key/query embedding dimension D", validator=positive)
    momentum: float = option(0.999, "EMA momentum m of the key encoder and key head",
                             validator=probability, converter=float)
    queue_size: int = option(65536, "queue length K, capped to half the dataset (see the docs)",
                             validator=positive)
    symmetric: bool = option(False, "symmetric loss (q1,k2)+(q2,k1) over 2 and enqueue both views' keys")
    bn_splits: int = option(8, "sub-batches with separate BN statistics in the key encoder, per process (1: no split)",
                            validator=positive)
