"""Tiny branches, batches and a smooth float64 model for the icl-msr tests and the 2-process script."""

from __future__ import annotations

from types import SimpleNamespace

import torch
import torch.nn.functional as F
from ssl_core import Batch, BuildContext, Loss, LossOutput, create
from torch import nn

#: small head sizes per base branch (their defaults are thousands wide).
SIZES = {
    "simclr": {"hidden_dim": 16, "out_dim": 8},
    "byol": {"hidden_dim": 16, "out_dim": 8, "pred_hidden_dim": 16},
    "simsiam": {"hidden_dim": 16, "out_dim": 8, "pred_hidden_dim": 8},
    "moco": {"out_dim": 8, "queue_size": 64},
    "moco-v2": {"hidden_dim": 16, "out_dim": 8, "queue_size": 64},
}
#: each base branch's registered loss.
LOSS = {"simclr": "nt-xent", "byol": "normalized-mse", "simsiam": "neg-cosine", "moco": "info-nce",
        "moco-v2": "info-nce"}
#: (branch, base) pairs covering every supported branch; base is sdclr-pruned's.
BRANCHES = [("simclr", None), ("simsiam", None), ("byol", None), ("moco", None), ("moco-v2", None),
            ("sdclr-pruned", "simclr"), ("sdclr-pruned", "byol"), ("sdclr-pruned", "moco")]


def context(branch: str, base: str | None = None, seed: int = 0, **branch_options) -> BuildContext:
    """A 16 px context (small ResNet 4-4-8-8, the branch's loss and views) with ``branch`` built."""
    torch.manual_seed(seed)
    ctx = BuildContext(image_size=16, num_train=256)
    ctx.encoder = create("encoder", "small-resnet", ctx, widths=(4, 4, 8, 8))
    ctx.loss = create("loss", LOSS[base or branch], ctx)
    ctx.views = create("views", "simclr", ctx)
    if branch == "sdclr-pruned":
        options = {**SIZES[base], **({"symmetric": True} if base.startswith("moco") else {})}
        ctx.branch = create("branch", branch, ctx, base=base, base_options=options, **branch_options)
    else:
        ctx.branch = create("branch", branch, ctx, **{**SIZES[branch], **branch_options})
    return ctx


def batch(ctx: BuildContext, n: int = 8, seed: int = 1, dtype: torch.dtype = torch.float32) -> Batch:
    """``n`` random images of the context's size and their two views."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, ctx.channels, ctx.image_size, ctx.image_size, generator=generator)
    views = [v.to(dtype) for v in ctx.views(images, generator)] if ctx.views is not None else \
        [torch.randn(images.shape, generator=generator, dtype=dtype) for _ in range(2)]
    return Batch(views=views, image=images.to(dtype), index=torch.arange(n) * 3 + seed)


def train_context(branch, step: int = 0, lr: float = 0.5) -> SimpleNamespace:
    """The fields of a TrainContext that icl-msr reads in its stage-2 step."""
    return SimpleNamespace(branch=branch, global_step=step, lr=lr, metrics={}, accelerator=SimpleNamespace(scaler=None))


class Float64NTXent(Loss):
    """NT-Xent (T 0.5) in the input's precision (the core's losses compute in float32), for finite
    differences in float64."""

    input_kind = "pair"

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> LossOutput:
        n = z1.shape[0]
        w = F.normalize(torch.cat([z1, z2]), dim=1)
        logits = (w @ w.T / 0.5).masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
        positive = torch.cat([torch.arange(n, 2 * n), torch.arange(n)])
        log_prob = torch.log_softmax(logits, dim=1)[torch.arange(2 * n), positive]
        return LossOutput(loss=-log_prob.mean(), positive_log_prob=log_prob)


def smooth_context(seed: int = 0) -> BuildContext:
    """A float64 SimCLR whose encoder is smooth (conv, BN, tanh), so finite differences converge."""
    torch.manual_seed(seed)
    encoder = nn.Sequential(nn.Conv2d(3, 6, 3, 2, 1), nn.BatchNorm2d(6), nn.Tanh(), nn.Conv2d(6, 8, 3, 2, 1),
                            nn.BatchNorm2d(8), nn.Tanh(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    encoder.feature_dim = 8
    ctx = BuildContext(image_size=8)
    ctx.encoder, ctx.loss = encoder, Float64NTXent()
    ctx.branch = create("branch", "simclr", ctx, hidden_dim=16, out_dim=8).double()
    return ctx
