"""The SwAV branch: prototypes (count, unit norm, freezing), codes from the global crops only,
the swapped-prediction loss, per-resolution encoding, refusals and ``ssl describe``."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from ssl_core import Batch, BuildContext, create
from ssl_core import IncompatibleComponentsError
from ssl_swav import loss as swav_loss_module
from ssl_swav import prototype_count
from torch import nn

SIZES = {"hidden_dim": 16, "out_dim": 8, "num_prototypes": 12}


def _context(loss: str = "swav", views: str = "multi-crop", num_train: int = 0, loss_options=None,
             view_options=None) -> BuildContext:
    torch.manual_seed(0)
    context = BuildContext(image_size=16, num_train=num_train)
    context.encoder = create("encoder", "small-resnet", context, widths=(4, 4, 8, 8))
    context.loss = create("loss", loss, context, **(loss_options or {}))
    context.views = create("views", views, context, **(view_options or {}))
    return context


def _branch_and_batch(n: int = 6, **options):
    context = _context()
    branch = create("branch", "swav", context, **{**SIZES, **options})
    images = torch.rand(n, 3, 16, 16)
    views = context.views(images, torch.Generator().manual_seed(0))
    return branch, Batch(views=views, image=images, index=torch.arange(n))


def _step(branch, batch, optimizer, epoch: int) -> None:
    """One trainer step as the trainer runs it (views and optimiser given)."""
    optimizer.zero_grad(set_to_none=True)
    branch(batch).loss.backward()
    optimizer.step()
    branch.on_step_end(SimpleNamespace(epoch=epoch))


# ---------------------------------------------------------------- prototypes


def test_prototype_count_is_capped_for_small_datasets():
    assert prototype_count(3000, 0, 10) == 3000  # unknown dataset size: uncapped
    assert prototype_count(3000, 50_000, 10) == 3000  # CIFAR-10 keeps SwAV's 3000
    assert prototype_count(3000, 300, 10) == 30  # ten images per prototype
    assert prototype_count(3000, 50, 10) == 10  # never fewer than 10 ...
    assert prototype_count(5, 50, 10) == 5  # ... unless fewer were asked for
    assert prototype_count(3000, 300, 0) == 3000  # 0 turns the cap off
    branch = create("branch", "swav", _context(num_train=300), hidden_dim=16, out_dim=8)
    assert branch.num_prototypes == 30
    assert branch.prototypes.weight.shape == (30, 8)


def test_prototypes_are_unit_norm_when_built_and_after_every_step():
    branch, batch = _branch_and_batch(freeze_prototypes_epochs=0)
    assert not branch.prototypes.frozen
    torch.testing.assert_close(branch.prototypes.weight.norm(dim=1), torch.ones(12))
    optimizer = torch.optim.SGD(branch.parameter_groups(), lr=0.5, momentum=0.9, weight_decay=0.1)
    for _ in range(3):
        optimizer.zero_grad(set_to_none=True)
        branch(batch).loss.backward()
        optimizer.step()
        norms = branch.prototypes.weight.norm(dim=1)
        assert (norms - 1).abs().max() > 1e-3  # the optimiser step moved them off the sphere
        branch.on_step_end(SimpleNamespace(epoch=0))
        torch.testing.assert_close(branch.prototypes.weight.norm(dim=1), torch.ones(12), rtol=0, atol=1e-6)


def test_prototypes_are_frozen_in_the_first_epochs_and_trained_after():
    branch, batch = _branch_and_batch(freeze_prototypes_epochs=2)
    weight = branch.prototypes.weight
    optimizer = torch.optim.SGD(branch.parameter_groups(), lr=0.5, momentum=0.9, weight_decay=0.1)
    start = weight.detach().clone()
    projector = [p.detach().clone() for p in branch.projector.parameters()]
    for epoch in (0, 1):
        branch.on_epoch_start(SimpleNamespace(epoch=epoch))
        assert branch.prototypes.frozen
        for _ in range(2):
            optimizer.zero_grad(set_to_none=True)
            branch(batch).loss.backward()
            assert weight.grad is None  # dropped: no update, no weight decay, no momentum
            assert all(p.grad is not None for p in branch.projector.parameters())
            optimizer.step()
            branch.on_step_end(SimpleNamespace(epoch=epoch))
    torch.testing.assert_close(weight.detach(), start, rtol=0, atol=1e-6)
    assert weight not in optimizer.state
    assert any((a - b).abs().max() > 1e-4 for a, b in zip(projector, branch.projector.parameters()))
    branch.on_epoch_start(SimpleNamespace(epoch=2))
    assert not branch.prototypes.frozen
    _step(branch, batch, optimizer, epoch=2)
    assert (weight.detach() - start).abs().max() > 1e-3


# ---------------------------------------------------------------- codes and loss


def test_codes_come_only_from_the_global_crops(monkeypatch):
    branch, batch = _branch_and_batch()
    branch.eval()  # running BN statistics: crops do not change each other's projections
    calls: list[torch.Tensor] = []
    sinkhorn = swav_loss_module.sinkhorn

    def recording(scores, *args):
        codes = sinkhorn(scores, *args)
        calls.append(codes)
        return codes

    monkeypatch.setattr(swav_loss_module, "sinkhorn", recording)

    def codes_and_loss(views):
        calls.clear()
        loss = branch(Batch(views=views, image=batch.image, index=batch.index)).loss
        return [c.clone() for c in calls], loss

    codes, loss = codes_and_loss(batch.views)
    assert [c.shape for c in codes] == [(6, 12), (6, 12)]  # one Sinkhorn per global crop
    local = list(batch.views)
    local[5] = torch.randn_like(local[5])
    local_codes, local_loss = codes_and_loss(local)
    assert all(torch.equal(a, b) for a, b in zip(codes, local_codes))
    assert local_loss.item() != pytest.approx(loss.item(), abs=1e-4)  # the local crop still predicts
    other = list(batch.views)
    other[1] = torch.randn_like(other[1])
    other_codes, _ = codes_and_loss(other)
    assert torch.equal(codes[0], other_codes[0]) and not torch.allclose(codes[1], other_codes[1])


def sinkhorn_paper(scores: torch.Tensor, iterations: int = 3, epsilon: float = 0.05) -> torch.Tensor:
    """SwAV's Sinkhorn-Knopp as published: Q = exp(S/eps)^T, alternate 1/K row and 1/B column sums."""
    q = torch.exp(scores.double() / epsilon).T
    k, b = q.shape
    q = q / q.sum()
    for _ in range(iterations):
        q = q / q.sum(dim=1, keepdim=True) / k
        q = q / q.sum(dim=0, keepdim=True) / b
    return (q * b).T


def test_loss_equals_swapped_prediction_computed_directly():
    branch, _ = _branch_and_batch()
    features = [torch.randn(5, 8) for _ in range(4)]  # 2 global crops, then 2 local ones
    out = branch.loss_from_features(features)
    z = F.normalize(branch.projector(torch.cat(features)), dim=1)
    scores = (z @ branch.prototypes.weight.T).split(5)
    total = 0.0
    for g in range(2):
        codes = sinkhorn_paper(scores[g].detach())
        others = [c for c in range(4) if c != g]
        total += sum(-(codes * F.log_softmax(scores[c].double() / 0.1, dim=1)).sum(dim=1).mean()
                     for c in others) / len(others)
    assert out.loss.item() == pytest.approx(total.item() / 2, rel=1e-5)
    for e, expected in zip(out.embeddings, z.split(5)):
        torch.testing.assert_close(e, expected)


def test_hand_case_two_samples_two_prototypes():
    """z_a = (1, r)/|.|, z_b = (r, 1)/|.| against prototypes e1, e2: the score matrix is symmetric,
    so the codes are a row softmax, q = sigmoid(d / eps) with d = (1 - r)/sqrt(1 + r^2), and each
    crop predicts p = sigmoid(d / T); L = -(q log p + (1 - q) log(1 - p))."""
    context = _context(views="simclr")
    branch = create("branch", "swav", context, hidden_dim=4, out_dim=2, num_prototypes=2)
    branch.projector = nn.Identity()
    with torch.no_grad():
        branch.prototypes.weight.copy_(torch.eye(2))
    r = 0.9
    crop = torch.tensor([[1.0, r], [r, 1.0]])
    loss = branch.loss_from_features([crop, crop.clone()]).loss
    d = (1 - r) / math.sqrt(1 + r * r)
    q, p = 1 / (1 + math.exp(-d / 0.05)), 1 / (1 + math.exp(-d / 0.1))
    assert loss.item() == pytest.approx(-(q * math.log(p) + (1 - q) * math.log(1 - p)), rel=1e-5)


# ---------------------------------------------------------------- encoding and outputs


def test_encoder_runs_once_per_resolution_and_matches_per_view_features():
    branch, batch = _branch_and_batch()
    assert sorted({v.shape[-1] for v in batch.views}) == [9, 16]  # 2 global, 6 local crops
    branch.eval()
    calls = []
    handle = branch.encoder.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape))
    features = branch.encode(batch.views)
    handle.remove()
    assert calls == [(12, 3, 16, 16), (36, 3, 9, 9)]
    with torch.no_grad():
        for view, f in zip(batch.views, features):
            torch.testing.assert_close(f, branch.encoder(view), rtol=1e-5, atol=1e-6)


def test_forward_outputs_gradients_and_loss_from_features_agree():
    branch, batch = _branch_and_batch(freeze_prototypes_epochs=0)
    out = branch(batch)
    assert [f.shape for f in out.features] == [(6, 8)] * 8
    assert [z.shape for z in out.embeddings] == [(6, 8)] * 8
    torch.testing.assert_close(torch.cat(out.embeddings).norm(dim=1), torch.ones(48))
    assert out.positive_log_prob is None and set(out.logs) == {"z_std"}
    assert 0 < out.logs["z_std"] < 1
    torch.testing.assert_close(branch.loss_from_features(out.features).loss, out.loss)  # for regularizers
    out.loss.backward()
    assert all(p.grad is not None for p in branch.encoder.parameters())
    assert branch.prototypes.weight.grad is not None


# ---------------------------------------------------------------- refusals and describe


def test_swav_refuses_losses_and_views_that_do_not_fit():
    with pytest.raises(IncompatibleComponentsError, match="losses that fit: .*swav"):
        create("branch", "swav", _context(loss="nt-xent"))
    with pytest.raises(IncompatibleComponentsError, match="views give 3 global crops; set loss.num_global=3"):
        create("branch", "swav", _context(view_options={"global_count": 3}))
    with pytest.raises(IncompatibleComponentsError, match="at least 2 views .* the views give 1"):
        create("branch", "swav", _context(views="identity", view_options={"num_views": 1}))
    branch = create("branch", "swav", _context(views="multi-crop", loss_options={"num_global": 3},
                                                view_options={"global_count": 3}), **SIZES)
    assert branch.num_global == 3


def test_describe_shows_options_and_the_run_defaults():
    from ssl_core.cli import cli

    result = CliRunner().invoke(cli, ["describe", "branch", "swav"])
    assert result.exit_code == 0, result.output
    for text in ("num_prototypes", "3000", "freeze_prototypes_epochs", "queue_length", "ssl-swav",
                 "'views': 'multi-crop'", "'loss': 'swav'", "'optimizer': 'lars'"):
        assert text in result.output
