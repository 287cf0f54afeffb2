"""MoCo through the real Trainer: a checkpointed queue, and a short run whose k-NN beats chance.

155 steps: 5 epochs of 1,000 shapes images at 16 px, batch 32, widths 16-32-64-64, lr 1.0 per
256 images, key momentum 0.99, 4 BN splits, crops of 40-100% of the area; about 6 s on one
thread. Measured k-NN top-1 (k 20, 500 test images, chance 0.10) over seeds 0, 1, 2: 0.242,
0.196, 0.220, against 0.138, 0.166, 0.132 for the untrained encoder. Short runs on shapes
plateau near 0.2-0.3 (two views share the background texture, which the methods pick up
first), so the bound is 1.6 x chance. The queue's mean pairwise key cosine (the squared norm of
the mean key) measured 0.906, 0.910, 0.893 over those seeds (a head without batch norm keeps a
large common component at this budget; it varies by about 0.01 across CPUs); keys collapsed to
one vector give 1.0, so the bound is 0.95.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from ssl_core.run_folder import RunFolder, load_checkpoint
from ssl_core.training.trainer import Trainer
from ssl_shapes import CLASS_NAMES


@pytest.fixture(scope="module")
def run(tmp_path_factory, one_thread):
    """Five epochs on 1,000 tiny shapes with k-NN and checkpoints, on one thread."""
    trainer = Trainer(
        branch="moco", views="simclr", encoder="small-resnet", dataset="shapes", epochs=5, batch_size=32,
        lr=1.0, warmup_epochs=0.1, callback=["knn-monitor"],
        output_dir=str(tmp_path_factory.mktemp("moco") / "run"),
        options={"encoder": {"small-resnet": {"widths": [16, 32, 64, 64]}},
                 "dataset": {"shapes": {"num_train": 1000, "num_test": 500, "image_size": 16}},
                 "views": {"simclr": {"crop_scale": [0.4, 1.0]}},
                 "branch": {"moco": {"momentum": 0.99, "bn_splits": 4}},
                 "callback": {"knn-monitor": {"k": 20, "untrained": False}}})
    return trainer, trainer.fit()


def test_the_checkpoint_holds_the_queue_and_its_pointer(run):
    trainer, result = run
    branch = trainer.branch
    assert len(trainer.folder.read_metrics()) == 5 and result.history[-1]["epoch"] == 5  # 1000 images: 31 steps an epoch
    assert branch.effective_queue_size == 480  # 1000 // 2 = 500 -> 15 batches of 32
    assert int(branch.queue_ptr) == (5 * 31 * 32) % 480  # 155 steps of 32 keys
    tensors, _ = load_checkpoint(RunFolder(result.output_dir).latest_checkpoint())
    assert torch.equal(tensors["model.branch.queue"], branch.queue.cpu())
    assert torch.equal(tensors["model.branch.queue_ptr"], branch.queue_ptr.cpu())


def test_a_short_run_does_not_collapse_and_beats_chance_on_knn(run):
    _, result = run
    assert all(math.isfinite(row["loss"]) for row in result.history)
    assert result.history[-1]["knn_top1"] == result.summary["knn_top1"]
    assert result.summary["knn_top1"] >= 1.6 / len(CLASS_NAMES)  # chance: 1 / 10
    queue = F.normalize(run[0].branch.queue, dim=1)
    assert (queue @ queue.T).mean() < 0.95  # keys are not all one vector (module doc)
