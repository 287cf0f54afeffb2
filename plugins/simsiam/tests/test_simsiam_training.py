"""A short real run of SimSiam: the online representation does not collapse.

27 steps on 300 tiny images are too few for k-NN to beat chance reliably, so only collapse is
asserted; the k-NN is checked to be recorded.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ssl_core import Trainer, create
from ssl_core.evaluation.features import extract_features
from ssl_core.training.model import IMAGENET_MEAN, IMAGENET_STD, Normalize

DATA = {"num_train": 300, "num_test": 100, "image_size": 16}


def test_short_simsiam_run_does_not_collapse(tmp_path):
    trainer = Trainer(branch="simsiam", views="simclr", epochs=3, batch_size=32, device="cpu",
                      callback=["knn-monitor"], output_dir=str(tmp_path / "run"),
                      options={"encoder": {"small-resnet": {"widths": [8, 8, 16, 16]}},
                               "dataset": {"shapes": DATA},
                               "branch": {"simsiam": {"hidden_dim": 128, "out_dim": 128, "pred_hidden_dim": 32}},
                               "callback": {"knn-monitor": {"k": 20, "untrained": False}}})
    result = trainer.fit()
    branch = trainer.branch
    test = create("dataset", "shapes", **DATA).test
    features, _ = extract_features(branch.encoder, test, Normalize(IMAGENET_MEAN, IMAGENET_STD), torch.device("cpu"))
    branch.projector.eval()
    with torch.no_grad():
        z = F.normalize(branch.projector(features), dim=1)
    assert z.std(dim=0).mean() > 0.3 / math.sqrt(z.shape[1])
    assert 0.0 <= result.history[-1]["knn_top1"] <= 1.0
