"""The pool / validation / few-shot division of a labelled training split, for ``ssl eval``.

1. **Pool and validation.** Each class keeps ``floor(9 * n_c / 10)`` of its ``n_c`` images
   (90%) in the pool; the rest is the validation split (model selection). One permutation
   per class from ``numpy.random.default_rng([0, 0])``, classes in index order.
2. **Few-shot subset.** Each class's pool is shuffled with ``numpy.random.default_rng([0, 1])``
   (classes in index order) and its first ``max(1, floor(n_min / 100))`` images are taken,
   ``n_min`` the smallest class pool: 1% of the pool, balanced.

The long-tail plugin (``ssl-longtail``) draws its subsets from the same pool, so a run's
probes see the same images whatever it trained on.
"""

from __future__ import annotations

import attrs
import numpy as np

POOL_STREAM = (0, 0)
FEW_SHOT_STREAM = (0, 1)


@attrs.frozen
class Holdout:
    """Index arrays into the training split, each sorted ascending."""

    pool: np.ndarray
    validation: np.ndarray
    few_shot: np.ndarray


def holdout(labels: np.ndarray, num_classes: int) -> Holdout:
    """The pool, validation and few-shot indices of ``labels`` (module doc)."""
    labels = np.asarray(labels)
    sizes = np.bincount(labels, minlength=num_classes)
    if sizes.min() < 2:
        raise ValueError(f"class {int(sizes.argmin())} has {int(sizes.min())} labelled images; the probes need "
                         "at least 2 per class (pool and validation)")
    pool_rng, few_rng = np.random.default_rng(list(POOL_STREAM)), np.random.default_rng(list(FEW_SHOT_STREAM))
    pools, validation = [], []
    for c in range(num_classes):
        members = pool_rng.permutation(np.flatnonzero(labels == c))
        keep = 9 * len(members) // 10
        pools.append(few_rng.permutation(members[:keep]))
        validation.append(members[keep:])
    few = max(1, min(len(p) for p in pools) // 100)
    return Holdout(pool=np.sort(np.concatenate(pools)), validation=np.sort(np.concatenate(validation)),
                   few_shot=np.sort(np.concatenate([p[:few] for p in pools])))
