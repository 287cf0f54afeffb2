"""The BYOL branch: target updates, stop-gradient, the tau schedule, the loss and its outputs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from ssl_core import Batch, BuildContext, create
from ssl_core import IncompatibleComponentsError

SIZES = {"hidden_dim": 32, "out_dim": 8, "pred_hidden_dim": 16}


def _context(loss: str = "normalized-mse") -> BuildContext:
    torch.manual_seed(0)
    context = BuildContext(image_size=16)
    context.encoder = create("encoder", "small-resnet", context, widths=(4, 4, 8, 8))
    context.loss = create("loss", loss, context)
    context.views = create("views", "simclr", context)
    return context


def _branch_and_batch(n: int = 6, **options):
    context = _context()
    branch = create("branch", "byol", context, **SIZES, **options)
    images = torch.rand(n, 3, 16, 16)
    views = context.views(images, torch.Generator().manual_seed(0))
    return branch, Batch(views=views, image=images, index=torch.arange(n))


def _target_params(branch) -> list[torch.Tensor]:
    return [*branch.target_encoder.parameters(), *branch.target_projector.parameters()]


def _online_params(branch) -> list[torch.Tensor]:
    return [*branch.encoder.parameters(), *branch.projector.parameters()]


def test_target_is_checkpointed_but_never_optimised():
    branch, _ = _branch_and_batch()
    assert all(not p.requires_grad for p in _target_params(branch))
    optimised = {id(p) for group in branch.parameter_groups() for p in group["params"]}
    assert optimised.isdisjoint(id(p) for p in _target_params(branch))
    assert {id(p) for p in branch.predictor.parameters()} <= optimised
    state = branch.state_dict()
    assert any(k.startswith("target_encoder.") for k in state)
    assert any(k.startswith("target_projector.") for k in state)


def test_backward_leaves_the_target_alone_and_the_update_is_exact():
    branch, batch = _branch_and_batch()
    optimizer = torch.optim.SGD(branch.parameter_groups(), lr=0.1)
    before = [p.detach().clone() for p in _target_params(branch)]
    branch(batch).loss.backward()
    assert all(p.grad is None for p in _target_params(branch))  # stop-gradient
    assert all(p.grad is not None for p in branch.predictor.parameters())
    optimizer.step()
    for old, p in zip(before, _target_params(branch)):
        assert torch.equal(old, p)  # the optimiser did not touch the target
    online = [p.detach().clone() for p in _online_params(branch)]
    branch.on_step_end(SimpleNamespace(global_step=0, total_steps=10))
    tau = branch.last_tau
    assert tau == pytest.approx(0.99)
    for old, o, p in zip(before, online, _target_params(branch)):
        torch.testing.assert_close(p, old * tau + o * (1 - tau), rtol=1e-6, atol=1e-6)
        assert p.grad is None


def test_tau_schedule_endpoints_through_the_branch():
    branch, _ = _branch_and_batch()
    with torch.no_grad():
        for p in branch.projector.parameters():
            p.add_(1.0)  # the online network moves away from the target
    branch.on_step_end(SimpleNamespace(global_step=0, total_steps=7))
    assert branch.last_tau == pytest.approx(0.99)
    frozen = [p.clone() for p in _target_params(branch)]
    branch.on_step_end(SimpleNamespace(global_step=6, total_steps=7))
    assert branch.last_tau == pytest.approx(1.0)
    assert all(torch.equal(a, b) for a, b in zip(frozen, _target_params(branch)))  # tau 1: frozen
    assert branch.momentum(3, 7) == pytest.approx(0.995)


def test_loss_is_the_symmetrised_normalised_mse():
    branch, _ = _branch_and_batch()
    features = [torch.randn(5, 8), torch.randn(5, 8)]
    teacher = [torch.randn(5, 8), torch.randn(5, 8)]  # the target encoder's pooled features
    out = branch.loss_from_features(features, teacher)
    p1, p2 = out.embeddings
    with torch.no_grad():
        targets = [branch.target_projector(t) for t in teacher]  # z' = g'(f'(x)), one forward per view
    torch.testing.assert_close(out.targets, targets)

    def two_minus_two_cos(p, z):
        return (2 - 2 * F.cosine_similarity(p, z, dim=1)).mean()

    torch.testing.assert_close(out.loss, two_minus_two_cos(p1, targets[1]) + two_minus_two_cos(p2, targets[0]))
    assert out.loss.item() <= 8.0


def test_features_and_loss_from_features_agree():
    branch, batch = _branch_and_batch()
    out = branch(batch)
    assert [f.shape for f in out.features] == [(6, 8), (6, 8)]
    assert [p.shape for p in out.embeddings] == [(6, 8), (6, 8)]
    assert "z_std" in out.logs
    torch.testing.assert_close(branch.loss_from_features(out.features, out.teacher).loss, out.loss)
    with torch.no_grad():
        torch.testing.assert_close(out.teacher, [branch.target_encoder(v) for v in batch.views])
    with pytest.raises(ValueError, match="teacher_features"):
        branch.loss_from_features(out.features)


@pytest.mark.parametrize("concat", [False, True])
def test_views_run_one_forward_each_unless_concat_views(concat):
    """Per-view batch norm (the default, as BYOL's code, lightly and solo-learn); ``concat_views``
    keeps the old one forward over both views for online network and target."""
    branch, batch = _branch_and_batch(concat_views=concat)
    out = branch(batch)

    def run(module, inputs):
        return list(module(torch.cat(inputs)).split(6)) if concat else [module(x) for x in inputs]

    with torch.no_grad():
        features = run(branch.encoder, batch.views)
        p = run(branch.predictor, run(branch.projector, features))
        t = run(branch.target_projector, run(branch.target_encoder, batch.views))
    for got, expected in ((out.features, features), (out.embeddings, p), (out.targets, t)):
        torch.testing.assert_close([g.detach() for g in got], expected)
    other = [x.detach() for x in _branch_and_batch(concat_views=not concat)[0](batch).features]
    assert not torch.allclose(other[0], out.features[0].detach())  # the two batchings differ


def test_byol_refuses_pair_losses():
    with pytest.raises(IncompatibleComponentsError, match="normalized-mse"):
        create("branch", "byol", _context("nt-xent"))


def test_describe_shows_options_and_defaults():
    from ssl_core.cli import cli

    result = CliRunner().invoke(cli, ["describe", "branch", "byol"])
    assert result.exit_code == 0, result.output
    for text in ("base_tau", "pred_hidden_dim", "4096", "ssl-byol", "'loss': 'normalized-mse'", "'optimizer': 'lars'"):
        assert text in result.output
