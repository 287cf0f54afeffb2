"""The classic losses (info-nce, swav, margin-contrastive, triplet) against direct loops and
hand computations; Sinkhorn's marginals; registration and the simclr branch's input-kind check."""

from __future__ import annotations

import math
import threading

import pytest
import ssl_core
import torch
import torch.nn.functional as F
from ssl_core import BuildContext, create
from ssl_core.components import IncompatibleComponentsError
from ssl_core.losses import swav as swav_module
from ssl_core.losses.swav import sinkhorn
from ssl_core.registry import ComponentOptionError

CLASSIC = ("info-nce", "swav", "margin-contrastive", "triplet")


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


# ---------------------------------------------------------------- sinkhorn and swav

def test_sinkhorn_codes_sum_to_one_and_balance_the_prototypes():
    batch, prototypes = 64, 16
    (scores,) = _randn(2, (batch, prototypes))
    scores = F.normalize(scores, dim=1) * 0.8  # cosine-like scores in [-1, 1]

    def prototype_error(codes: torch.Tensor) -> float:
        """Largest relative deviation of a prototype's total code mass from B/K."""
        usage = codes.sum(dim=0)
        return ((usage - batch / prototypes).abs() / (batch / prototypes)).max().item()

    errors = {}
    for iterations in (1, 3, 50):
        codes = sinkhorn(scores, iterations=iterations, epsilon=0.05)
        assert codes.shape == (batch, prototypes)
        assert (codes >= 0).all()
        # the last step of every iteration normalises the samples: each code sums to 1
        torch.testing.assert_close(codes.sum(dim=1), torch.ones(batch), rtol=0, atol=1e-5)
        errors[iterations] = prototype_error(codes)
    # unbalanced before Sinkhorn, better after 3 iterations, balanced within 1e-3 after 50
    plain = prototype_error(torch.softmax(scores / 0.05, dim=1))
    assert plain > 0.1
    assert errors[50] < 1e-3
    assert errors[3] < errors[1] < plain


def test_sinkhorn_is_softmax_like_per_sample_and_takes_no_gradient():
    # one sample: the prototype step rescales each prototype by 1/(its own value), so the code is uniform
    scores = torch.tensor([[1.0, 0.0, -1.0]], requires_grad=True)
    codes = sinkhorn(scores)
    assert not codes.requires_grad
    torch.testing.assert_close(codes, torch.full((1, 3), 1 / 3))
    with pytest.raises(ValueError, match="at least 1 iteration"):
        sinkhorn(scores, iterations=0)


def test_sinkhorn_sums_over_processes_like_one_global_batch(monkeypatch):
    """Two threads stand for two processes: the all-reduced codes equal one process's on the
    concatenated batch (uneven local batches)."""
    scores = _randn(3, (5, 6), (3, 6))
    barrier = threading.Barrier(2, timeout=20)
    slots: dict[int, torch.Tensor] = {}
    local = threading.local()

    def all_reduce(tensor: torch.Tensor, op=torch.distributed.ReduceOp.SUM) -> None:
        slots[local.rank] = tensor.clone()
        barrier.wait()
        parts = torch.stack([slots[0], slots[1]])
        reduced = parts.max(dim=0).values if op == torch.distributed.ReduceOp.MAX else parts.sum(dim=0)
        barrier.wait()
        tensor.copy_(reduced)

    monkeypatch.setattr(swav_module, "world_size", lambda: 2)
    monkeypatch.setattr(swav_module.dist, "all_reduce", all_reduce)
    results: dict[int, torch.Tensor] = {}

    def run(rank: int) -> None:
        local.rank = rank
        results[rank] = sinkhorn(scores[rank], iterations=3, epsilon=0.1)

    threads = [threading.Thread(target=run, args=(rank,)) for rank in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    monkeypatch.setattr(swav_module, "world_size", lambda: 1)
    expected = sinkhorn(torch.cat(scores), iterations=3, epsilon=0.1)
    torch.testing.assert_close(torch.cat([results[0], results[1]]), expected, rtol=1e-5, atol=1e-7)


def sinkhorn_direct(scores: torch.Tensor, iterations: int, epsilon: float) -> torch.Tensor:
    """SwAV's published Sinkhorn-Knopp (distributed_sinkhorn on one process), element by element."""
    q = torch.exp(scores / epsilon).T.tolist()
    k, b = len(q), len(q[0])
    total = sum(map(sum, q))
    q = [[x / total for x in row] for row in q]
    for _ in range(iterations):
        q = [[x / sum(row) / k for x in row] for row in q]
        columns = [sum(q[r][c] for r in range(k)) for c in range(b)]
        q = [[q[r][c] / columns[c] / b for c in range(b)] for r in range(k)]
    return torch.tensor([[q[r][c] * b for r in range(k)] for c in range(b)])


def swav_direct(scores: list[torch.Tensor], queue: list[torch.Tensor] | None, num_global: int,
                t: float, iterations: int, epsilon: float) -> torch.Tensor:
    """The swapped-prediction loss, sample by sample and prototype by prototype."""
    per_global = []
    for g in range(num_global):
        n = scores[g].shape[0]
        assign = scores[g] if queue is None else torch.cat([queue[g], scores[g]])  # SwAV puts the queue first
        codes = sinkhorn_direct(assign.detach(), iterations, epsilon)[-n:]
        per_crop = []
        for c in range(len(scores)):
            if c == g:
                continue
            terms = []
            for i in range(n):
                log_norm = torch.logsumexp(scores[c][i] / t, dim=0)
                terms.append(-sum(codes[i, k] * (scores[c][i, k] / t - log_norm) for k in range(scores[c].shape[1])))
            per_crop.append(torch.stack(terms).mean())
        per_global.append(sum(per_crop) / (len(scores) - 1))
    return sum(per_global) / num_global


@pytest.mark.parametrize("num_global, crops, with_queue", [(2, 2, False), (2, 5, False), (1, 3, True), (2, 4, True)])
def test_swav_equals_direct_loop_and_gradients_reach_the_predicting_crops(num_global, crops, with_queue):
    scores = [F.normalize(s, dim=1).requires_grad_() for s in _randn(4, *[(6, 5)] * crops)]
    queue = [F.normalize(s, dim=1) for s in _randn(5, *[(8, 5)] * num_global)] if with_queue else None
    loss = create("loss", "swav", num_global=num_global, temperature=0.2, epsilon=0.1)(scores, queue).loss
    direct = swav_direct(scores, queue, num_global, 0.2, 3, 0.1)
    assert loss.dim() == 0
    assert loss.item() == pytest.approx(direct.item(), rel=1e-5)
    # a crop gets gradients through its predictions only, never through its codes: with one
    # global crop, that crop predicts nothing and gets none
    predicting = scores if num_global > 1 else scores[1:]
    grads = torch.autograd.grad(loss, predicting, retain_graph=True)
    direct_grads = torch.autograd.grad(direct, predicting)
    for mine, reference in zip(grads, direct_grads):
        assert mine.abs().sum() > 0
        torch.testing.assert_close(mine, reference, rtol=1e-4, atol=1e-6)
    if num_global == 1:
        assert torch.autograd.grad(loss, scores[0], allow_unused=True) == (None,)


def test_swav_queue_changes_the_codes_but_is_not_modified():
    scores = [F.normalize(s, dim=1) for s in _randn(6, (4, 5), (4, 5))]
    queue = [F.normalize(s, dim=1) for s in _randn(7, (10, 5), (10, 5))]
    before = [x.clone() for x in queue]
    loss = create("loss", "swav")
    assert loss(scores, queue).loss.item() != pytest.approx(loss(scores).loss.item(), rel=1e-4)
    assert all(torch.equal(a, b) for a, b in zip(queue, before))


def test_swav_refuses_too_few_crops_or_queues():
    scores = _randn(8, (4, 5), (4, 5), (4, 5))
    with pytest.raises(ValueError, match="at least 2 crops"):
        create("loss", "swav", num_global=1)(scores[:1])
    with pytest.raises(ValueError, match="the 3 global ones"):
        create("loss", "swav", num_global=3)(scores[:2])
    with pytest.raises(ValueError, match="queue scores for the 2 global crops"):
        create("loss", "swav")(scores, [scores[0]])


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
    ("swav", {"temperature": -0.1}),
    ("swav", {"epsilon": 0.0}),
    ("swav", {"sinkhorn_iterations": 0}),
    ("swav", {"num_global": 0}),
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
    assert kinds == {"info-nce": "query-key-queue", "swav": "prototype-scores",
                     "margin-contrastive": "pair", "triplet": "pair"}
    assert create("loss", "info-nce").temperature == 0.2
    swav = create("loss", "swav")
    assert (swav.temperature, swav.iterations, swav.epsilon, swav.num_global) == (0.1, 3, 0.05, 2)
    assert create("loss", "margin-contrastive").margin == 1.0
    assert create("loss", "triplet").margin == 0.5


def _simclr_context(loss: str) -> BuildContext:
    torch.manual_seed(0)
    context = BuildContext(image_size=16)
    context.encoder = create("encoder", "small-resnet", context, widths=(4, 4, 8, 8))
    context.loss = create("loss", loss, context)
    context.views = create("views", "simclr", context)
    return context


@pytest.mark.parametrize("loss", ["info-nce", "swav"])
def test_simclr_refuses_losses_of_other_input_kinds_and_names_the_fitting_ones(loss):
    with pytest.raises(IncompatibleComponentsError) as error:
        create("branch", "simclr", _simclr_context(loss))
    message = str(error.value)
    assert f"loss {loss!r}" in message
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
