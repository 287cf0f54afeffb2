"""The SimSiam branch: heads, stop-gradient, the loss, the fixed-lr predictor group and outputs."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from torch import nn

from ssl_core import Batch, BuildContext, Trainer, create
from ssl_core import IncompatibleComponentsError
from ssl_simsiam import SimSiamProjector

SIZES = {"hidden_dim": 16, "out_dim": 12, "pred_hidden_dim": 4}


@pytest.fixture
def tiny_simsiam_run(tmp_path) -> dict:
    """One epoch of 4 steps on tiny images with small heads and no callbacks."""
    return {"branch": "simsiam", "views": "simclr", "epochs": 1, "batch_size": 32, "device": "cpu",
            "warmup_epochs": 0.0, "no_callback": ["knn-monitor"], "output_dir": str(tmp_path / "run"),
            "options": {"encoder": {"small-resnet": {"widths": [4, 4, 8, 8]}},
                        "dataset": {"shapes": {"num_train": 128, "num_test": 20, "image_size": 16}},
                        "branch": {"simsiam": {"hidden_dim": 32, "out_dim": 32, "pred_hidden_dim": 8}}}}


def _context(views: str = "simclr", **view_options) -> BuildContext:
    torch.manual_seed(0)
    context = BuildContext(image_size=16)
    context.encoder = create("encoder", "small-resnet", context, widths=(4, 4, 8, 8))
    context.loss = create("loss", "neg-cosine", context)
    context.views = create("views", views, context, **view_options)
    return context


def _projection(branch, features: list[torch.Tensor]) -> list[torch.Tensor]:
    return [branch.projector(f) for f in features]  # one forward per view (per-view batch norm)


@pytest.mark.parametrize("layers", [2, 3])
def test_projector_ends_in_a_bn_without_affine_parameters(layers):
    projector = SimSiamProjector(8, 16, 12, layers=layers)
    linears = [m for m in projector if isinstance(m, nn.Linear)]
    assert len(linears) == layers and all(m.bias is None for m in linears)
    last = projector[-1]
    assert isinstance(last, nn.BatchNorm1d) and not last.affine
    assert last.weight is None and last.bias is None
    assert projector(torch.randn(5, 8)).shape == (5, 12)


def test_predictor_is_a_bottleneck():
    branch = create("branch", "simsiam", _context(), **SIZES)
    widths = [(m.in_features, m.out_features) for m in branch.predictor if isinstance(m, nn.Linear)]
    assert widths == [(12, 4), (4, 12)]


def test_loss_is_the_symmetrised_negative_cosine():
    branch = create("branch", "simsiam", _context(), **SIZES)
    features = [torch.randn(5, 8), torch.randn(5, 8)]
    out = branch.loss_from_features(features)
    z1, z2 = _projection(branch, features)
    p1, p2 = out.embeddings
    expected = -(F.cosine_similarity(p1, z2).mean() + F.cosine_similarity(p2, z1).mean()) / 2
    torch.testing.assert_close(out.loss, expected)


def test_the_gradient_reaches_z_only_through_the_predictor():
    branch = create("branch", "simsiam", _context(), **SIZES, concat_views=True)  # one z for both views
    features = [torch.randn(6, 8), torch.randn(6, 8)]
    captured = {}

    def keep(module, inputs, output):
        output.retain_grad()
        captured["z"] = output

    handle = branch.projector.register_forward_hook(keep)
    branch.loss_from_features(features).loss.backward()
    handle.remove()
    z = captured["z"]

    def loss_with(z_online: torch.Tensor, z_target: torch.Tensor) -> torch.Tensor:
        p1, p2 = branch.predictor(z_online).split(6)
        t1, t2 = z_target.split(6)
        return -(F.cosine_similarity(p1, t2).mean() + F.cosine_similarity(p2, t1).mean()) / 2

    leaf = z.detach().requires_grad_()
    through_predictor, = torch.autograd.grad(loss_with(leaf, z.detach()), leaf)
    torch.testing.assert_close(z.grad, through_predictor)
    both_sides, = torch.autograd.grad(loss_with(leaf, leaf), leaf)  # what no stop-gradient would give
    assert not torch.allclose(z.grad, both_sides, atol=1e-6)


def test_features_and_loss_from_features_agree():
    context = _context()
    branch = create("branch", "simsiam", context, **SIZES)
    images = torch.rand(5, 3, 16, 16)
    out = branch(Batch(views=context.views(images, torch.Generator().manual_seed(0)), image=images,
                       index=torch.arange(5)))
    assert [f.shape for f in out.features] == [(5, 8), (5, 8)]
    assert [p.shape for p in out.embeddings] == [(5, 12), (5, 12)]
    torch.testing.assert_close(branch.loss_from_features(out.features).loss, out.loss)
    assert -1.0 <= out.loss.item() <= 1.0


@pytest.mark.parametrize("concat", [False, True])
def test_views_run_one_forward_each_unless_concat_views(concat):
    """Per-view batch norm by default (SimSiam's code, lightly, solo-learn); ``concat_views``
    keeps one forward over both views."""
    context = _context()
    branch = create("branch", "simsiam", context, **SIZES, concat_views=concat)
    images = torch.rand(5, 3, 16, 16)
    views = context.views(images, torch.Generator().manual_seed(0))
    out = branch(Batch(views=views, image=images, index=torch.arange(5)))

    def run(module, inputs):
        return list(module(torch.cat(inputs)).split(5)) if concat else [module(x) for x in inputs]

    with torch.no_grad():
        features = run(branch.encoder, views)
        predictions = run(branch.predictor, run(branch.projector, features))
    torch.testing.assert_close([f.detach() for f in out.features], features)
    torch.testing.assert_close([p.detach() for p in out.embeddings], predictions)


def test_parameter_groups_put_the_predictor_apart():
    branch = create("branch", "simsiam", _context(), **SIZES)
    rest, predictor = branch.parameter_groups()
    assert predictor["fixed_lr"] is True
    assert {id(p) for p in predictor["params"]} == {id(p) for p in branch.predictor.parameters()}
    assert len(rest["params"]) + len(predictor["params"]) == len(list(branch.parameters()))
    scheduled = create("branch", "simsiam", _context(), fixed_predictor_lr=False, **SIZES).parameter_groups()
    assert len(scheduled) == 1 and not scheduled[0].get("fixed_lr")


def test_the_predictor_keeps_the_peak_lr_through_the_trainer(tiny_simsiam_run):
    trainer = Trainer(tiny_simsiam_run)
    result = trainer.fit()
    predictor = {id(p) for p in trainer.branch.predictor.parameters()}
    groups = trainer.optimizer.param_groups
    fixed = [g for g in groups if {id(p) for p in g["params"]} <= predictor]
    others = [g for g in groups if g not in fixed]
    assert fixed and others
    assert all(g["lr"] == trainer.peak_lr for g in fixed)
    last_lr = result.history[-1]["lr"]
    assert last_lr < trainer.peak_lr
    assert all(g["lr"] == last_lr for g in others)


def test_simsiam_refuses_views_that_are_not_pairs():
    with pytest.raises(IncompatibleComponentsError, match="2 views per image; the views give 3"):
        create("branch", "simsiam", _context("identity", num_views=3))


def test_describe_shows_options_and_defaults():
    from ssl_core.cli import cli

    result = CliRunner().invoke(cli, ["describe", "branch", "simsiam"])
    assert result.exit_code == 0, result.output
    for text in ("fixed_predictor_lr", "pred_hidden_dim", "512", "ssl-simsiam", "'loss': 'neg-cosine'", "'lr': 0.5"):
        assert text in result.output
