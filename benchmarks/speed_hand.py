"""Hand-written training steps for benchmarks/speed.py: each method's math in plain PyTorch.

A step takes the views, returns the loss, and ``after_step`` does the momentum update, the
enqueue or the prototype renormalisation, as a researcher writing the loop would. The
modules (encoder, heads, momentum copies, the queue's initial keys, the prototypes) are
taken from the project's built branch, so both sides run the same networks at the same
widths; the losses, the shuffle-BN, the Sinkhorn step and the updates are written here.
MoCo's key encoder is a plain copy of the encoder (``BatchNorm2d``) run on the shuffled
batch's ``bn_splits`` chunks one by one, the way shuffle-BN is usually written by hand.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    logits = (z @ z.T / temperature).masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(logits, target)


def lerp_(target: nn.Module, online: nn.Module, momentum: float) -> None:
    with torch.no_grad():
        torch._foreach_lerp_(list(target.parameters()), list(online.parameters()), 1 - momentum)


def sinkhorn(scores: torch.Tensor, epsilon: float, iterations: int) -> torch.Tensor:
    q = torch.exp(scores / epsilon).T
    q /= q.sum()
    k, b = q.shape
    for _ in range(iterations):
        q /= q.sum(dim=1, keepdim=True) * k
        q /= q.sum(dim=0, keepdim=True) * b
    return (q * b).T


class HandStep:
    """One method's step written by hand around the modules of ``branch`` (module docstring)."""

    def __init__(self, method: str, branch: nn.Module, cfg: dict, steps_per_epoch: int, total_steps: int) -> None:
        self.method, self.b, self.total_steps, self.steps_per_epoch = method, branch, total_steps, steps_per_epoch
        self.opts = cfg["options"]["branch"][method]
        self.loss_opts = cfg["options"]["loss"].get(cfg["loss"], {})
        if method == "moco-v2":
            self.queue = branch.queue.detach().clone()
            self.ptr = 0
            self.key_encoder = copy.deepcopy(branch.encoder).requires_grad_(False)

    def loss(self, views: list[torch.Tensor], step: int) -> torch.Tensor:
        b, m = self.b, self.method
        if m == "simclr":
            z1, z2 = b.head(b.encoder(torch.cat(views[:2]))).chunk(2)
            return nt_xent(z1, z2, self.loss_opts["temperature"])
        if m == "moco-v2":
            q = F.normalize(b.head(b.encoder(views[0])), dim=1)
            with torch.no_grad():
                n = views[1].shape[0]
                splits = max(d for d in range(1, min(self.opts["bn_splits"], n // 2) + 1) if n % d == 0)
                order = torch.randperm(n, device=q.device)
                keys = torch.cat([self.key_encoder(part) for part in views[1][order].chunk(splits)])
                k = F.normalize(b.key_head(keys), dim=1)[torch.argsort(order)]
            self.keys = k
            logits = torch.cat([(q * k).sum(1, keepdim=True), q @ self.queue.T], dim=1) / self.loss_opts["temperature"]
            return F.cross_entropy(logits, torch.zeros(n, dtype=torch.long, device=q.device))
        if m == "byol":
            p = [b.predictor(b.projector(b.encoder(v))) for v in views[:2]]
            with torch.no_grad():
                t = [b.target_projector(b.target_encoder(v)) for v in views[:2]]
            return sum((2 - 2 * F.cosine_similarity(x, y.detach(), dim=1)).mean() for x, y in ((p[0], t[1]), (p[1], t[0])))
        if m == "simsiam":
            z = [b.projector(b.encoder(v)) for v in views[:2]]
            p = [b.predictor(x) for x in z]
            return -(F.cosine_similarity(p[0], z[1].detach(), dim=1).mean()
                     + F.cosine_similarity(p[1], z[0].detach(), dim=1).mean()) / 2
        if m == "swav":
            groups: dict[tuple, list[int]] = {}
            for i, v in enumerate(views):
                groups.setdefault(tuple(v.shape[1:]), []).append(i)
            n = views[0].shape[0]
            features: list = [None] * len(views)
            for members in groups.values():
                for i, part in zip(members, b.encoder(torch.cat([views[i] for i in members])).split(n)):
                    features[i] = part
            z = F.normalize(b.projector(torch.cat(features)), dim=1)
            scores = (z @ b.prototypes.weight.T).split(n)
            o = self.loss_opts
            total, terms = 0.0, 0
            for i in range(o.get("num_global", 2)):
                with torch.no_grad():
                    q = sinkhorn(scores[i].detach(), o["epsilon"], o["sinkhorn_iterations"])
                for v in range(len(scores)):
                    if v != i:
                        total = total - (q * F.log_softmax(scores[v] / o["temperature"], dim=1)).sum(1).mean()
                        terms += 1
            return total / terms
        raise ValueError(m)

    def before_optimizer(self, step: int) -> None:
        """SwAV's prototypes stay frozen for their first epochs."""
        if self.method == "swav" and step < self.opts["freeze_prototypes_epochs"] * self.steps_per_epoch:
            self.b.prototypes.weight.grad = None

    def after_step(self, step: int) -> None:
        b, m = self.b, self.method
        if m == "moco-v2":
            lerp_(self.key_encoder, b.encoder, self.opts["momentum"])
            lerp_(b.key_head, b.head, self.opts["momentum"])
            size = self.queue.shape[0]
            rows = (self.ptr + torch.arange(self.keys.shape[0], device=self.queue.device)) % size
            self.queue[rows] = self.keys
            self.ptr = (self.ptr + self.keys.shape[0]) % size
        elif m == "byol":
            base, final = self.opts["base_tau"], self.opts["final_tau"]
            tau = final - (final - base) * (math.cos(math.pi * step / self.total_steps) + 1) / 2
            lerp_(b.target_encoder, b.encoder, tau)
            lerp_(b.target_projector, b.projector, tau)
        elif m == "swav":
            with torch.no_grad():
                b.prototypes.weight.copy_(F.normalize(b.prototypes.weight, dim=1))
