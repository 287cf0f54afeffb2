"""SwAV's loss: Sinkhorn's marginals, one process and several, the swapped prediction against a
direct loop, option checks, registration and the simclr branch's refusal of it."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn.functional as F
from ssl_core import BuildContext, ComponentOptionError, IncompatibleComponentsError, create, spec
from ssl_swav import SwAVConfig, SwAVLoss, sinkhorn
from ssl_swav import loss as swav_module


def _randn(seed: int, *shapes: tuple[int, ...], grad: bool = False) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, requires_grad=grad) for shape in shapes]


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


# ---------------------------------------------------------------- options, registration, branch fit

@pytest.mark.parametrize("options", [
    {"temperature": -0.1},
    {"epsilon": 0.0},
    {"sinkhorn_iterations": 0},
    {"num_global": 0},
])
def test_invalid_options_are_refused(options):
    with pytest.raises(ComponentOptionError):
        create("loss", "swav", **options)


def test_swav_is_registered_by_ssl_swav_with_its_input_kind_and_defaults():
    registered = spec("loss", "swav")
    assert registered.package == "ssl-swav"
    assert (registered.factory, registered.config) == (SwAVLoss, SwAVConfig)
    swav = create("loss", "swav")
    assert swav.input_kind == "prototype-scores"
    assert (swav.temperature, swav.iterations, swav.epsilon, swav.num_global) == (0.1, 3, 0.05, 2)


def _simclr_context(loss: str) -> BuildContext:
    torch.manual_seed(0)
    context = BuildContext(image_size=16)
    context.encoder = create("encoder", "small-resnet", context, widths=(4, 4, 8, 8))
    context.loss = create("loss", loss, context)
    context.views = create("views", "simclr", context)
    return context


def test_simclr_refuses_the_swav_loss_and_names_the_fitting_ones():
    with pytest.raises(IncompatibleComponentsError) as error:
        create("branch", "simclr", _simclr_context("swav"))
    message = str(error.value)
    assert "loss 'swav'" in message
    fitting = message.split("losses that fit:")[1]
    assert {name.strip() for name in fitting.split(",")} >= {"nt-xent", "margin-contrastive", "triplet"}
    assert "info-nce" not in fitting and "swav" not in fitting
