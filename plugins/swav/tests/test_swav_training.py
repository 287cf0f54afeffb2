"""SwAV through the real Trainer on tiny ``shapes``.

A fast run checks the mechanics (multi-crop, prototypes frozen then trained, unit norm, the
checkpointed queue); a slow one (``-m slow``) checks that the representation does not
collapse and that the k-NN ends well above chance. 16 px images keep the untrained encoder
at chance (measured 0.105, 10 classes). With the paper's T 0.1 and epsilon 0.05 the crops of
a random encoder agree too little and short runs fall into the uniform solution (see
docs/plugins/swav.md), so the slow run uses T 0.2 and epsilon 0.01, the documented setting
for tiny images.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from ssl_core import Callback, Trainer, create, hookimpl, plugins, registry
from ssl_core.evaluation.features import extract_features
from ssl_core.run_folder import RunFolder, load_checkpoint
from ssl_core.training.model import IMAGENET_MEAN, IMAGENET_STD, Normalize


class PrototypeProbe(Callback):
    """Copies the prototypes at the start and after every epoch."""

    def __init__(self, config, context) -> None:
        self.snapshots: list[torch.Tensor] = []

    def on_fit_start(self, ctx) -> None:
        self.snapshots.append(ctx.branch.prototypes.weight.detach().clone())

    def on_epoch_end(self, ctx) -> None:
        self.snapshots.append(ctx.branch.prototypes.weight.detach().clone())


def _fit(output_dir, **fields):
    """A Trainer run with the ``swav-probe`` callback registered for its duration."""

    class Plugin:
        @hookimpl
        def register_callbacks(self, register):
            register("swav-probe", PrototypeProbe, description="test")

    plugins.load_plugins()
    plugins.pm.register(Plugin(), name="swav-probe-test")
    registry.clear_cache()
    try:
        trainer = Trainer(branch="swav", device="cpu", output_dir=str(output_dir), **fields)
        return trainer, trainer.fit()
    finally:
        plugins.pm.unregister(name="swav-probe-test")
        registry.clear_cache()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """3 epochs of 5 steps on 190 images (19 per class) at 16 px: the default views and recipe, tiny sizes."""
    return _fit(tmp_path_factory.mktemp("swav") / "run", epochs=3, batch_size=32,
                callback=["swav-probe"], checkpoint_every=3,
                options={"encoder": {"small-resnet": {"widths": [4, 4, 8, 8]}},
                         "dataset": {"shapes": {"num_train": 192, "num_test": 50, "image_size": 16}},
                         "views": {"multi-crop": {"local_count": 2}},
                         "branch": {"swav": {"hidden_dim": 64, "out_dim": 16, "queue_length": 64,
                                             "queue_start_epoch": 2}},
                         "callback": {"knn-monitor": {"k": 10, "every": 3, "untrained": False}}})


def test_prototypes_are_frozen_for_the_first_epoch_then_trained_and_stay_unit_norm(run):
    trainer, result = run
    branch = trainer.branch
    assert branch.num_prototypes == 19  # 190 images kept / 10 per prototype
    probe = next(c for c in trainer.callbacks if isinstance(c, PrototypeProbe))
    start, after_first, *later = probe.snapshots
    torch.testing.assert_close(after_first, start, rtol=0, atol=1e-6)
    assert all((w - after_first).abs().max() > 1e-4 for w in later)
    for weights in probe.snapshots:
        torch.testing.assert_close(weights.norm(dim=1), torch.ones(19), rtol=0, atol=1e-5)
    assert all(math.isfinite(row["loss"]) for row in result.history)
    assert 0.0 <= result.summary["knn_top1"] <= 1.0


def test_the_queue_fills_from_its_epoch_and_is_checkpointed(run):
    trainer, result = run
    queue = trainer.branch.queue
    assert queue.length == 64 and int(queue.count) == 64  # the 5 steps of epoch 3 pushed 160 rows
    tensors, _ = load_checkpoint(RunFolder(result.output_dir).latest_checkpoint())
    assert torch.equal(tensors["model.branch.queue.embeddings"], queue.embeddings)
    torch.testing.assert_close(queue.embeddings.norm(dim=2), torch.ones(2, 64))


@pytest.mark.slow
def test_a_longer_run_escapes_the_uniform_solution_and_beats_chance(tmp_path, one_thread):
    """120 steps at constant lr: about a minute on 2 CPU cores."""
    data = {"num_train": 320, "num_test": 200, "image_size": 16}
    trainer, result = _fit(tmp_path / "run", epochs=12, batch_size=32, optimizer="sgd", lr=0.8,
                           weight_decay=5e-4, warmup_epochs=0, final_lr_ratio=1.0, callback=["knn-monitor"],
                           options={"encoder": {"small-resnet": {"widths": [8, 8, 16, 16]}},
                                    "dataset": {"shapes": data},
                                    "views": {"multi-crop": {"local_count": 2}},
                                    "loss": {"swav": {"temperature": 0.2, "epsilon": 0.01}},
                                    "branch": {"swav": {"hidden_dim": 128, "out_dim": 32}},
                                    "callback": {"knn-monitor": {"k": 20, "every": 12}}})
    branch = trainer.branch
    assert result.history[-1]["loss"] < math.log(branch.num_prototypes) - 0.2  # log K: uniform codes
    features, _ = extract_features(branch.encoder, create("dataset", "shapes", **data).test,
                                   Normalize(IMAGENET_MEAN, IMAGENET_STD), torch.device("cpu"))
    branch.eval()
    with torch.no_grad():
        z = F.normalize(branch.projector(features), dim=1)
    assert z.std(dim=0).mean() > 0.3 / math.sqrt(z.shape[1])
    assert result.summary["knn_top1_untrained"] < 0.15
    assert result.summary["knn_top1"] > 0.17  # 10 classes: chance is 0.1
