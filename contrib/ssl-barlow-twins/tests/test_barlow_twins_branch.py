"""The barlow-twins branch: its contract, a short run that learns, and composition with
sdclr-pruned and icl-msr."""

from __future__ import annotations

import math

import pytest
import torch
from barlow_twins_tiny import SIZES, TINY_SETS, batch, context
from ssl_core import Trainer, create
from torch import nn


def test_the_branch_keeps_the_contract():
    ctx = context()
    branch, data = ctx.branch, batch(ctx)
    assert branch.loss_input_kind == "pair" and branch.num_views == 2 and not branch.has_teacher
    assert set(branch.view_modules()) == {"encoder", "projector"}
    assert sum(isinstance(m, nn.Linear) for m in branch.projector) == 3
    assert branch.projector[-1].out_features == SIZES["out_dim"]
    assert branch.teacher_features(data) is None
    output = branch(data)
    assert output.teacher is None and output.positive_log_prob is None
    assert [z.shape for z in output.embeddings] == [(8, SIZES["out_dim"])] * 2
    again = branch.loss_from_features(branch.encode(data.views), None)
    torch.testing.assert_close(again.loss, output.loss)  # forward is loss_from_features(encode(views))
    output.loss.backward()
    assert all(p.grad is not None for p in branch.parameters())


def test_a_short_shapes_run_beats_the_untrained_encoder_on_knn(tmp_path, one_thread):
    """12 epochs of 1,000 shapes images at 16 px, batch 32 (372 steps), small ResNet 16-32-64-64,
    projector 128-128-128, the branch's own optimiser defaults (LARS, lr 0.3 per 256, wd 1e-4,
    loss scale 0.1), simclr views with crops of 40-100% (the byol views' 8% crops are too harsh
    at 16 px); about 6 s on one thread. Measured k-NN top-1 (k 20, 500 test images, chance
    0.10), untrained -> trained, seeds 0-4: 0.138 -> 0.268, 0.166 -> 0.274, 0.132 -> 0.250,
    0.158 -> 0.290, 0.180 -> 0.246 (margins 0.07-0.13; one standard error is about 0.02)."""
    result = Trainer(branch="barlow-twins", views="simclr", epochs=12, batch_size=32, warmup_epochs=0.5, seed=0,
                     device="cpu", output_dir=str(tmp_path / "run"),
                     options={"views": {"simclr": {"crop_scale": [0.4, 1.0]}}},
                     sets=["encoder.widths=[16, 32, 64, 64]", "dataset.num_train=1000", "dataset.num_test=500",
                           "dataset.image_size=16", "branch.hidden_dim=128", "branch.out_dim=128",
                           "callback.k=20"]).fit()
    untrained, trained = result.summary["knn_top1_untrained"], result.summary["knn_top1"]
    assert trained >= 0.2 and trained >= untrained + 0.05, (untrained, trained)


def test_sdclr_pruned_runs_on_barlow_twins_and_adopts_its_run_defaults(tmp_path):
    pytest.importorskip("ssl_sdclr")
    trainer = Trainer(branch="sdclr-pruned", epochs=1, batch_size=16, device="cpu", no_callback=["knn-monitor"],
                      output_dir=str(tmp_path / "run"),
                      sets=["branch.base=barlow-twins", "branch.base_options={hidden_dim: 32, out_dim: 32}",
                            *TINY_SETS])
    config = trainer.config
    assert (config.views, config.loss, config.optimizer, config.lr, config.weight_decay) == \
        ("byol", "barlow-twins", "lars", 0.3, 1e-4)
    assert config.component_options("loss", "barlow-twins").scale == 0.1
    result = trainer.fit()
    branch = trainer.branch
    assert type(branch.base).__name__ == "BarlowTwinsBranch"
    x = torch.rand(4, 3, 16, 16)
    dense, pruned = branch.base.per_view("encoder", [x, x])  # view 2 runs through the pruned competitor
    assert not torch.allclose(dense, pruned)
    assert set(branch.head_bn) == {"projector"}  # with its own projector batch norms
    assert math.isfinite(result.history[-1]["loss"])


def test_icl_msr_composes_with_barlow_twins(tmp_path):
    pytest.importorskip("ssl_icl_msr")
    trainer = Trainer(branch="barlow-twins", epochs=1, batch_size=16, device="cpu", no_callback=["knn-monitor"],
                      regularizer=["icl-msr"], output_dir=str(tmp_path / "run"),
                      sets=[*TINY_SETS, "branch.hidden_dim=32", "branch.out_dim=32",
                            "regularizer.num_semantics=2", "regularizer.msr_widths=[4]"])
    row = trainer.fit().history[-1]
    reg = trainer.model.regularizers["icl-msr"]
    assert all(math.isfinite(row[k]) for k in ("loss", "loss_branch", "loss_icl-msr", "icl_msr_meta_loss"))
    assert row["loss_icl-msr"] != 0
    assert reg.optimizer.state[next(reg.semantics.parameters())]["step"] == 2  # a meta step per step


def test_icl_msr_re_weights_the_features_the_projector_sees():
    """Without a teacher, a stratum's loss is the branch's loss on the re-weighted pooled features."""
    icl_msr = pytest.importorskip("ssl_icl_msr")
    ctx = context()
    create("regularizer", "icl-msr", ctx, num_semantics=2, msr_widths=(4,))  # accepts the branch
    branch, data = ctx.branch, batch(ctx)
    features = branch.encode(data.views)
    weights = torch.rand(8, branch.encoder.feature_dim, generator=torch.Generator().manual_seed(3))
    stratum = icl_msr.Strata(branch).loss(features, None, weights)
    torch.testing.assert_close(stratum.loss, branch.loss_from_features([weights * f for f in features]).loss)
    assert not torch.allclose(stratum.loss, branch.loss_from_features(features).loss)
