"""The moco-v3 branch: its teacher, a short run that learns, and composition with
sdclr-pruned and icl-msr."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from moco_v3_tiny import TINY_SETS, batch, context
from ssl_core import Batch, Trainer, create
from torch import nn


def test_the_branch_keeps_the_contract():
    ctx = context()
    branch, data = ctx.branch, batch(ctx)
    assert branch.loss_input_kind == "query-key" and branch.num_views == 2 and branch.has_teacher
    assert set(branch.view_modules()) == {"encoder", "projector", "predictor"}
    assert sum(isinstance(m, nn.Linear) for m in branch.projector) == 2
    assert isinstance(branch.projector[-1], nn.BatchNorm1d) and not branch.projector[-1].affine
    assert isinstance(branch.predictor[-1], nn.Linear)
    teacher = branch.teacher_features(data)
    assert [t.shape for t in teacher] == [(8, branch.encoder.feature_dim)] * 2
    assert not any(t.requires_grad for t in teacher)
    output = branch(data)
    assert output.teacher is teacher or all(torch.equal(a, b) for a, b in zip(output.teacher, teacher))
    assert output.positive_log_prob.shape == (16,)  # both halves of the symmetric loss
    k1, k2 = output.targets  # the keys: the teacher projector on the teacher's features
    torch.testing.assert_close(k2, branch.target_projector(teacher[1]).detach())
    q1, _ = output.embeddings
    expected = 0.4 * F.cross_entropy(F.normalize(q1, dim=1) @ F.normalize(k2, dim=1).T / 0.2, torch.arange(8))
    first = create("loss", "moco-v3")(q1, k2).loss
    torch.testing.assert_close(first, expected)
    again = branch.loss_from_features(branch.encode(data.views), teacher)
    torch.testing.assert_close(again.loss, output.loss)  # forward is loss_from_features(encode, teacher)
    with pytest.raises(ValueError, match="teacher"):
        branch.loss_from_features(output.features, None)


def test_the_teacher_is_a_momentum_copy_outside_the_optimiser():
    ctx = context()
    branch, data = ctx.branch, batch(ctx)
    online = {id(p) for group in branch.parameter_groups() for p in group["params"]}
    teacher = [*branch.target_encoder.parameters(), *branch.target_projector.parameters()]
    assert teacher and all(not p.requires_grad and id(p) not in online for p in teacher)
    branch(data).loss.backward()
    assert all(p.grad is None for p in teacher)
    with torch.no_grad():
        for p in branch.projector.parameters():
            p.add_(1.0)  # as if an optimiser step moved the online network
    before = [p.clone() for p in branch.target_projector.parameters()]
    branch.on_step_end(SimpleNamespace(global_step=0, total_steps=10))
    assert branch.last_tau == pytest.approx(0.99)  # the cosine schedule starts at base_tau
    for old, new, p in zip(before, branch.target_projector.parameters(), branch.projector.parameters()):
        torch.testing.assert_close(new, 0.99 * old + 0.01 * p)
    branch.on_step_end(SimpleNamespace(global_step=9, total_steps=10))
    assert branch.last_tau == pytest.approx(1.0)  # and ends at final_tau
    assert branch.momentum(5, 11) == pytest.approx(0.995)  # half-way: (0.99 + 1) / 2


def test_a_short_shapes_run_beats_the_untrained_encoder_on_knn(tmp_path, one_thread):
    """12 epochs of 1,000 shapes images at 16 px, batch 32 (372 steps), small ResNet 16-32-64-64,
    projector 128 -> 32, predictor 128, T 0.2, LARS at lr 1.0 per 256 (the default 0.3 learns
    too slowly for a run this short), simclr views with crops of 40-100%; about 8 s on one
    thread. Measured k-NN top-1 (k 20, 500 test images, chance 0.10), untrained -> trained,
    seeds 0-4: 0.138 -> 0.250, 0.166 -> 0.254, 0.132 -> 0.262, 0.158 -> 0.260, 0.180 -> 0.300
    (margins 0.09-0.13; one standard error is about 0.02)."""
    result = Trainer(branch="moco-v3", views="simclr", epochs=12, batch_size=32, lr=1.0, warmup_epochs=0.5, seed=0,
                     device="cpu", output_dir=str(tmp_path / "run"),
                     options={"views": {"simclr": {"crop_scale": [0.4, 1.0]}}},
                     sets=["encoder.widths=[16, 32, 64, 64]", "dataset.num_train=1000", "dataset.num_test=500",
                           "dataset.image_size=16", "branch.hidden_dim=128", "branch.out_dim=32",
                           "branch.pred_hidden_dim=128", "callback.k=20"]).fit()
    untrained, trained = result.summary["knn_top1_untrained"], result.summary["knn_top1"]
    assert trained >= 0.2 and trained >= untrained + 0.05, (untrained, trained)


def test_sdclr_pruned_runs_on_moco_v3_and_adopts_its_run_defaults(tmp_path):
    pytest.importorskip("ssl_sdclr")
    trainer = Trainer(branch="sdclr-pruned", epochs=1, batch_size=16, device="cpu", no_callback=["knn-monitor"],
                      output_dir=str(tmp_path / "run"),
                      sets=["branch.base=moco-v3", "branch.base_options={hidden_dim: 32, out_dim: 16, "
                                                   "pred_hidden_dim: 32}", *TINY_SETS])
    config = trainer.config
    assert (config.views, config.loss, config.optimizer, config.lr, config.weight_decay) == \
        ("byol", "moco-v3", "lars", 0.3, 1e-6)
    result = trainer.fit()
    branch = trainer.branch
    assert type(branch.base).__name__ == "MoCoV3Branch"
    x = torch.rand(4, 3, 16, 16)
    dense, pruned = branch.base.per_view("encoder", [x, x])  # view 2's queries come from the pruned competitor
    assert not torch.allclose(dense, pruned)
    k_dense, k_pruned = branch.base.teacher_features(Batch(views=[x, x], image=x, index=torch.arange(4)))
    torch.testing.assert_close(k_dense, k_pruned)  # while the teacher is the dense one for both views
    assert set(branch.head_bn) == {"projector", "predictor"}  # with its own head batch norms
    assert branch.base.last_tau is not None  # the lifecycle reached the base: its teacher moved
    assert math.isfinite(result.history[-1]["loss"])


def test_icl_msr_composes_with_moco_v3(tmp_path):
    pytest.importorskip("ssl_icl_msr")
    trainer = Trainer(branch="moco-v3", epochs=1, batch_size=16, device="cpu", no_callback=["knn-monitor"],
                      regularizer=["icl-msr"], output_dir=str(tmp_path / "run"),
                      sets=[*TINY_SETS, "branch.hidden_dim=32", "branch.out_dim=16", "branch.pred_hidden_dim=32",
                            "regularizer.num_semantics=2", "regularizer.msr_widths=[4]"])
    row = trainer.fit().history[-1]
    reg = trainer.model.regularizers["icl-msr"]
    assert all(math.isfinite(row[k]) for k in ("loss", "loss_branch", "loss_icl-msr", "icl_msr_meta_loss"))
    assert row["loss_icl-msr"] != 0
    assert reg.optimizer.state[next(reg.semantics.parameters())]["step"] == 2  # a meta step per step


def test_icl_msr_re_weights_the_teachers_features_too():
    """A stratum's loss is the branch's loss on re-weighted online AND teacher features: it
    differs from the loss with the teacher's features left unweighted, so a branch that ignored
    the ``teacher`` argument (or computed its keys elsewhere) fails here."""
    icl_msr = pytest.importorskip("ssl_icl_msr")
    ctx = context()
    create("regularizer", "icl-msr", ctx, num_semantics=2, msr_widths=(4,))  # accepts the branch
    branch, data = ctx.branch, batch(ctx)
    features, teacher = branch.encode(data.views), branch.teacher_features(data)
    weights = torch.rand(8, branch.encoder.feature_dim, generator=torch.Generator().manual_seed(3))
    stratum = icl_msr.Strata(branch).loss(features, teacher, weights)
    both = branch.loss_from_features([weights * f for f in features], [weights * t for t in teacher])
    online_only = branch.loss_from_features([weights * f for f in features], teacher)
    torch.testing.assert_close(stratum.loss, both.loss)
    torch.testing.assert_close(stratum.positive_log_prob, both.positive_log_prob)
    assert not torch.allclose(stratum.loss, online_only.loss)
    assert not torch.allclose(stratum.positive_log_prob, online_only.positive_log_prob)
