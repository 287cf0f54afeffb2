"""Tiny Barlow Twins contexts, batches and run settings for the tests."""

from __future__ import annotations

import torch
from ssl_core import Batch, BuildContext, create

#: small projector sizes (the defaults are 2048 wide).
SIZES = {"hidden_dim": 32, "out_dim": 32}
#: a tiny run: small ResNet 8-8-16-16 on 40 shapes images at 16 px (one epoch: 2 steps of 16).
TINY_SETS = ["encoder.widths=[8, 8, 16, 16]", "dataset.num_train=40", "dataset.num_test=20", "dataset.image_size=16"]


def context(seed: int = 0, **options) -> BuildContext:
    """A 16 px context (small ResNet 8-8-16-16, the barlow-twins loss, byol views) with ``ctx.branch`` built."""
    torch.manual_seed(seed)
    ctx = BuildContext(image_size=16, num_train=256)
    ctx.encoder = create("encoder", "small-resnet", ctx, widths=(8, 8, 16, 16))
    ctx.loss = create("loss", "barlow-twins", ctx)
    ctx.views = create("views", "byol", ctx)
    ctx.branch = create("branch", "barlow-twins", ctx, **{**SIZES, **options})
    return ctx


def batch(ctx: BuildContext, n: int = 8, seed: int = 1) -> Batch:
    """``n`` random images of the context's size and their two views."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, ctx.channels, ctx.image_size, ctx.image_size, generator=generator)
    return Batch(views=ctx.views(images, generator), image=images, index=torch.arange(n))
