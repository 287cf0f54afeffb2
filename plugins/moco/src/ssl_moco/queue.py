"""The FIFO queue of keys: its size rule and the in-place enqueue."""

from __future__ import annotations

import torch


def effective_queue_size(queue_size: int, num_train: int, keys_per_step: int) -> int:
    """The queue length K a run uses.

        K = max(n, min(queue_size, n * floor((num_train // 2) / n)))

    with ``n`` the keys enqueued per step (the global batch, twice it when symmetric). So a
    queue spans at most half an epoch (it never holds two keys of one image from recent
    steps), is a whole number of steps, and holds at least one step. ``num_train = 0``
    (unknown) leaves ``queue_size`` uncapped.
    """
    if num_train <= 0:
        return max(queue_size, keys_per_step)
    capped = (num_train // 2) // keys_per_step * keys_per_step
    return max(keys_per_step, min(queue_size, capped))


@torch.no_grad()
def fifo_enqueue(queue: torch.Tensor, ptr: torch.Tensor, keys: torch.Tensor) -> None:
    """Write ``keys`` over the oldest rows of ``queue`` from ``ptr`` on, wrapping around.

    ``queue`` (K, D) keeps its size and afterwards holds the newest K keys; ``ptr`` (a long
    scalar tensor) advances by ``len(keys)`` modulo K. Both are modified in place.
    """
    size = queue.shape[0]
    keys = keys[-size:].to(queue.dtype)
    rows = (ptr + torch.arange(keys.shape[0], device=queue.device)) % size  # on the device: no host sync
    queue[rows] = keys
    ptr.copy_((ptr + keys.shape[0]) % size)
