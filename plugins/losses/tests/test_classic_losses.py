"""The classic losses (info-nce, margin-contrastive, triplet) against direct loops and hand
computations; registration and the simclr branch's input-kind check."""

from __future__ import annotations

import math

import pytest
import ssl_core
import torch
import torch.nn.functional as F
from ssl_core import BuildContext, ComponentOptionError, IncompatibleComponentsError, create

CLASSIC = ("info-nce", "margin-contrastive", "triplet")


def _randn(seed: int, *shapes: tuple[int, ...], grad: bool = False) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, requires_grad=grad) for shape in shapes]


# ---------------------------------------------------------------- info-nce

def info_nce_direct(q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor, t: float) -> torch.Tensor:
    """-log(exp(q.k/T) / (exp(q.k/T) + sum_j exp(q.n_j/T))), query by query."""
    q, k, queue = F.normalize(q, dim=1), F.normalize(k, dim=1), F.normalize(queue, dim=1)
    terms = []
    for i in range(q.shape[0]):
        positive = torch.exp(q[i] @ k[i] / t)
        negatives = sum(torch.exp(q[i] @ queue[j] / t) for j in range(queue.shape[0]))
        terms.append(-torch.log(positive / (positive + negatives)))
    return torch.stack(terms)


def test_info_nce_hand_case():
    # one query, its key equal to it (q.k = 1), two queue vectors orthogonal to it (q.n = 0), T = 1
    q = torch.tensor([[2.0, 0.0, 0.0]])
    queue = torch.tensor([[0.0, 1.0, 0.0], [0.0, 0.0, -3.0]])
    out = create("loss", "info-nce", temperature=1.0)(q, q.clone(), queue)
    expected = -math.log(math.e / (math.e + 2))
    assert out.loss.item() == pytest.approx(expected, abs=1e-6)
    assert out.positive_log_prob.tolist() == pytest.approx([-expected], abs=1e-6)


@pytest.mark.parametrize("t", [0.07, 0.2, 1.0])
def test_info_nce_equals_direct_loop_and_only_the_query_gets_gradients(t):
    q, k, queue = _randn(0, (5, 4), (5, 4), (7, 4), grad=True)
    key, negatives = k.detach(), queue.detach()  # as the caller does
    before = negatives.clone()
    out = create("loss", "info-nce", temperature=t)(q, key, negatives)
    direct = info_nce_direct(q, key, negatives, t)
    assert out.loss.item() == pytest.approx(direct.mean().item(), rel=1e-5)
    torch.testing.assert_close(out.positive_log_prob, -direct, rtol=1e-5, atol=1e-6)
    (grad_q,) = torch.autograd.grad(out.loss, q)
    (grad_direct,) = torch.autograd.grad(direct.mean(), q)
    assert grad_q.abs().sum() > 0
    torch.testing.assert_close(grad_q, grad_direct, rtol=1e-4, atol=1e-6)
    assert not key.requires_grad and not negatives.requires_grad
    assert k.grad is None and queue.grad is None
    assert torch.equal(negatives, before)  # the queue is not mutated (nor normalised in place)


def test_info_nce_does_not_mutate_the_queue_buffer_of_a_module():
    queue_buffer = torch.randn(6, 3) * 5  # not unit-norm: an in-place normalise would show
    before = queue_buffer.clone()
    q, k = _randn(1, (4, 3), (4, 3))
    create("loss", "info-nce")(q, k, queue_buffer)
    assert torch.equal(queue_buffer, before)


# ---------------------------------------------------------------- margin-contrastive and triplet

def margin_direct(z1: torch.Tensor, z2: torch.Tensor, m: float) -> torch.Tensor:
    u, v = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    n = u.shape[0]
    positives = [(u[i] - v[i]).pow(2).sum() / 2 for i in range(n)]
    negatives = [torch.clamp(m - (u[i] - v[j]).pow(2).sum().sqrt(), min=0) ** 2 / 2
                 for i in range(n) for j in range(n) if j != i]
    return torch.stack(positives).mean() + torch.stack(negatives).mean()


def triplet_direct(z1: torch.Tensor, z2: torch.Tensor, m: float, negatives: str) -> torch.Tensor:
    u, v = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    n = u.shape[0]
    terms = []
    for i in range(n):
        d_ap = (u[i] - v[i]).pow(2).sum().sqrt()
        d_an = [(u[i] - v[j]).pow(2).sum().sqrt() for j in range(n) if j != i]
        if negatives == "hardest":
            terms.append(torch.clamp(d_ap - min(d_an) + m, min=0))
        else:
            terms.append(torch.stack([torch.clamp(d_ap - d + m, min=0) for d in d_an]).mean())
    return torch.stack(terms).mean()


# e1, e2, -e1 in both views: d(a, p) = 0; the negatives lie at sqrt(2) (four pairs) and 2 (two pairs)
POINTS = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])


def test_margin_contrastive_hand_case():
    # margin 2: each sqrt(2) negative costs (2 - sqrt(2))^2 / 2, the 2-negatives nothing; 6 negatives
    loss = create("loss", "margin-contrastive", margin=2.0)(POINTS, POINTS * 3).loss
    assert loss.item() == pytest.approx(4 * (2 - math.sqrt(2)) ** 2 / 2 / 6, abs=1e-6)
    # margin 1: every negative is beyond it and every positive coincides
    assert create("loss", "margin-contrastive")(POINTS, POINTS).loss.item() == pytest.approx(0.0, abs=1e-7)


def test_triplet_hand_case():
    # hardest negative is at sqrt(2) for every anchor: hinge 2 - sqrt(2) each
    hardest = create("loss", "triplet", margin=2.0)(POINTS, POINTS.clone()).loss
    assert hardest.item() == pytest.approx(2 - math.sqrt(2), abs=1e-6)
    # all negatives: e1 and -e1 average (2 - sqrt(2)) with 0, e2 has 2 - sqrt(2) twice
    every = create("loss", "triplet", margin=2.0, negatives="all")(POINTS, POINTS.clone()).loss
    assert every.item() == pytest.approx(2 * (2 - math.sqrt(2)) / 3, abs=1e-6)
    # margin 0.5 < sqrt(2): no triplet is violated
    assert create("loss", "triplet")(POINTS, POINTS.clone()).loss.item() == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("name, options, direct", [
    ("margin-contrastive", {"margin": 1.0}, lambda z1, z2: margin_direct(z1, z2, 1.0)),
    ("margin-contrastive", {"margin": 1.5}, lambda z1, z2: margin_direct(z1, z2, 1.5)),
    ("triplet", {"margin": 0.5}, lambda z1, z2: triplet_direct(z1, z2, 0.5, "hardest")),
    ("triplet", {"margin": 1.0, "negatives": "all"}, lambda z1, z2: triplet_direct(z1, z2, 1.0, "all")),
])
def test_pair_losses_equal_direct_loops_and_gradients_reach_both_views(name, options, direct):
    z1, z2 = _randn(9, (7, 4), (7, 4), grad=True)
    out = create("loss", name, **options)(z1, z2)
    reference = direct(z1, z2)
    assert out.positive_log_prob is None
    assert out.loss.item() > 0
    assert out.loss.item() == pytest.approx(reference.item(), rel=1e-5)
    grads = torch.autograd.grad(out.loss, (z1, z2))
    reference_grads = torch.autograd.grad(reference, (z1, z2))
    for mine, expected in zip(grads, reference_grads):
        assert mine.abs().sum() > 0
        torch.testing.assert_close(mine, expected, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("name", ["margin-contrastive", "triplet"])
def test_pair_losses_have_finite_gradients_at_coinciding_points(name):
    z = POINTS.clone().requires_grad_()
    loss = create("loss", name, margin=2.0)(z, POINTS.clone()).loss
    (grad,) = torch.autograd.grad(loss, z)
    assert torch.isfinite(grad).all()
    with pytest.raises(ValueError, match="at least 2 samples"):
        create("loss", name)(POINTS[:1], POINTS[:1])


# ---------------------------------------------------------------- options, registration, branch fit

@pytest.mark.parametrize("name, options", [
    ("info-nce", {"temperature": 0.0}),
    ("margin-contrastive", {"margin": 0.0}),
    ("triplet", {"margin": -1.0}),
    ("triplet", {"negatives": "semi-hard"}),
])
def test_invalid_options_are_refused(name, options):
    with pytest.raises(ComponentOptionError):
        create("loss", name, **options)


def test_classic_losses_are_registered_with_their_input_kinds():
    assert set(CLASSIC) <= set(ssl_core.available("loss"))
    kinds = {name: create("loss", name).input_kind for name in CLASSIC}
    assert kinds == {"info-nce": "query-key-queue", "margin-contrastive": "pair", "triplet": "pair"}
    assert create("loss", "info-nce").temperature == 0.2
    assert create("loss", "margin-contrastive").margin == 1.0
    assert create("loss", "triplet").margin == 0.5


def _simclr_context(loss: str) -> BuildContext:
    torch.manual_seed(0)
    context = BuildContext(image_size=16)
    context.encoder = create("encoder", "small-resnet", context, widths=(4, 4, 8, 8))
    context.loss = create("loss", loss, context)
    context.views = create("views", "simclr", context)
    return context


def test_simclr_refuses_losses_of_other_input_kinds_and_names_the_fitting_ones():
    with pytest.raises(IncompatibleComponentsError) as error:
        create("branch", "simclr", _simclr_context("info-nce"))
    message = str(error.value)
    assert "loss 'info-nce'" in message
    fitting = message.split("losses that fit:")[1]
    assert {name.strip() for name in fitting.split(",")} >= {"nt-xent", "margin-contrastive", "triplet"}
    assert "info-nce" not in fitting and "swav" not in fitting


@pytest.mark.parametrize("loss", ["margin-contrastive", "triplet"])
def test_simclr_accepts_the_pair_losses_and_trains_through_them(loss):
    context = _simclr_context(loss)
    branch = create("branch", "simclr", context, out_dim=6)
    images = torch.rand(4, 3, 16, 16)
    views = context.views(images, torch.Generator().manual_seed(0))
    out = branch(ssl_core.Batch(views=views, image=images, index=torch.arange(4)))
    assert out.positive_log_prob is None and torch.isfinite(out.loss)
    out.loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in branch.encoder.parameters())
