"""timm encoders through the real trainer: every two-view branch, SwAV's multi-crop, sdclr-pruned and icl-msr."""

from __future__ import annotations

import math

import pytest
import torch
from ssl_core import BuildContext, IncompatibleComponentsError, available, create
from ssl_core.training.trainer import Trainer

#: small heads per branch (their defaults are thousands wide).
SIZES = {
    "simclr": {"hidden_dim": 16, "out_dim": 8},
    "simclr-v2": {"hidden_dim": 16, "out_dim": 8},
    "byol": {"hidden_dim": 16, "out_dim": 8, "pred_hidden_dim": 16},
    "moco": {"out_dim": 8, "queue_size": 64},
    "moco-v2": {"hidden_dim": 16, "out_dim": 8, "queue_size": 64},
    "moco-v3": {"hidden_dim": 16, "out_dim": 8, "pred_hidden_dim": 16},
    "simsiam": {"hidden_dim": 16, "out_dim": 8, "pred_hidden_dim": 8},
    "barlow-twins": {"hidden_dim": 16, "out_dim": 16},
    "sdclr-pruned": {"base_options": {"hidden_dim": 16, "out_dim": 8}},
    "swav": {"hidden_dim": 16, "out_dim": 8, "num_prototypes": 10},
}
#: timm's tiny test models of each family, and the issue's ViT made shallow; ConvNeXts need 32 px (stride 32).
MODELS = {"resnet": ({"model": "test_resnet"}, 16), "convnext": ({"model": "test_convnext"}, 32),
          "vit": ({"model": "test_vit"}, 16),
          "vit_tiny": ({"model": "vit_tiny_patch16_224", "kwargs": {"depth": 2}}, 16)}
#: one timm model per branch: every two-view branch, and SwAV's multi-crop with a ViT.
PAIRS = [("simclr", "resnet"), ("byol", "convnext"), ("moco-v2", "vit"), ("simsiam", "vit_tiny"),
         ("simclr-v2", "convnext"), ("moco", "resnet"), ("moco-v3", "vit"), ("barlow-twins", "resnet"),
         ("sdclr-pruned", "convnext"), ("swav", "vit")]


def _run(tmp_path, branch: str, family: str, **fields) -> dict:
    """One step (32 shapes images, batch 16) of ``branch`` with the timm model of ``family``."""
    encoder, size = MODELS[family]
    options = {"encoder": {"timm": encoder}, "branch": {branch: SIZES[branch]},
               "dataset": {"shapes": {"num_train": 32, "num_test": 16, "image_size": size}},
               **fields.pop("options", {})}
    return {"branch": branch, "encoder": "timm", "epochs": 1, "batch_size": 16, "device": "cpu",
            "no_callback": ["knn-monitor"], "output_dir": str(tmp_path / "run"), "options": options, **fields}


@pytest.mark.parametrize("branch, family", PAIRS)
def test_every_branch_trains_with_a_timm_encoder(branch, family, tmp_path, one_thread):
    if branch not in available("branch"):
        pytest.skip(f"branch {branch} is not installed")
    trainer = Trainer(_run(tmp_path, branch, family))
    assert math.isfinite(trainer.fit().history[-1]["loss"])
    assert trainer.branch.encoder.ssl_name == "timm"


def test_sdclr_prunes_a_vits_linear_weights_and_copies_its_layer_norms(one_thread):
    context = BuildContext(image_size=16, num_train=32)
    context.encoder = create("encoder", "timm", context, model="test_vit")
    context.loss = create("loss", "nt-xent", context)
    branch = create("branch", "sdclr-pruned", context, base_options=SIZES["simclr"])
    competitor = branch.competitor
    assert {"patch_embed.proj.weight", "blocks.0.attn.qkv.weight", "blocks.5.mlp.fc2.weight"} <= set(
        competitor.weight_names)
    assert "norm" in competitor.bn.paths and "blocks.0.norm1" in competitor.bn.paths
    assert competitor.sparsity() == pytest.approx(0.9, abs=1e-6)
    views = [torch.rand(8, 3, 16, 16), torch.rand(8, 3, 16, 16)]
    branch.loss_from_features(branch.encode(views)).loss.backward()
    assert all(norm.weight.grad.abs().sum() > 0 for norm in competitor.bn.copies.values())  # the pruned view's own


def test_sdclr_refuses_a_norm_it_cannot_copy_naming_it():
    context = BuildContext(image_size=16, num_train=32)
    context.encoder = create("encoder", "timm", context, model="test_vit4")  # timm's RmsNorm
    context.loss = create("loss", "nt-xent", context)
    with pytest.raises(IncompatibleComponentsError, match=r"blocks.0.norm1 \(RmsNorm\).*known: BatchNorm"):
        create("branch", "sdclr-pruned", context, base_options=SIZES["simclr"])


def test_icl_msr_reweights_a_vits_pooled_features(tmp_path, one_thread):
    options = {"regularizer": {"icl-msr": {"num_semantics": 2, "msr_widths": [4]}}}
    trainer = Trainer(_run(tmp_path, "simclr", "vit", regularizer=["icl-msr"], options=options))
    row = trainer.fit().history[-1]
    assert math.isfinite(row["loss_icl-msr"]) and row["loss_icl-msr"] != 0
    assert trainer.model.regularizers["icl-msr"].semantics.out.out_features == 2 * trainer.branch.encoder.feature_dim


def test_icl_msrs_forward_mode_tangent_through_a_vit_matches_a_finite_difference(one_thread):
    from ssl_icl_msr.evaluator import BranchEvaluator

    torch.manual_seed(0)
    context = BuildContext(image_size=16, num_train=32)
    context.encoder = create("encoder", "timm", context, model="test_vit").double().eval()
    context.loss = create("loss", "nt-xent", context)
    branch = create("branch", "simclr", context, **SIZES["simclr"]).double()
    evaluator = BranchEvaluator(branch, "log-of-average")
    params = dict(branch.encoder.named_parameters(prefix="encoder"))
    tangents = {name: torch.randn_like(p) for name, p in params.items()}
    views = [torch.rand(4, 3, 16, 16, dtype=torch.float64)]
    eps = 1e-6
    shifted = [{n: p.detach() + sign * eps * tangents[n] for n, p in params.items()} for sign in (1, -1)]
    plus, minus = (evaluator.encode(s, views)[0] for s in shifted)
    difference = (plus - minus) / (2 * eps)  # central: error O(eps^2), about 1e-8 relative here
    torch.testing.assert_close(evaluator.encode_tangent(params, tangents, views)[0], difference, rtol=1e-5, atol=1e-6)
