"""Long-tailed training subsets of any labelled dataset, drawn from its label array alone.

The construction follows CIFAR-10-LT of SDCLR (Jiang et al., ICML 2021) with our own
documented draws (the official index files cannot be mapped to another copy of the data):

1. **Pool and validation.** Each class keeps ``floor(9 * n_c / 10)`` of its ``n_c`` images
   (90%) in the pool; the rest is the validation split (model selection of ``ssl eval``).
   This division is the same for every split seed, as the paper's fixed 45k/5k lists are:
   one permutation per class from ``numpy.random.default_rng([0, 0])``, classes in index
   order. CIFAR-10: 4,500 pool and 500 validation images per class.
2. **Long-tailed subset.** With ``n_max`` the smallest class pool, class ``k`` (class index
   order: class 0 is the head) keeps ``floor(n_max * R ** (-k / (C - 1)))`` images. CIFAR-10
   at R = 100: 4500, 2697, 1617, 969, 581, 348, 208, 125, 75, 45 (11,165 in all).
3. **Balanced twin**: ``floor(total / C)`` images of every class, the same total rounded down
   to a multiple of C (1,116 per class, 11,160 for CIFAR-10-LT R = 100).
4. **Few-shot subset**: ``max(1, floor(n_max / 100))`` images per class (1% of the pool; 45
   for CIFAR-10), capped by the smallest long-tailed class.

The split seed S shuffles each class's pool (``numpy.random.default_rng([S, 1])``, classes
in index order). The long-tailed subset takes the first ``n_k`` images of that order, the
balanced twin the first ``floor(total / C)`` and the few-shot subset the first
``few-shot`` ones, so the few-shot subset lies in both others.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np
import torch
from ssl_core import NO_LABEL, DatasetSplits, ImageDataset, TensorImageDataset

POOL_STREAM = [0, 0]
"""Seed of the pool/validation division (one draw for every split seed; ``ssl eval``'s too)."""
COUNTS_FILE = "class_counts.json"


def class_counts(n_max: int, num_classes: int, imbalance: float) -> list[int]:
    """Images per class under the exponential profile ``floor(n_max * R ** (-k / (C - 1)))``."""
    steps = max(num_classes - 1, 1)
    # The tiny epsilon keeps exact products (4500 * 100 ** -1 = 45) from flooring to one less.
    return [math.floor(n_max * imbalance ** (-k / steps) + 1e-9) for k in range(num_classes)]


@attrs.frozen
class LongTailSplit:
    """Index arrays into the labelled training set (each sorted ascending) and the counts.

    Attributes:
        imbalance: the ratio R of the largest to the smallest long-tailed class.
        seed: the split seed.
        pool: the 90% of every class the subsets are drawn from (the full-shot probe's training set).
        validation: the other 10% (model selection).
        long_tail: the long-tailed subset.
        balanced: its balanced twin.
        few_shot: the balanced few-shot subset, contained in both.
        long_tail_counts: images per class in ``long_tail``.
    """

    imbalance: float
    seed: int
    pool: np.ndarray
    validation: np.ndarray
    long_tail: np.ndarray
    balanced: np.ndarray
    few_shot: np.ndarray
    long_tail_counts: list[int]


def long_tail_split(labels: np.ndarray | torch.Tensor, num_classes: int, imbalance: float,
                    seed: int = 0) -> LongTailSplit:
    """The pool, validation, long-tailed, balanced-twin and few-shot indices of ``labels``
    (see the module doc for the rule)."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be a 1-D array of class ids in [0, {num_classes})")
    if imbalance < 1:
        raise ValueError(f"imbalance must be a ratio R >= 1, got {imbalance}")
    sizes = np.bincount(labels, minlength=num_classes)
    if sizes.min() < 2:
        raise ValueError(f"class {int(sizes.argmin())} has {int(sizes.min())} labelled images; a long-tailed "
                         "split needs at least 2 per class (pool and validation)")
    pool_rng, subset_rng = np.random.default_rng(POOL_STREAM), np.random.default_rng([seed, 1])
    pools, validation = [], []
    for c in range(num_classes):
        members = pool_rng.permutation(np.flatnonzero(labels == c))
        keep = 9 * len(members) // 10
        pools.append(subset_rng.permutation(members[:keep]))
        validation.append(members[keep:])
    n_max = min(len(p) for p in pools)
    counts = class_counts(n_max, num_classes, imbalance)
    if min(counts) < 1:
        empty = [k for k, n in enumerate(counts) if n == 0]
        raise ValueError(f"imbalance {imbalance:g} leaves class(es) {empty} with no image (pool of {n_max} per "
                         f"class); use an imbalance of at most {n_max}")
    per_class = sum(counts) // num_classes
    few = min(max(1, n_max // 100), min(counts))

    def take(sizes: list[int]) -> np.ndarray:
        return np.sort(np.concatenate([p[:n] for p, n in zip(pools, sizes)]))

    return LongTailSplit(
        imbalance=float(imbalance), seed=seed, pool=np.sort(np.concatenate(pools)),
        validation=np.sort(np.concatenate(validation)), long_tail=take(counts),
        balanced=take([per_class] * num_classes), few_shot=take([few] * num_classes), long_tail_counts=counts)


class SubsetImageDataset(ImageDataset):
    """The images ``indices`` of ``base``, numbered ``0 .. len - 1`` (the trainer's sample index)."""

    def __init__(self, base: ImageDataset, indices: np.ndarray) -> None:
        self.base = base
        self.indices = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        self.image_size = base.image_size
        self.labels = None if base.labels is None else base.labels[self.indices]

    def __len__(self) -> int:
        return self.indices.shape[0]

    def __getitem__(self, index: int):
        image, _, label = self.base[int(self.indices[index])]
        return image, index, label


def subset(base: ImageDataset, indices: np.ndarray) -> ImageDataset:
    """The images ``indices`` of ``base``: copied into one tensor when ``base`` is held in memory
    (so the trainer can index it on the device), else read through ``base`` on access."""
    if isinstance(base, TensorImageDataset):
        index = torch.as_tensor(np.asarray(indices), dtype=torch.long)
        return TensorImageDataset(base.images[index], None if base.labels is None else base.labels[index])
    return SubsetImageDataset(base, indices)


def labelled(data: DatasetSplits) -> tuple[np.ndarray, int] | None:
    """The training labels and class count, or ``None`` when some training image has no label."""
    labels = data.train.labels
    if labels is None or len(labels) == 0 or bool((labels == NO_LABEL).any()):
        return None
    labels = labels.numpy()
    return labels, data.num_classes or int(labels.max()) + 1


def training_subset(data: DatasetSplits, imbalance: float, split_seed: int = 0,
                    balanced_twin: bool = False) -> tuple[DatasetSplits, dict[str, Any]]:
    """The long-tailed subset of ``data``'s training split (or its balanced twin) and the
    record of its class counts (``class_counts.json``)."""
    found = labelled(data)
    if found is None:
        raise ValueError(f"imbalance {imbalance:g} needs a labelled training split, and this dataset's training "
                         "images have no labels (or not all of them)")
    labels, num_classes = found
    split = long_tail_split(labels, num_classes, imbalance, split_seed)
    indices = split.balanced if balanced_twin else split.long_tail
    counts = np.bincount(labels[indices], minlength=num_classes).tolist()
    record = {"subset": "balanced" if balanced_twin else "long-tail", "imbalance": float(imbalance),
              "split_seed": split_seed, "counts": counts, "total": sum(counts),
              "long_tail_counts": split.long_tail_counts, "pool_size": len(split.pool),
              "validation_size": len(split.validation), "few_shot_per_class": len(split.few_shot) // num_classes,
              "class_names": data.class_names}
    return attrs.evolve(data, train=subset(data.train, indices)), record
