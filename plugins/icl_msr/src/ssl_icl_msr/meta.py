"""Stage 2: f_msr's gradient through one virtual SGD step of the encoder and heads.

With theta the parameters of the main optimiser's groups, h = E(theta) the pooled features,
F(h, theta; A) = L_ct + lambda L_msr (heads and criterion on h) and A = f_msr(x; phi):

    g      = dL_to/dtheta = J^T dF/dh + dF/dtheta|_h          (J = dE/dtheta)
    theta' = theta - alpha g                                    (plain SGD, no momentum or decay)
    L_meta = L_ct(theta') + gamma L_uni(A)
    dL_meta/dphi = -alpha d/dphi [ g . v ] + gamma dL_uni/dphi, v = dL_ct(theta')/dtheta'

Because A re-weights pooled features, J does not depend on phi, so

    g . v = dF/dh . (J v) + dF/dtheta|_h . v,

the derivative of F along (J v, v). ``exact`` gets ``J v`` by forward-mode AD through the
encoder and differentiates the heads twice (create_graph): exact, and no double backward
through the encoder. ``finite-difference`` uses ``d/dphi [g . v] ~ d/dphi [F(theta + eps v) -
F(theta - eps v)] / (2 eps)`` with ``eps = fd_epsilon / |v|`` (DARTS), two extra forwards.

In training, ``g`` and the pooled features at theta are the real step's own: the meta step
runs after the step's backward and before its optimiser step (``on_after_backward``), so it
reuses that forward and backward instead of repeating them (``g`` is the same either way, as
``A`` gets no gradient in stage 1). [`step_gradient`][ssl_icl_msr.meta.step_gradient]
computes both functionally for a meta step outside the trainer.

Across processes ``g`` and ``v`` are averaged, as the real step's DDP gradients are, so every
process takes the same virtual step; each process then differentiates its own batch's term
and the caller averages the f_msr gradients. Stop-gradients of the base method (BYOL's
targets, SimSiam's detached projections, the gathered negatives' second derivatives) stay
constants here too.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs
import torch
import torch.distributed as dist
from ssl_core import Batch
from ssl_core.nn import world_size

from ssl_icl_msr.config import ICLMSRConfig
from ssl_icl_msr.evaluator import BranchEvaluator
from ssl_icl_msr.semantics import uniformity


@attrs.define
class MetaResult:
    """What one meta step computed on this process.

    Attributes:
        gradients: dL_meta/dphi for each f_msr parameter (not yet averaged over processes).
        meta_loss: L_ct(theta'), the base loss after the virtual step.
        uniformity: L_uni(A).
    """

    gradients: list[torch.Tensor]
    meta_loss: torch.Tensor
    uniformity: torch.Tensor


def _zeros_for_none(grads: tuple[torch.Tensor | None, ...], like: list[torch.Tensor]) -> list[torch.Tensor]:
    return [torch.zeros_like(x) if g is None else g for g, x in zip(grads, like)]


def average_over_processes(tensors: list[torch.Tensor]) -> list[torch.Tensor]:
    """The mean of each tensor over the processes (one all-reduce); the tensors themselves on one."""
    world = world_size()
    if world == 1 or not tensors:
        return tensors
    flat = torch.cat([t.reshape(-1) for t in tensors])
    dist.all_reduce(flat)
    flat /= world
    return [part.view_as(t) for part, t in zip(flat.split([t.numel() for t in tensors]), tensors)]


def step_gradient(evaluator: BranchEvaluator, params: dict[str, torch.Tensor], views: list[torch.Tensor],
                  teacher: list[torch.Tensor | None] | None, semantics: torch.Tensor,
                  weight: float) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """The pooled features at theta and ``g = dL_to/dtheta`` (averaged over processes), functionally.

    What the real step's forward and backward give the trainer's meta step, for a meta step
    run on its own; nothing stored is modified.
    """
    theta = list(params.values())
    features = evaluator.encode(params, views)
    objective = evaluator.ct_loss(params, features, teacher)
    if weight:
        objective = objective + weight * evaluator.msr_loss(params, features, teacher, semantics.detach())
    g = average_over_processes(_zeros_for_none(torch.autograd.grad(objective, theta, allow_unused=True), theta))
    return [None if f is None else f.detach() for f in features], g


def meta_gradients(evaluator: BranchEvaluator, params: dict[str, torch.Tensor], semantics: Callable[[], torch.Tensor],
                   phi: list[torch.Tensor], batch: Batch, teacher: list[torch.Tensor | None] | None,
                   features: list[torch.Tensor], g: list[torch.Tensor], alpha: float,
                   config: ICLMSRConfig) -> MetaResult:
    """dL_meta/dphi on ``batch`` (module docstring); ``semantics()`` returns ``A`` with its graph to ``phi``.

    ``params`` are the trained parameters theta (by name), ``features`` the pooled features of
    the batch's first two views at theta and ``g`` the step's gradient dL_to/dtheta (in the
    order of ``params``, averaged over processes). Nothing stored is modified.
    """
    views = batch.views[:2]
    names = list(params)
    theta = [params[k] for k in names]
    semantics_now = semantics()
    exact = config.meta_gradient == "exact"

    moved = {k: (p.detach() - alpha * step).requires_grad_() for k, p, step in zip(names, theta, g)}
    meta_loss = evaluator.ct_loss(moved, evaluator.encode(moved, views), teacher)
    v = average_over_processes(_zeros_for_none(
        torch.autograd.grad(meta_loss, list(moved.values()), allow_unused=True), theta))

    if exact:
        leaves = [None if f is None else f.detach().requires_grad_() for f in features]
        objective = (evaluator.ct_loss(params, leaves, teacher)
                     + config.weight * evaluator.msr_loss(params, leaves, teacher, semantics_now))
        encoded = [f for f in leaves if f is not None]  # a view outside the branch's online views has none
        grads = torch.autograd.grad(objective, encoded + theta, create_graph=True, allow_unused=True)
        d_features = _zeros_for_none(grads[:len(encoded)], encoded)
        tangent = [t for t in evaluator.encode_tangent(params, dict(zip(names, v)), views) if t is not None]
        along = sum((d * w).sum() for d, w in zip(d_features, tangent))
        along = along + sum((d * step).sum() for d, step in zip(grads[len(encoded):], v) if d is not None)
        second = -alpha * along
    else:
        second = -alpha * config.weight * _finite_difference(evaluator, params, names, v, views, teacher,
                                                             semantics_now, config.fd_epsilon)
    uni = uniformity(semantics_now, config.uniformity_t)
    total = second + config.uniformity_weight * uni
    grads = torch.autograd.grad(total, phi, allow_unused=True) if total.requires_grad else (None,) * len(phi)
    return MetaResult(gradients=_zeros_for_none(grads, phi), meta_loss=meta_loss.detach(), uniformity=uni.detach())


def _finite_difference(evaluator: BranchEvaluator, params: dict[str, torch.Tensor], names: list[str],
                       v: list[torch.Tensor], views: list[torch.Tensor], teacher: list[torch.Tensor | None] | None,
                       semantics: torch.Tensor, fd_epsilon: float) -> torch.Tensor:
    """``[L_msr(theta + eps v) - L_msr(theta - eps v)] / (2 eps)``, differentiable in ``semantics`` only."""
    norm = torch.sqrt(sum(x.pow(2).sum() for x in v))
    if norm == 0:
        return semantics.sum() * 0
    eps = fd_epsilon / norm
    sides = []
    for sign in (1, -1):
        shifted = {k: params[k].detach() + sign * eps * step for k, step in zip(names, v)}
        with torch.no_grad():
            features = evaluator.encode(shifted, views)
        sides.append(evaluator.msr_loss(shifted, features, teacher, semantics))
    return (sides[0] - sides[1]) / (2 * eps)
