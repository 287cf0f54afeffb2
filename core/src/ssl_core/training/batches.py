"""Where a run's training batches come from: a DataLoader, or a split held on the device.

Both give, for the same sampler order, the same batches ``(images uint8, index, labels)``
(``labels`` ``None`` when some image of the split has none).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset

from ssl_core.data.sources import NO_LABEL, TensorImageDataset
from ssl_core.errors import ConfigError

Batches = Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]
#: ``data_on_device: auto`` on CUDA keeps a split on the device when it takes at most this
#: share of the free device memory.
FREE_MEMORY_SHARE = 0.25


def _has_labels(labels: torch.Tensor | None) -> bool:
    return labels is not None and bool((labels != NO_LABEL).all())


def on_device(dataset: Dataset, mode: str, device: torch.device, name: str) -> bool:
    """Whether the ``data_on_device`` ``mode`` (auto, yes, no) keeps ``dataset`` on ``device``.

    Only a split held in memory as one tensor (a [`TensorImageDataset`][ssl_core.TensorImageDataset])
    can be; ``auto`` keeps it there on the CPU and MPS, and on CUDA when it takes at most a
    quarter of the free device memory."""
    held = isinstance(dataset, TensorImageDataset)
    if mode == "yes" and not held:
        raise ConfigError(f"data_on_device yes needs a training split held in memory as one tensor; dataset "
                          f"{name!r} reads its images on access ({type(dataset).__name__}): for a parquet, image "
                          "folder or Hub dataset set --set dataset.in_memory=yes, or use --data-on-device auto or no")
    if mode == "no" or not held:
        return False
    if mode == "yes" or device.type != "cuda":
        return True
    free, _ = torch.cuda.mem_get_info(device)
    return dataset.images.nbytes <= FREE_MEMORY_SHARE * free


class DeviceBatches:
    """A split's images and labels copied to ``device`` once, indexed there for every batch."""

    def __init__(self, dataset: TensorImageDataset, device: torch.device, batch_size: int) -> None:
        self.images = dataset.images.to(device)
        self.labels = dataset.labels.to(device) if _has_labels(dataset.labels) else None
        self.device, self.batch_size = device, batch_size

    def __call__(self, order: list[int]) -> Batches:
        """The full batches of ``order`` (sample indices), in order; the last partial one is dropped."""
        index = torch.as_tensor(order, dtype=torch.long).to(self.device)
        for start in range(0, len(order) - self.batch_size + 1, self.batch_size):
            i = index[start:start + self.batch_size]
            yield self.images[i], i, None if self.labels is None else self.labels[i]


def loader_batches(dataset: Dataset, order: list[int], batch_size: int, num_workers: int, pin_memory: bool) -> Batches:
    """The full batches of ``order`` read through a DataLoader (``num_workers`` processes)."""
    loader = DataLoader(dataset, batch_size=batch_size, sampler=order, drop_last=True, num_workers=num_workers,
                        pin_memory=pin_memory)
    for images, index, labels in loader:
        yield images, index, labels if _has_labels(labels) else None
