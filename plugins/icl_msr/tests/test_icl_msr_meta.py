"""Stage 2: the virtual step touches nothing real, and f_msr's meta-gradient is the right one."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from icl_msr_tiny import BRANCHES, batch, context, smooth_context, train_context
from ssl_core import create
from ssl_icl_msr.functional import call_with, cloned_buffers, trained_parameters
from ssl_icl_msr.semantics import uniformity

ALPHA = 0.5


def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


@pytest.mark.parametrize(("name", "base"), BRANCHES)
def test_the_meta_step_leaves_every_parameter_buffer_and_stored_step_state_bit_identical(name, base):
    """Parameters, BN running statistics and counters, queues, masks, targets, and the keys or
    targets the branch stored for its step (so no virtual key is ever enqueued)."""
    ctx = context(name, base)
    branch, data = ctx.branch, batch(ctx)
    reg = create("regularizer", "icl-msr", ctx)
    inner = getattr(branch, "base", branch)
    attributes = {k: getattr(inner, k) for k in ("_keys", "_pending", "_targets") if hasattr(inner, k)}
    before = {k: v.clone() for k, v in branch.state_dict().items()}
    assert any(k.endswith("num_batches_tracked") for k in before)
    phi = [p.clone() for p in reg.semantics.parameters()]

    result = reg.meta_step(branch, data, ALPHA)
    assert all(torch.equal(p, q) for p, q in zip(phi, reg.semantics.parameters()))  # meta_step only computes
    reg.update(train_context(branch), data)

    after = branch.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert torch.equal(value, after[key]), key
    for key, value in attributes.items():
        assert getattr(inner, key) is value, key
    assert any(not torch.equal(p, q) for p, q in zip(phi, reg.semantics.parameters()))  # f_msr took its step
    assert all(g.isfinite().all() for g in result.gradients)


def test_f_msr_is_trained_only_through_the_virtual_step_without_the_uniformity_term():
    ctx = context("simclr")
    reg = create("regularizer", "icl-msr", ctx, uniformity_weight=0.0)
    data = batch(ctx)
    through_step = _flat(reg.meta_step(ctx.branch, data, ALPHA).gradients)
    assert through_step.abs().max() > 1e-6
    assert torch.equal(_flat(reg.meta_step(ctx.branch, data, 0.0).gradients), torch.zeros_like(through_step))


def _meta_objective(reg, branch, data, alpha: float) -> torch.Tensor:
    """L_ct(theta') + gamma L_uni, theta' = theta - alpha dL_to/dtheta, by plain autograd through
    the branch's own forward (create_graph: the full second-order graph)."""
    params = trained_parameters(branch)
    semantics = reg.semantic_vectors(branch, data)
    out = call_with(branch, {**params, **cloned_buffers(branch)}, branch.forward, data)
    l_to = out.loss + reg.config.weight * reg.evaluator(branch).msr_loss(params, out.features, None, semantics)
    grads = torch.autograd.grad(l_to, list(params.values()), create_graph=True)
    moved = {k: p - alpha * g for (k, p), g in zip(params.items(), grads)}
    after = call_with(branch, {**moved, **cloned_buffers(branch)}, branch.forward, data).loss
    return after + reg.config.uniformity_weight * uniformity(semantics, reg.config.uniformity_t)


def test_the_exact_meta_gradient_is_the_full_second_order_gradient_and_its_finite_difference():
    """Float64, smooth encoder: against autograd through the whole unrolled step, and against a
    central difference of L_meta along a random direction of f_msr's parameters."""
    ctx = smooth_context()
    reg = create("regularizer", "icl-msr", ctx, num_semantics=3, msr_widths=[4]).double()
    data = batch(ctx, dtype=torch.float64)
    phi = list(reg.semantics.parameters())
    exact = reg.meta_step(ctx.branch, data, ALPHA).gradients

    reference = torch.autograd.grad(_meta_objective(reg, ctx.branch, data, ALPHA), phi)
    torch.testing.assert_close(_flat(exact), _flat(reference), rtol=1e-9, atol=1e-12)

    direction = [torch.randn_like(p) for p in phi]
    h = 1e-5
    sides = []
    for sign in (1, -1):
        with torch.no_grad():
            for p, d in zip(phi, direction):
                p.add_(sign * h * d)
        sides.append(_meta_objective(reg, ctx.branch, data, ALPHA).detach())
        with torch.no_grad():
            for p, d in zip(phi, direction):
                p.sub_(sign * h * d)
    finite = (sides[0] - sides[1]) / (2 * h)
    analytic = (_flat(exact) * _flat(direction)).sum()
    assert analytic.abs() > 1e-3
    torch.testing.assert_close(analytic, finite, rtol=1e-6, atol=0)


def test_the_finite_difference_variant_approximates_the_exact_meta_gradient():
    ctx = smooth_context()
    reg = create("regularizer", "icl-msr", ctx, num_semantics=3, msr_widths=[4]).double()
    data = batch(ctx, dtype=torch.float64)
    exact = _flat(reg.meta_step(ctx.branch, data, ALPHA).gradients)
    reg.config.meta_gradient = "finite-difference"
    approx = _flat(reg.meta_step(ctx.branch, data, ALPHA).gradients)
    assert (approx - exact).norm() < 1e-3 * exact.norm()
    reg.config.fd_epsilon = 1.0  # a coarse step is visibly different: the variant is not the exact code path
    assert (_flat(reg.meta_step(ctx.branch, data, ALPHA).gradients) - exact).norm() > 1e-2 * exact.norm()


def _mean_cosine(semantics: torch.Tensor) -> float:
    a = F.normalize(semantics, dim=-1)
    n = a.shape[1]
    cosines = a @ a.transpose(1, 2)
    return float((cosines.sum() - cosines.diagonal(dim1=1, dim2=2).sum()) / (a.shape[0] * n * (n - 1)))


def test_with_gamma_only_the_uniformity_term_spreads_the_semantic_vectors_apart():
    """lambda = 0: L_to does not depend on f_msr, so its gradient is gamma dL_uni/dphi alone."""
    ctx = context("simclr")
    reg = create("regularizer", "icl-msr", ctx, weight=0.0, uniformity_weight=1.0, msr_lr=0.01)
    data = batch(ctx)
    start = reg.semantic_vectors(ctx.branch, data).detach()
    expected = torch.autograd.grad(uniformity(reg.semantic_vectors(ctx.branch, data), 2.0),
                                   list(reg.semantics.parameters()))
    torch.testing.assert_close(_flat(reg.meta_step(ctx.branch, data, ALPHA).gradients), _flat(expected))
    for step in range(30):
        reg.update(train_context(ctx.branch, step), data)
    end = reg.semantic_vectors(ctx.branch, data).detach()
    assert uniformity(end, 2.0) < uniformity(start, 2.0) - 0.5
    assert _mean_cosine(end) < _mean_cosine(start) - 0.1


def _real_step(reg, branch, data, step: int) -> None:
    """The trainer's order: forward with the stage-1 term, backward, ``on_after_backward``."""
    out = branch(data)
    (out.loss + reg(data, out, branch)).backward()
    reg.on_after_backward(train_context(branch, step), data)


def test_the_meta_step_runs_every_meta_every_steps():
    ctx = context("simclr")
    reg = create("regularizer", "icl-msr", ctx, meta_every=3)
    data = batch(ctx)
    changed = []
    for step in range(6):
        before = _flat([p.clone() for p in reg.semantics.parameters()])
        _real_step(reg, ctx.branch, data, step)
        ctx.branch.zero_grad()
        reg.on_step_end(train_context(ctx.branch, step))
        changed.append(not torch.equal(before, _flat(reg.semantics.parameters())))
    assert changed == [True, False, False, True, False, False]


@pytest.mark.parametrize(("name", "base"), [("simclr", None), ("byol", None), ("sdclr-pruned", "simclr")])
def test_the_trainer_path_reuses_the_real_step_and_gets_the_same_meta_gradient(name, base, monkeypatch):
    """In training the meta step takes the real forward's features and backward's gradient; the
    result equals the stand-alone meta step's, which computes both functionally."""
    ctx = context(name, base)
    reg = create("regularizer", "icl-msr", ctx)
    data = batch(ctx)
    standalone = _flat(reg.meta_step(ctx.branch, data, ALPHA).gradients)
    seen = {}
    monkeypatch.setattr(reg, "update", lambda c, b, features, g: seen.update(
        gradients=_flat(reg.meta_step(c.branch, b, c.lr, features, g).gradients)))
    _real_step(reg, ctx.branch, data, 0)
    assert standalone.abs().max() > 0
    torch.testing.assert_close(seen["gradients"], standalone, rtol=1e-4, atol=1e-7)


def test_stage_one_gives_f_msr_no_gradient_and_the_encoder_one():
    ctx = context("simclr")
    reg = create("regularizer", "icl-msr", ctx)
    data = batch(ctx)
    out = ctx.branch(data)
    term = reg(data, out, ctx.branch)
    term.backward()
    assert all(p.grad is None for p in reg.semantics.parameters())
    assert ctx.branch.encoder.conv1.weight.grad.abs().max() > 0
    semantics = reg.semantic_vectors(ctx.branch, data).detach()
    by_hand = reg.config.weight * reg.evaluator(ctx.branch).msr_loss({}, out.features, None, semantics)
    torch.testing.assert_close(term, by_hand)


@pytest.mark.parametrize(("msr_input", "activation"), [("image", "sigmoid"), ("features", "sigmoid"),
                                                       ("free", "sigmoid"), ("image", "softmax")])
def test_every_f_msr_input_and_activation_gives_non_negative_weights_and_a_meta_gradient(msr_input, activation):
    ctx = context("simclr")
    reg = create("regularizer", "icl-msr", ctx, num_semantics=4, msr_input=msr_input, activation=activation)
    data = batch(ctx)
    semantics = reg.semantic_vectors(ctx.branch, data)
    assert semantics.shape == (8, 4, ctx.branch.encoder.feature_dim) and (semantics >= 0).all()
    if activation == "softmax":
        torch.testing.assert_close(semantics.mean(dim=-1), torch.ones(8, 4))
    same_for_all = bool((semantics == semantics[:1]).all())
    assert same_for_all == (msr_input == "free")
    gradients = reg.meta_step(ctx.branch, data, ALPHA).gradients
    assert _flat(gradients).abs().max() > 0 and _flat(gradients).isfinite().all()
