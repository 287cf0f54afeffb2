"""The losses nt-xent, neg-cosine and normalized-mse and the uniformity regularizer against hand
computations and direct formulas."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from ssl_core import BranchOutput, create
from ssl_losses.uniformity import uniformity


def nt_xent_direct(z1: torch.Tensor, z2: torch.Tensor, t: float) -> torch.Tensor:
    """The NT-Xent formula written out anchor by anchor."""
    w = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    terms = []
    for a in range(2 * n):
        p = (a + n) % (2 * n)
        denominator = sum(torch.exp(w[a] @ w[k] / t) for k in range(2 * n) if k != a)
        terms.append(-torch.log(torch.exp(w[a] @ w[p] / t) / denominator))
    return torch.stack(terms).mean()


def test_nt_xent_three_sample_case_by_hand():
    # z1 = z2 = (e1, e2, -e1). Anchors e1 and -e1 see sims {+1 (positive), 0, 0, -1, -1};
    # anchor e2 sees {+1 (positive), 0, 0, 0, 0}. With T = 1:
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    e = math.e
    a = -math.log(e / (e + 2 + 2 / e))
    b = -math.log(e / (e + 4))
    expected = (2 * a + b) / 3
    out = create("loss", "nt-xent", temperature=1.0)(z.clone(), z.clone())
    assert out.loss.item() == pytest.approx(expected, abs=1e-6)
    assert out.positive_log_prob.tolist() == pytest.approx([-a, -b, -a, -a, -b, -a], abs=1e-6)


@pytest.mark.parametrize("t", [0.1, 0.2, 0.5])
def test_nt_xent_equals_direct_formula_and_gradients_reach_both_views(t):
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(6, 5, generator=g, requires_grad=True)
    z2 = torch.randn(6, 5, generator=g, requires_grad=True)
    ours = create("loss", "nt-xent", temperature=t)(z1, z2).loss
    ours_grads = torch.autograd.grad(ours, (z1, z2))
    direct = nt_xent_direct(z1, z2, t)
    direct_grads = torch.autograd.grad(direct, (z1, z2))
    assert ours.item() == pytest.approx(direct.item(), rel=1e-5)
    for mine, reference in zip(ours_grads, direct_grads):
        assert mine.abs().sum() > 0
        torch.testing.assert_close(mine, reference, rtol=1e-4, atol=1e-6)


def test_negative_cosine_and_normalized_mse_match_their_formulas():
    g = torch.Generator().manual_seed(1)
    p, z = torch.randn(7, 4, generator=g), torch.randn(7, 4, generator=g)
    cos = torch.stack([p[i] @ z[i] / (p[i].norm() * z[i].norm()) for i in range(7)])
    neg = create("loss", "neg-cosine")(p, z).loss
    mse = create("loss", "normalized-mse")(p, z).loss
    assert neg.item() == pytest.approx(-cos.mean().item(), abs=1e-6)
    assert mse.item() == pytest.approx((2 - 2 * cos).mean().item(), abs=1e-5)
    # hand case: orthogonal vectors have cosine 0, identical ones 1
    a = torch.tensor([[1.0, 0.0], [2.0, 0.0]])
    b = torch.tensor([[0.0, 3.0], [5.0, 0.0]])
    assert create("loss", "neg-cosine")(a, b).loss.item() == pytest.approx(-0.5)
    assert create("loss", "normalized-mse")(a, b).loss.item() == pytest.approx(1.0)


def test_uniformity_matches_the_pairwise_formula():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(9, 3, generator=g)
    u = F.normalize(z, dim=1)
    pairs = [torch.exp(-2.0 * (u[i] - u[j]).pow(2).sum()) for i in range(9) for j in range(i + 1, 9)]
    assert uniformity(z, 2.0).item() == pytest.approx(torch.stack(pairs).mean().log().item(), abs=1e-6)
    # two antipodal points: |u_i - u_j|^2 = 4, so the value is -4t exactly
    antipodal = torch.tensor([[1.0, 0.0], [-3.0, 0.0]])
    assert uniformity(antipodal, 2.0).item() == pytest.approx(-8.0)


def test_uniformity_regularizer_weights_the_mean_over_views():
    g = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(5, 4, generator=g), torch.randn(5, 4, generator=g)
    output = BranchOutput(loss=torch.tensor(0.0), features=[], embeddings=[z1, z2])
    reg = create("regularizer", "uniformity", weight=0.5, t=2.0)
    expected = 0.5 * (uniformity(z1, 2.0) + uniformity(z2, 2.0)) / 2
    assert reg(None, output, None).item() == pytest.approx(expected.item(), abs=1e-6)
