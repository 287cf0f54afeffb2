"""Optimisers of the core configuration: SGD with momentum, LARS and AdamW."""

from __future__ import annotations

from typing import Any

import torch
from torch.optim import Optimizer


class LARS(Optimizer):
    """SGD with momentum and a layer-wise trust ratio (You et al., 2017).

    For each weight ``w`` with gradient ``g`` (biases and norm parameters are put in groups
    with ``lars=False`` and no weight decay, as in SimCLR), with global lr ``lr``:

        trust = eta * |w| / (|g| + wd * |w|)          (1 if either norm is 0)
        local = min(trust, lr) if clip else lr * trust
        v <- momentum * v + (local / lr) * (g + wd * w);   w <- w - lr * v

    ``eta`` 0.001 without clipping is the LARS and SimCLR papers' rule; ``clip`` is LARC
    (NVIDIA apex) as solo-learn's CIFAR recipes use it (eta 0.02).
    """

    def __init__(self, params: Any, lr: float, momentum: float = 0.9, weight_decay: float = 0.0,
                 eta: float = 0.001, clip: bool = False) -> None:
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay, "eta": eta,
                                  "clip": clip, "lars": True})

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        """One update of every parameter with a gradient."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            wd, lr = group["weight_decay"], group["lr"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad.add(p, alpha=wd) if wd else p.grad.clone()
                if group["lars"]:
                    w_norm, g_norm = torch.linalg.vector_norm(p), torch.linalg.vector_norm(p.grad)
                    trust = group["eta"] * w_norm / (g_norm + wd * w_norm)
                    scale = trust.div(lr).clamp(max=1.0) if group["clip"] else trust
                    grad.mul_(torch.where((w_norm > 0) & (g_norm > 0), scale, 1.0))
                state = self.state[p]
                if "momentum_buffer" not in state:
                    state["momentum_buffer"] = grad.clone()
                else:
                    state["momentum_buffer"].mul_(group["momentum"]).add_(grad)
                p.add_(state["momentum_buffer"], alpha=-lr)
        return loss


def _split_lars_groups(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Biases and norm parameters (1-D) get no trust ratio and no weight decay under LARS."""
    out = []
    for group in groups:
        params = list(group["params"])
        rest = {k: x for k, x in group.items() if k != "params"}
        weights = [p for p in params if p.ndim > 1]
        others = [p for p in params if p.ndim <= 1]
        if weights:
            out.append({**rest, "params": weights})
        if others:
            out.append({**rest, "params": others, "lars": False, "weight_decay": 0.0})
    return out


def build_optimizer(name: str, groups: list[dict[str, Any]], lr: float, momentum: float,
                    weight_decay: float, lars_eta: float = 0.001, lars_clip: bool = False) -> Optimizer:
    """The optimiser ``name`` (sgd, lars, adamw) over ``groups``; each group keeps its own keys."""
    groups = [g for g in groups if list(g["params"])]
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "lars":
        return LARS(_split_lars_groups(groups), lr=lr, momentum=momentum, weight_decay=weight_decay, eta=lars_eta,
                    clip=lars_clip)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, betas=(momentum, 0.999), weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; valid: sgd, lars, adamw")
