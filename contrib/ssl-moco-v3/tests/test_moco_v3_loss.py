"""The moco-v3 loss against a hand-computed value and an explicit cross-entropy formula."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from ssl_core import create


def test_hand_computed_two_query_example():
    """q = k = the unit vectors e1, e2 (up to scale): logits = I / T, so each query's positive
    log-probability is -log(1 + exp(-1/T)) and ctr = 2T log(1 + exp(-1/T))."""
    loss = create("loss", "moco-v3", temperature=0.5)
    q = torch.tensor([[3.0, 0.0], [0.0, 2.0]])  # normalised by the loss
    k = torch.tensor([[1.0, 0.0], [0.0, 5.0]])
    out = loss(q, k)
    expected = math.log(1 + math.exp(-2.0))
    torch.testing.assert_close(out.positive_log_prob, torch.full((2,), -expected))
    assert out.loss.item() == pytest.approx(2 * 0.5 * expected)


def test_matches_an_explicit_cross_entropy_of_normalised_logits():
    """ctr(q, k) = 2T * CrossEntropy(q k^T / T, arange(B)) with q, k L2-normalised (one process)."""
    generator = torch.Generator().manual_seed(0)
    q, k = torch.randn(6, 5, generator=generator), torch.randn(6, 5, generator=generator)
    logits = F.normalize(q, dim=1) @ F.normalize(k, dim=1).T / 0.2
    out = create("loss", "moco-v3")(q, k)  # T 0.2 by default
    torch.testing.assert_close(out.loss, 2 * 0.2 * F.cross_entropy(logits, torch.arange(6)))
    torch.testing.assert_close(out.positive_log_prob, torch.log_softmax(logits, dim=1).diagonal())
    # the explicit sum: -log(exp(l_ii) / sum_j exp(l_ij)) averaged over i, times 2T
    explicit = -sum(logits[i, i] - torch.log(torch.exp(logits[i]).sum()) for i in range(6)) / 6
    torch.testing.assert_close(out.loss, 2 * 0.2 * explicit)


def test_the_query_gets_the_gradient_and_the_key_none():
    q = torch.randn(4, 3, requires_grad=True)
    k = torch.randn(4, 3, requires_grad=True)
    create("loss", "moco-v3")(q, k).loss.backward()
    assert q.grad.abs().sum() > 0
    assert k.grad is None  # the keys are the teacher's, gathered without gradient
    assert create("loss", "moco-v3").input_kind == "query-key"
