"""Shuffle-BN for the key encoder: batch-norm statistics over shuffled sub-batches.

The gathered batch (all processes' samples) is permuted with a permutation every process
derives from the gathered sample indices, each process runs the key encoder on its shard
of the permuted batch, and the outputs are gathered and put back in order. The key
encoder's batch norms are [`SplitBatchNorm2d`][ssl_moco.split_bn.SplitBatchNorm2d], so each
shard is normalised in ``bn_splits`` sub-batches within one forward. On one process this is
the single-GPU emulation (shuffled sub-batches); on several it is MoCo's shuffle-BN across
processes, with each shard also split ``bn_splits`` ways.
"""

from __future__ import annotations

import torch
from ssl_core.nn import gather, rank, world_size
from torch import nn


def batch_permutation(index: torch.Tensor) -> torch.Tensor:
    """A permutation of ``len(index)`` rows seeded from the sample indices (on CPU).

    Every process computes it from the same gathered indices, so all agree without a
    broadcast, and a step stays a pure function of (parameters, buffers, batch).
    """
    n = index.shape[0]
    generator = torch.Generator().manual_seed(int(index.sum()) * 7919 + n)
    return torch.randperm(n, generator=generator)


def shuffle_bn_forward(module: nn.Module, x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``module`` on this process's rows ``x`` with shuffled batch-norm batches, rows in ``x``'s order.

    With ``N = world * n`` gathered rows and ``perm = batch_permutation(gathered index)``,
    process ``r`` runs ``module`` on ``gathered_x[perm[r*n : (r+1)*n]]`` (whose split batch
    norms normalise interleaved sub-batches with their own statistics in train mode); the
    outputs are gathered, unshuffled, and process ``r`` keeps rows ``r*n : (r+1)*n``. Call it
    on every process (it gathers).
    """
    n, world, me = x.shape[0], world_size(), rank()
    perm = batch_permutation(gather(index)).to(x.device)
    shard = perm.view(world, n)[me]
    return gather(module(gather(x)[shard]))[torch.argsort(perm)][me * n : (me + 1) * n]
