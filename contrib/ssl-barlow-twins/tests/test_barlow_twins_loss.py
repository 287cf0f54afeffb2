"""The barlow-twins loss against hand-computed values and the official code's formula."""

from __future__ import annotations

import pytest
import torch
from ssl_core import create

from ssl_barlow_twins import barlow_twins_loss, cross_correlation


def test_hand_computed_two_sample_example():
    """N 2, D 2: each dimension standardises to -1, +1, so C = [[1, 1], [-1, -1]] and
    L = (1 - 1)^2 + (1 - (-1))^2 + lambda (1^2 + (-1)^2) = 4 + 2 lambda."""
    z1 = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    z2 = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    torch.testing.assert_close(cross_correlation(z1, z2, eps=0.0), torch.tensor([[1.0, 1.0], [-1.0, -1.0]]))
    exact = create("loss", "barlow-twins", eps=0.0)
    assert exact(z1, z2).loss.item() == pytest.approx(4 + 2 * 5e-3)  # 4.01
    assert exact(z1, z2).positive_log_prob is None  # not contrastive
    scaled = create("loss", "barlow-twins", eps=0.0, scale=0.1, lambd=0.5)
    assert scaled(z1, z2).loss.item() == pytest.approx(0.1 * (4 + 2 * 0.5))
    # the default eps (1e-5, as BatchNorm1d) is added to the variances (1 for z1, 0.25 for z2):
    # C = [[c, c], [-c, -c]] with c = 1 / sqrt((1 + 1e-5) (1 + 4e-5))
    c = 1 / ((1 + 1e-5) * (1 + 4e-5)) ** 0.5
    default = create("loss", "barlow-twins")
    assert default(z1, z2).loss.item() == pytest.approx((1 - c) ** 2 + (1 + c) ** 2 + 5e-3 * 2 * c**2, rel=1e-6)


def test_an_identity_cross_correlation_gives_zero_loss():
    """Two uncorrelated zero-mean unit-variance dimensions, the same in both views: C = I, L = 0,
    whatever the per-dimension offset and scale of the second view (standardisation removes it)."""
    z = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    loss = create("loss", "barlow-twins", eps=0.0)
    torch.testing.assert_close(cross_correlation(z, 3 * z + 5, eps=0.0), torch.eye(2))
    assert loss(z, 3 * z + 5).loss.item() == pytest.approx(0.0, abs=1e-7)
    assert create("loss", "barlow-twins")(z, z).loss.item() == pytest.approx(0.0, abs=1e-9)


def test_matches_the_official_formula_on_random_projections():
    """The paper's code: c = bn(z1).T @ bn(z2) / N with an affine-free BatchNorm1d, then the
    squared distance to the identity with the off-diagonal terms weighted by lambda."""
    generator = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(16, 6, generator=generator), torch.randn(16, 6, generator=generator) * 2 + 1
    bn = torch.nn.BatchNorm1d(6, affine=False)
    c = bn(z1).T @ bn(z2) / 16
    off = ~torch.eye(6, dtype=torch.bool)
    expected = (torch.diagonal(c) - 1).pow(2).sum() + 5e-3 * c[off].pow(2).sum()
    torch.testing.assert_close(cross_correlation(z1, z2), c)
    torch.testing.assert_close(barlow_twins_loss(c, 5e-3), expected)
    torch.testing.assert_close(create("loss", "barlow-twins")(z1, z2).loss, expected)


def test_gradients_reach_both_views_and_low_precision_inputs_are_computed_in_float32():
    z1 = torch.randn(8, 4, requires_grad=True)
    z2 = torch.randn(8, 4, requires_grad=True)
    loss = create("loss", "barlow-twins")
    loss(z1, z2).loss.backward()
    assert z1.grad.abs().sum() > 0 and z2.grad.abs().sum() > 0
    assert loss(z1.detach().bfloat16(), z2.detach().bfloat16()).loss.dtype == torch.float32


def test_one_sample_is_refused():
    with pytest.raises(ValueError, match="at least 2 samples"):
        create("loss", "barlow-twins")(torch.randn(1, 4), torch.randn(1, 4))
