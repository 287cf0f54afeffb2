"""Every registered branch resumes bit for bit: 2 epochs equal 1 epoch, a resume, then 1 more.

The interrupted run is the 2-epoch run cut after its first checkpoint (only ``config.yaml`` and
``checkpoints/epoch-0001`` kept, what a crash during epoch 2 leaves). A run configured for 1
epoch and resumed with ``epochs=2`` would be a different run: its schedules (the learning
rate's cosine, BYOL's and MoCo v3's momentum) span 1 epoch's steps, not 2.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import ssl_core
from ssl_core import BuildContext, Trainer, create

#: small values for the size options a branch has (the defaults are thousands wide); SwAV's
#: prototypes train from the first step and its queue fills in epoch 1, so epoch 2 uses it.
SMALL = {"hidden_dim": 16, "out_dim": 8, "pred_hidden_dim": 16, "queue_size": 32, "queue_length": 32,
         "queue_start_epoch": 0, "freeze_prototypes_epochs": 0}
#: history fields that measure time, not training.
TIMING = {"images_per_s", "epoch_time_s"}


def _small(branch: str, **options: Any) -> dict[str, Any]:
    """``options`` and the small sizes of ``branch`` (for a wrapper branch, of its base too)."""
    defaults = {row["name"]: row["default"] for row in ssl_core.describe("branch", branch)}
    if "base_options" in defaults:
        base = _small(options.get("base", defaults["base"]), **options.get("base_options", {}))
        options = {**options, "base_options": base}
    return {**{k: v for k, v in SMALL.items() if k in defaults}, **options}


CASES = [pytest.param(name, {}, [], id=name) for name in ssl_core.available("branch")] + [
    # the headline combination, on the most stateful base: queue, key encoder, mask, f_msr and its Adam
    pytest.param("sdclr-pruned", {"base": "moco", "base_options": {"symmetric": True}}, ["icl-msr"],
                 id="sdclr-pruned[moco]+icl-msr"),
]


def _differing(a: Path, b: Path) -> dict[str, float]:
    """The tensors of two safetensors files that are not bit-equal, with their max abs difference."""
    left, right = load_file(str(a)), load_file(str(b))
    assert left.keys() == right.keys()
    return {k: (left[k].double() - right[k].double()).abs().max().item() for k in left
            if not torch.equal(left[k], right[k])}


def _latest_state(run_dir: Path) -> Path:
    return sorted((run_dir / "checkpoints").glob("epoch-*"))[-1] / "state.safetensors"


@pytest.mark.parametrize(("branch", "options", "regularizer"), CASES)
def test_a_resumed_run_ends_bit_for_bit_like_the_uninterrupted_one(branch, options, regularizer, tiny_run, tmp_path):
    tiny_run["options"]["dataset"]["shapes"]["num_train"] = 40  # 2 steps of 16 per epoch
    tiny_run["options"]["branch"] = {branch: _small(branch, **options)}
    straight = Trainer({**tiny_run, "branch": branch, "regularizer": regularizer, "epochs": 2, "batch_size": 16,
                        "device": "cpu", "checkpoint_every": 1, "keep_checkpoints": 2}).fit()
    cut = tmp_path / "cut"
    shutil.copytree(straight.output_dir / "checkpoints" / "epoch-0001", cut / "checkpoints" / "epoch-0001")
    shutil.copy(straight.output_dir / "config.yaml", cut)
    resumed = Trainer(resume=cut, epochs=2).fit()

    assert _latest_state(resumed.output_dir).parent.name == "epoch-0002"
    assert _differing(_latest_state(straight.output_dir), _latest_state(resumed.output_dir)) == {}
    assert _differing(straight.output_dir / "encoder.safetensors", resumed.output_dir / "encoder.safetensors") == {}
    untimed = [[{k: v for k, v in row.items() if k not in TIMING} for row in run.history] for run in (straight, resumed)]
    assert untimed[0] == untimed[1]


def test_swav_normalises_the_prototypes_on_a_fresh_start_only():
    pytest.importorskip("ssl_swav")
    torch.manual_seed(0)
    ctx = BuildContext(image_size=16)
    ctx.encoder = create("encoder", "small-resnet", ctx, widths=(4, 4, 8, 8))
    ctx.loss = create("loss", "swav", ctx)
    branch = create("branch", "swav", ctx, hidden_dim=16, out_dim=8, num_prototypes=10)
    weight = branch.prototypes.weight
    saved = weight.detach().clone()
    assert not torch.equal(F.normalize(saved, dim=1), saved)  # renormalising unit rows moves them by rounding
    branch.on_fit_start(SimpleNamespace(epoch=1, global_step=3))  # resumed: keep the checkpoint's rows
    assert torch.equal(weight, saved)
    branch.on_fit_start(SimpleNamespace(epoch=0, global_step=0))  # fresh: renormalised as before
    assert torch.equal(weight, F.normalize(saved, dim=1))
