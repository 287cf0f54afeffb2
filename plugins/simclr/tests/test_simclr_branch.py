"""The SimCLR branch: head shapes, outputs for regularizers, defaults and refusals."""

from __future__ import annotations

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from ssl_core import Batch, BuildContext, create
from ssl_core import IncompatibleComponentsError
from ssl_core.nn import ProjectionHead


def _context(views: str = "simclr", **view_options) -> BuildContext:
    torch.manual_seed(0)
    context = BuildContext(image_size=16)
    context.encoder = create("encoder", "small-resnet", context, widths=(4, 4, 8, 8))
    context.loss = create("loss", "nt-xent", context, temperature=0.2)
    context.views = create("views", views, context, **view_options)
    return context


@pytest.mark.parametrize("layers, linears, bns", [(1, 1, 0), (2, 2, 1), (3, 3, 2)])
def test_projection_head_layers(layers, linears, bns):
    head = ProjectionHead(8, 16, 4, layers=layers)
    assert sum(isinstance(m, nn.Linear) for m in head) == linears
    assert sum(isinstance(m, nn.BatchNorm1d) for m in head) == bns
    assert head(torch.randn(5, 8)).shape == (5, 4)
    assert isinstance(ProjectionHead(8, 16, 4, last_bn=True)[-1], nn.BatchNorm1d)
    assert ProjectionHead(8, 16, 4, last_bn=True)[-1].affine and not ProjectionHead(
        8, 16, 4, last_bn=True, last_bn_affine=False)[-1].affine


def test_forward_exposes_features_embeddings_and_positive_log_probs():
    context = _context()
    branch = create("branch", "simclr", context, out_dim=6)
    images = torch.rand(5, 3, 16, 16)
    views = context.views(images, torch.Generator().manual_seed(0))
    out = branch(Batch(views=views, image=images, index=torch.arange(5)))
    assert [f.shape for f in out.features] == [(5, 8), (5, 8)]
    assert [z.shape for z in out.embeddings] == [(5, 6), (5, 6)]
    assert out.positive_log_prob.shape == (10,)
    torch.testing.assert_close(out.loss, -out.positive_log_prob.mean())
    again = branch.loss_from_features(out.features)  # a regularizer can re-run head and criterion
    torch.testing.assert_close(again.loss, out.loss)
    out.loss.backward()
    assert all(p.grad is not None for p in branch.encoder.parameters())


def test_simclr_refuses_views_that_are_not_pairs():
    with pytest.raises(IncompatibleComponentsError, match="2 views per image; the views give 3"):
        create("branch", "simclr", _context("identity", num_views=3))


def test_describe_shows_options_and_the_defaults_the_branch_brings():
    from ssl_core.cli import cli

    result = CliRunner().invoke(cli, ["describe", "branch", "simclr"])
    assert result.exit_code == 0
    for text in ("head_layers", "out_dim", "128", "ssl-simclr", "'views': 'simclr'", "'temperature': 0.2"):
        assert text in result.output


def test_simclr_v2_preset_has_the_three_layer_head_and_its_run_defaults():
    from ssl_core import registry
    from ssl_core.cli import cli

    branch = create("branch", "simclr-v2", _context())
    linears = [m for m in branch.head if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(8, 8), (8, 8), (8, 128)]  # hidden = feature dim
    assert sum(isinstance(m, nn.BatchNorm1d) for m in branch.head) == 2
    assert sum(isinstance(m, nn.Linear) for m in create("branch", "simclr", _context()).head) == 2
    defaults = registry.spec("branch", "simclr-v2").defaults
    assert defaults["options"]["loss"]["nt-xent"]["temperature"] == 0.1
    assert (defaults["optimizer"], defaults["lr"], defaults["weight_decay"]) == ("lars", 0.4, 1e-4)
    result = CliRunner().invoke(cli, ["describe", "branch", "simclr-v2"])
    assert result.exit_code == 0, result.output
    head_layers = next(line for line in result.output.splitlines() if line.startswith("head_layers"))
    assert head_layers.split()[:3] == ["head_layers", "int", "3"]
    assert "'temperature': 0.1" in result.output


def test_simclr_v2_run_resolves_its_defaults_under_the_users_settings():
    from ssl_core.config import resolve

    config = resolve({"branch": "simclr-v2"}, ["loss.temperature=0.3"])
    assert (config.views, config.loss, config.optimizer, config.lr) == ("simclr", "nt-xent", "lars", 0.4)
    assert config.options["loss"]["nt-xent"].temperature == 0.3
