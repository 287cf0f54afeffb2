"""L_uni, L_msr and the re-weighted base losses against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from icl_msr_tiny import BRANCHES, batch, context
from ssl_core import BranchOutput, create
from ssl_icl_msr import backdoor_loss, stratum_score, uniformity


def test_uniformity_kernel_is_the_gaussian_potential_on_unit_vectors():
    a, b = F.normalize(torch.randn(2, 50, 16, dtype=torch.float64), dim=-1)
    for t in (0.5, 2.0):
        torch.testing.assert_close(torch.exp(2 * t * (a * b).sum(-1) - 2 * t), torch.exp(-t * (a - b).pow(2).sum(-1)))


def test_uniformity_by_hand():
    """Image 1: a_1 = e1, a_2 = e2, a_3 = (e1 + e2) scaled by 3 (normalised inside); image 2: all equal."""
    s = 1 / math.sqrt(2)
    first = torch.tensor([[1.0, 0.0], [0.0, 1.0], [3.0, 3.0]], dtype=torch.float64)
    second = torch.ones(3, 2, dtype=torch.float64)
    t = 2.0
    by_hand = math.log((math.exp(-2 * t) + 2 * math.exp(2 * t * s - 2 * t)) / 3)  # dots 0, s, s
    torch.testing.assert_close(uniformity(torch.stack([first, second]), t),
                               torch.tensor((by_hand + 0.0) / 2, dtype=torch.float64))  # equal vectors: log 1 = 0
    assert uniformity(torch.rand(4, 1, 5), t) == 0  # n = 1: no pairs


def test_log_of_average_and_average_of_log_by_hand():
    p = torch.tensor([[0.5, 0.2], [0.1, 0.4]], dtype=torch.float64)  # P_t(i): 2 strata x 2 anchors
    scores = list(p.log())
    torch.testing.assert_close(backdoor_loss(scores, "log-of-average"),
                               torch.tensor(-(math.log(0.3) + math.log(0.3)) / 2, dtype=torch.float64))
    torch.testing.assert_close(backdoor_loss(scores, "average-of-log"),
                               torch.tensor(-sum(math.log(x) for x in (0.5, 0.2, 0.1, 0.4)) / 4, dtype=torch.float64))
    assert backdoor_loss(scores, "log-of-average") < backdoor_loss(scores, "average-of-log")  # Jensen


def test_non_contrastive_strata_score_minus_their_loss():
    outputs = [BranchOutput(loss=torch.tensor(v, dtype=torch.float64), features=[], embeddings=[]) for v in (1.0, 3.0)]
    scores = [stratum_score(o) for o in outputs]
    torch.testing.assert_close(backdoor_loss(scores, "log-of-average"),
                               torch.tensor(-math.log((math.exp(-1) + math.exp(-3)) / 2), dtype=torch.float64))
    torch.testing.assert_close(backdoor_loss(scores, "average-of-log"), torch.tensor(2.0, dtype=torch.float64))


@pytest.mark.parametrize(("name", "base"), BRANCHES)
def test_l_ct_and_l_msr_with_one_all_ones_vector_equal_the_branch_loss(name, base):
    """The functional L_ct (teacher recomputed on cloned buffers) is the branch's own loss, and
    L_msr with n = 1 and a_1 = 1 is L_ct, for every supported branch."""
    ctx = context(name, base)
    reg = create("regularizer", "icl-msr", ctx, num_semantics=1)
    data = batch(ctx)
    evaluator = reg.evaluator(ctx.branch)
    teacher = evaluator.teacher(data)
    out = ctx.branch(data)
    c = ctx.branch.encoder.feature_dim
    ct = evaluator.ct_loss({}, out.features, teacher)
    msr = evaluator.msr_loss({}, out.features, teacher, torch.ones(8, 1, c))
    torch.testing.assert_close(ct, out.loss, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(msr, out.loss, rtol=1e-6, atol=1e-6)


def test_byol_strata_reweight_the_target_encoder_features_before_the_target_projector():
    ctx = context("byol")
    branch, data = ctx.branch, batch(ctx)
    reg = create("regularizer", "icl-msr", ctx)
    evaluator = reg.evaluator(branch)
    a = torch.rand(8, branch.encoder.feature_dim) * 2
    with torch.no_grad():
        h = branch.encode(data.views)
        # one forward per view, as the branch runs its own passes (per-view batch norm)
        t1, t2 = (branch.target_encoder(v) for v in data.views)
        z1, z2 = (branch.target_projector(a * t) for t in (t1, t2))
        p1, p2 = (branch.predictor(branch.projector(a * x)) for x in h)
        by_hand = branch.criterion(p1, z2).loss + branch.criterion(p2, z1).loss
        got = evaluator.strata.loss(h, evaluator.teacher(data), a).loss
    torch.testing.assert_close(got, by_hand)


def test_moco_strata_reweight_query_and_key_features_and_keep_the_queue():
    ctx = context("moco", bn_splits=1)
    branch, data = ctx.branch, batch(ctx)
    reg = create("regularizer", "icl-msr", ctx)
    evaluator = reg.evaluator(branch)
    a = torch.rand(8, branch.encoder.feature_dim) * 2
    queue = branch.queue.clone()
    with torch.no_grad():
        h = branch.encode(data.views)
        key_features = branch.key_encoder(data.views[1])  # one BN batch: the shuffle does not matter
        q = F.normalize(branch.head(a * h[0]), dim=1)
        k = F.normalize(branch.key_head(a * key_features), dim=1)
        by_hand = branch.criterion(q, k, queue)
        teacher = evaluator.teacher(data)
        got = evaluator.strata.loss(h, teacher, a)
        unweighted_keys = evaluator.strata.loss(h, teacher).targets[1]
    torch.testing.assert_close(got.loss, by_hand.loss)
    torch.testing.assert_close(got.positive_log_prob, by_hand.positive_log_prob)
    torch.testing.assert_close(got.targets[1], k)  # the keys are re-weighted too, not the stored ones
    assert not torch.allclose(unweighted_keys, k) and torch.equal(branch.queue, queue)
