"""MoCo through the real Trainer: a checkpointed queue and a short run that does not collapse."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from ssl_core.training import checkpoint
from ssl_core.training.trainer import Trainer


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Two epochs on 256 tiny shapes (batch 32, 16 px, widths 4-4-8-8), k-NN and checkpoints."""
    trainer = Trainer(
        branch="moco", views="simclr", encoder="small-resnet", dataset="shapes", epochs=2, batch_size=32,
        lr=0.3, callback=["knn-monitor", "checkpoint"], output_dir=str(tmp_path_factory.mktemp("moco") / "run"),
        options={"encoder": {"small-resnet": {"widths": [4, 4, 8, 8]}},
                 "dataset": {"shapes": {"num_train": 256, "num_test": 100, "image_size": 16}},
                 "callback": {"knn-monitor": {"k": 20}}})
    return trainer, trainer.fit()


def test_the_checkpoint_holds_the_queue_and_its_pointer(run):
    trainer, result = run
    branch = trainer.branch
    assert branch.num_train == 250  # shapes keeps 25 images per class: 7 steps per epoch
    assert branch.effective_queue_size == 96  # 250 // 2 = 125 -> 3 batches of 32
    assert int(branch.queue_ptr) == (2 * 7 * 32) % 96  # 14 steps of 32 keys
    tensors, _ = checkpoint.load(checkpoint.latest(result.output_dir))
    assert torch.equal(tensors["model.branch.queue"], branch.queue.cpu())
    assert torch.equal(tensors["model.branch.queue_ptr"], branch.queue_ptr.cpu())


def test_a_short_run_does_not_collapse_and_beats_chance(run):
    _, result = run
    assert all(math.isfinite(row["loss"]) for row in result.history)
    assert result.summary["knn_top1"] > 0.1  # 10 classes
    queue = F.normalize(run[0].branch.queue, dim=1)
    assert (queue @ queue.T).mean() < 0.9  # keys are not all one vector
