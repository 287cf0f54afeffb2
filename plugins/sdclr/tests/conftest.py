"""Tiny SDCLR branches and batches shared by the tests."""

from __future__ import annotations

import pytest
import torch
from ssl_core import Batch, BuildContext, create

#: small head sizes per base (the bases' own defaults are thousands wide).
BASE_SIZES = {
    "simclr": {"hidden_dim": 16, "out_dim": 8},
    "byol": {"hidden_dim": 16, "out_dim": 8, "pred_hidden_dim": 16},
    "simsiam": {"hidden_dim": 16, "out_dim": 8, "pred_hidden_dim": 8},
    "moco": {"out_dim": 8, "queue_size": 64, "symmetric": True},
    "moco-v2": {"hidden_dim": 16, "out_dim": 8, "queue_size": 64, "symmetric": True},
}
#: the loss each base takes (its registered default).
BASE_LOSS = {"simclr": "nt-xent", "byol": "normalized-mse", "simsiam": "neg-cosine", "moco": "info-nce",
             "moco-v2": "info-nce"}


def _context(loss: str = "nt-xent", seed: int = 0) -> BuildContext:
    """A 16 px context with a small ResNet (widths 4-4-8-8), ``loss`` and the ``sdclr`` views."""
    torch.manual_seed(seed)
    context = BuildContext(image_size=16, num_train=256)
    context.encoder = create("encoder", "small-resnet", context, widths=(4, 4, 8, 8))
    context.loss = create("loss", loss, context)
    context.views = create("views", "sdclr", context)
    return context


def _branch(base: str = "simclr", prune_ratio: float = 0.9, **base_options):
    """An ``sdclr-pruned`` branch on ``base`` (small heads) and its context."""
    context = _context(BASE_LOSS[base])
    options = {**BASE_SIZES[base], **base_options}
    branch = create("branch", "sdclr-pruned", context, base=base, base_options=options, prune_ratio=prune_ratio)
    return branch, context


def _batch(context: BuildContext, n: int = 8, seed: int = 1) -> Batch:
    """A batch of ``n`` random 16 px images and their two views."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 3, 16, 16, generator=generator)
    views = context.views(images, generator)
    return Batch(views=views, image=images, index=torch.arange(n))


@pytest.fixture
def make_context():
    """``make_context(loss="nt-xent", seed=0) -> BuildContext`` (small ResNet, ``sdclr`` views)."""
    return _context


@pytest.fixture
def make_branch():
    """``make_branch(base="simclr", prune_ratio=0.9, **base_options) -> (branch, context)``."""
    return _branch


@pytest.fixture
def make_batch():
    """``make_batch(context, n=8, seed=1) -> Batch`` of random 16 px images."""
    return _batch
