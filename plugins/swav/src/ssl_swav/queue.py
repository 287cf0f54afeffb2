"""The queue of past embeddings that SwAV adds to the codes' Sinkhorn for small batches."""

from __future__ import annotations

import torch
from torch import nn


def queue_length(requested: int, num_train: int, global_batch: int) -> int:
    """The queue length L a run uses: whole global batches, at most one epoch.

        L = max(B, min(requested, num_train) // B * B)

    with ``B`` the global batch; ``num_train = 0`` (unknown) leaves ``requested`` uncapped.
    A queue longer than the dataset would hold the same images more than once.
    """
    if num_train > 0:
        requested = min(requested, num_train)
    return max(global_batch, requested // global_batch * global_batch)


class EmbeddingQueue(nn.Module):
    """A FIFO of the L newest embeddings of each of the G global crops, newest first.

    ``embeddings`` (G, L, D) and ``count`` (how many rows hold embeddings, at most L) are
    persistent buffers, so checkpoints keep them. L is fixed when the branch is built.
    The queue is ``full`` once L embeddings went in; SwAV uses it only then (before, the
    empty rows would bias the codes).
    """

    def __init__(self, num_global: int, length: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("embeddings", torch.zeros(num_global, length, dim))
        self.register_buffer("count", torch.zeros((), dtype=torch.long))

    @property
    def length(self) -> int:
        """The number of rows L."""
        return self.embeddings.shape[1]

    @property
    def full(self) -> bool:
        """Whether every row holds an embedding."""
        return int(self.count) >= self.length

    @torch.no_grad()
    def push(self, embeddings: torch.Tensor) -> None:
        """Put ``embeddings`` (G, n, D) in front; the oldest n rows drop out of the back."""
        n = min(embeddings.shape[1], self.length)
        self.embeddings[:, n:] = self.embeddings[:, : self.length - n].clone()
        self.embeddings[:, :n] = embeddings[:, :n].to(self.embeddings.dtype)
        self.count.fill_(min(self.length, int(self.count) + embeddings.shape[1]))

    def rows_of(self, rank: int, processes: int) -> torch.Tensor:
        """This process's share (G, L / processes, D): the Sinkhorn sums add up the shares."""
        share = self.length // processes
        return self.embeddings[:, rank * share : (rank + 1) * share]
