"""Tiny deterministic models and inputs shared by the 2-process scripts and their tests."""

from __future__ import annotations

import torch
from ssl_core import BuildContext, create

#: processes the scripts are launched with, and the global batch they split.
WORLD = 2
GLOBAL_BATCH = 8
#: sample indices of the global batch (they seed MoCo's shuffle).
INDEX = torch.tensor([3, 14, 15, 92, 65, 35, 89, 79])


def local_rows(rank: int) -> slice:
    """The rows of the global batch that process ``rank`` holds."""
    n = GLOBAL_BATCH // WORLD
    return slice(rank * n, (rank + 1) * n)


def images(n: int = GLOBAL_BATCH, seed: int = 0) -> torch.Tensor:
    """``n`` random 16 px images (already "normalised")."""
    return torch.randn(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))


def _context(loss: str, **loss_options) -> BuildContext:
    torch.manual_seed(0)
    context = BuildContext(image_size=16, batch_size=GLOBAL_BATCH)
    context.encoder = create("encoder", "small-resnet", context, widths=(4, 4, 8, 8))
    context.loss = create("loss", loss, context, **loss_options)
    return context


def simclr_branch():
    """SimCLR with a tiny encoder, in eval mode: batch norm uses its running statistics, so a
    sample's embedding does not depend on the batch it is in (1 x B and 2 x B/2 compare)."""
    branch = create("branch", "simclr", _context("nt-xent", temperature=0.5), hidden_dim=16, out_dim=8)
    return branch.eval()


def moco_branch(bn_splits: int = 1, queue_size: int = 24):
    """MoCo with a tiny encoder (train mode) and a short queue of 6-d keys."""
    return create("branch", "moco", _context("info-nce", temperature=0.2), out_dim=6, bn_splits=bn_splits,
                  queue_size=queue_size)


def sinkhorn_scores() -> torch.Tensor:
    """Prototype scores (global batch 8, 5 prototypes) with rows of different scales."""
    scores = torch.randn(GLOBAL_BATCH, 5, generator=torch.Generator().manual_seed(2))
    return scores * torch.linspace(0.05, 0.3, GLOBAL_BATCH)[:, None]
