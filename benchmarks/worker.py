"""The child-process side of the benchmark harness (protocol.py runs it; see benchmarks/README.md).

    python benchmarks/worker.py prepare                 # write the protocol's data subset
    python benchmarks/worker.py evaluate KIND FOLDER DATASET
        # KIND: trained, untrained, raw-pixels; DATASET: cifar10 (the subset) or shapes
    python benchmarks/worker.py backgrounds KIND FOLDER BIAS
        # shapes trained with background_bias BIAS, scored on the background test variants

``evaluate`` extracts features of the dataset's train and test images (cached in
``FOLDER/features.safetensors``), scores them by weighted k-NN and a linear probe and writes
``FOLDER/scores.json``. ``trained`` reads the encoder of the run folder FOLDER.

``backgrounds`` does the same with the shapes training split drawn at ``background_bias``
BIAS (the run's own training images) as k-NN bank and probe training set, and each variant
of ``ssl_shapes.background_tests`` (random, plain, other-class, own-class
backgrounds, identical foregrounds) as test set; it writes ``FOLDER/scores-backgrounds.json``.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import protocol as p
import ssl_core
import torch
import torch.nn.functional as F
import yaml
from accelerate.utils import set_seed
from safetensors.torch import load_file, save_file
from ssl_core.data.sources import DatasetSplits, HFDatasetConfig, load_hf
from ssl_core.evaluation.features import extract_features
from ssl_core.evaluation.knn import knn_accuracy
from ssl_core.training.model import IMAGENET_MEAN, IMAGENET_STD, Normalize
from ssl_core.run_folder import ENCODER as ENCODER_FILE
from torch import nn


def prepare_subset() -> None:
    """Draw ``TRAIN_PER_CLASS`` / ``TEST_PER_CLASS`` images of each class (seeded) into ``p.DATA``."""
    import datasets

    for split, per_class in (("train", p.TRAIN_PER_CLASS), ("test", p.TEST_PER_CLASS)):
        data = datasets.load_dataset("parquet", data_files={split: str(p.SOURCE / f"{split}.parquet")}, split=split)
        labels = np.asarray(data["label"])
        rng = np.random.default_rng(p.SUBSET_SEED)
        index = np.sort(np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False)
                                        for c in np.unique(labels)]))
        tmp = p.DATA / f".{split}.parquet.tmp"
        data.select(index).to_parquet(str(tmp))
        os.replace(tmp, p.DATA / f"{split}.parquet")


def build_encoder(kind: str, folder: Path) -> nn.Module:
    """The encoder whose features are scored (``nn.Flatten`` for raw pixels)."""
    if kind == "raw-pixels":
        return nn.Flatten()
    if kind == "untrained":  # as the trainer builds it: seeded first, the encoder is the first draw
        set_seed(p.SEED)
        return ssl_core.create("encoder", p.ENCODER, ssl_core.BuildContext(image_size=p.IMAGE_SIZE))
    config = yaml.safe_load((folder / "config.yaml").read_text())
    name = config["encoder"]
    encoder = ssl_core.create("encoder", name, ssl_core.BuildContext(image_size=p.IMAGE_SIZE),
                              **config["options"]["encoder"][name])
    encoder.load_state_dict(load_file(folder / ENCODER_FILE), strict=True)
    return encoder


def load_splits(dataset: str) -> DatasetSplits:
    """The train and test splits of a benchmark dataset (``p.DATASETS``), as training reads them."""
    if dataset == "shapes":
        return ssl_core.create("dataset", "shapes", ssl_core.BuildContext())
    return load_hf(HFDatasetConfig(path=str(p.DATA)))


def features(kind: str, folder: Path, dataset: str) -> dict[str, torch.Tensor]:
    """Train and test features and labels, read from or written to ``features.safetensors``."""
    cache = folder / "features.safetensors"
    if cache.exists():
        return load_file(cache)
    splits = load_splits(dataset)
    encoder, normalize, cpu = build_encoder(kind, folder), Normalize(IMAGENET_MEAN, IMAGENET_STD), torch.device("cpu")
    found: dict[str, torch.Tensor] = {}
    for split, images in (("train", splits.train), ("test", splits.test)):
        found[split], found[f"{split}_labels"] = extract_features(encoder, images, normalize, cpu)
    save_file({k: v.contiguous() for k, v in found.items()}, str(cache))
    return found


def linear_probe_top1(train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor,
                      test_labels: torch.Tensor, num_classes: int) -> float:
    """Test top-1 of multinomial logistic regression on standardised features (full-batch L-BFGS)."""
    mean, std = train.mean(0), train.std(0).clamp_min(1e-6)  # dead (constant) features stay 0
    x, x_test = ((train - mean) / std).double(), ((test - mean) / std).double()
    weight = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=p.PROBE_MAX_ITER, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, train_labels) + p.PROBE_WEIGHT_DECAY / 2 * weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return ((x_test @ weight + bias).argmax(1) == test_labels).double().mean().item()


def scores_of(train: torch.Tensor, train_labels: torch.Tensor, test: torch.Tensor,
              test_labels: torch.Tensor) -> dict[str, float]:
    """k-NN and linear-probe test top-1 (the protocol's recipes)."""
    num_classes = int(train_labels.max()) + 1
    return {"knn_top1": round(knn_accuracy(train, train_labels, test, test_labels, num_classes, p.KNN_K,
                                           p.KNN_TEMPERATURE), 4),
            "linear_top1": round(linear_probe_top1(train, train_labels, test, test_labels, num_classes), 4)}


def evaluate_backgrounds(kind: str, folder: Path, bias: float) -> None:
    """Write ``scores-backgrounds.json``: k-NN and linear top-1 on each background test variant."""
    from ssl_core.data.sources import TensorImageDataset
    from ssl_shapes import ShapesConfig, background_tests, generate

    config = ShapesConfig(background_bias=bias)
    encoder, normalize, cpu = build_encoder(kind, folder), Normalize(IMAGENET_MEAN, IMAGENET_STD), torch.device("cpu")

    def encode(data) -> tuple[torch.Tensor, torch.Tensor]:
        return extract_features(encoder, TensorImageDataset(data.images, data.labels), normalize, cpu)

    train, train_labels = encode(generate(config, "train"))
    scores = {name: scores_of(train, train_labels, *encode(data)) for name, data in background_tests(config).items()}
    (folder / "scores-backgrounds.json").write_text(json.dumps(scores, indent=1))
    print(json.dumps(scores))


def evaluate(kind: str, folder: Path, dataset: str) -> None:
    """Write ``scores.json``: k-NN and linear-probe test top-1 of ``kind``'s features."""
    f = features(kind, folder, dataset)
    scores = {**scores_of(f["train"], f["train_labels"], f["test"], f["test_labels"]),
              "feature_dim": f["train"].shape[1]}
    (folder / "scores.json").write_text(json.dumps(scores, indent=1))
    print(json.dumps(scores))


if __name__ == "__main__":
    if sys.argv[1:] == ["prepare"]:
        prepare_subset()
    elif len(sys.argv) == 5 and sys.argv[1] == "evaluate" and sys.argv[2] in ("trained", *p.FLOOR_KINDS) \
            and sys.argv[4] in p.DATASETS:
        evaluate(sys.argv[2], Path(sys.argv[3]), sys.argv[4])
    elif len(sys.argv) == 5 and sys.argv[1] == "backgrounds" and sys.argv[2] in ("trained", *p.FLOOR_KINDS):
        evaluate_backgrounds(sys.argv[2], Path(sys.argv[3]), float(sys.argv[4]))
    else:
        sys.exit(__doc__)
