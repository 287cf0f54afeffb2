"""The evaluation protocols of ``ssl eval RUN_DIR``: ``linear``, ``few-shot``, ``knn``, ``long-tail``.

A run folder is evaluated on the data it was trained with: its ``config.yaml`` names the
dataset (and its options) and the long-tail fields, from which the split of
:mod:`ssl_core.data.long_tail` is drawn again (pool, validation, few-shot subset; the
long-tailed class counts). A run without ``imbalance`` is split with R = 1: its pool and
validation are 90% / 10% of every class of the training split, the images it trained on.

``encoder.safetensors`` is loaded into the run's encoder; pooled features of the whole
training split and of the test split, with the encoder in eval mode (batch norm on its
running statistics), are cached in ``eval-features.safetensors`` (recomputed when the
encoder file changes).

- ``linear``: full-shot linear probe (:mod:`ssl_core.evaluation.linear`) trained on the pool,
  weight decay chosen on the validation split, test accuracy per class.
- ``few-shot``: the same probe trained on the few-shot subset (1% of the pool).
- ``knn``: weighted k-NN (k 200, T 0.1, cosine) of the test images against the pool.
- ``long-tail``: ``linear`` and ``few-shot`` in one table.

Every row reports All / Many / Medium / Few / Std (:mod:`ssl_core.evaluation.long_tail`),
the groups ranked by the class counts of the long-tailed split (also for a run trained on
its balanced twin), or, without ``imbalance``, by the training split's own class counts.
The result is written to ``eval-<protocol>.json`` in the run folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from ssl_core import registry
from ssl_core.context import BuildContext
from ssl_core.config import dataset_source
from ssl_core.data.long_tail import COUNTS_FILE, LongTailSplit, labelled, long_tail_split, training_subset
from ssl_core.data.sources import DatasetSplits
from ssl_core.evaluation.features import extract_features
from ssl_core.evaluation.knn import knn_predict
from ssl_core.evaluation.linear import MAX_ITER, WEIGHT_DECAYS, accuracy, select_linear_probe
from ssl_core.evaluation.long_tail import class_groups, group_accuracies, per_class_accuracy
from ssl_core.errors import EvalError
from ssl_core.run_folder import CONFIG, ENCODER, RunFolder
from ssl_core.training.model import IMAGENET_MEAN, IMAGENET_STD, Normalize

PROTOCOLS = ("linear", "few-shot", "knn", "long-tail")
KNN_K = 200
KNN_TEMPERATURE = 0.1
FEATURES_FILE = "eval-features.safetensors"


@attrs.define
class EvalSetup:
    """What the protocols need from a run folder.

    Attributes:
        run_dir: the run folder.
        config: its ``config.yaml``.
        features: ``train``, ``train_labels`` (the whole training split), ``test``, ``test_labels``.
        split: the pool / validation / few-shot split of the training split.
        group_counts: the class counts the Many / Medium / Few groups are ranked by.
        trained_on: ``long-tail``, ``balanced`` or ``full`` (the run's training subset).
        class_names: the dataset's class names, if it has them.
    """

    run_dir: Path
    config: dict[str, Any]
    features: dict[str, torch.Tensor]
    split: LongTailSplit
    group_counts: list[int]
    trained_on: str
    class_names: list[str] | None

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.group_counts)


def _file(run_dir: Path, name: str, what: str) -> Path:
    path = run_dir / name
    if not path.is_file():
        raise EvalError(f"{path} not found: {what}")
    return path


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise EvalError("device 'cuda' was asked for but no CUDA device is available; use --device cpu")
    return torch.device(name)


def _features(run_dir: Path, config: dict[str, Any], data: DatasetSplits, num_classes: int,
              device: torch.device) -> dict[str, torch.Tensor]:
    """Train and test features of the run's encoder, read from or written to ``FEATURES_FILE``."""
    encoder_path = _file(run_dir, ENCODER, "the run has no exported encoder (ssl run writes it when training ends)")
    digest = hashlib.sha256(encoder_path.read_bytes()).hexdigest()
    cache = run_dir / FEATURES_FILE
    if cache.is_file():
        with safe_open(str(cache), "pt") as handle:
            if (handle.metadata() or {}).get("encoder_sha256") == digest:
                return load_file(str(cache))
    name = config["encoder"]
    context = BuildContext(image_size=data.image_size, channels=data.channels, num_train=len(data.train),
                           num_classes=num_classes)
    encoder = registry.create("encoder", name, context, **config.get("options", {}).get("encoder", {}).get(name, {}))
    try:
        encoder.load_state_dict(load_file(str(encoder_path)), strict=True)
    except RuntimeError as exc:
        raise EvalError(f"{encoder_path} does not fit encoder {name!r} with the run's options: {exc}") from exc
    imagenet = config.get("normalize", "imagenet") == "imagenet" and data.channels == 3
    normalize = Normalize(*((IMAGENET_MEAN, IMAGENET_STD) if imagenet else (None, None))).to(device)
    encoder.to(device)
    found: dict[str, torch.Tensor] = {}
    for split, dataset in (("train", data.train), ("test", data.test)):
        found[split], found[f"{split}_labels"] = extract_features(encoder, dataset, normalize, device)
    save_file({k: v.contiguous() for k, v in found.items()}, str(cache), metadata={"encoder_sha256": digest})
    return found


def load_run(run_dir: str | Path, device: str = "auto") -> EvalSetup:
    """Read a run folder: its configuration, data, split and (cached) features."""
    run_dir = Path(run_dir)
    _file(run_dir, CONFIG, f"{run_dir} is not a run folder (ssl run writes {CONFIG})")
    config = RunFolder(run_dir).read_config()
    source, implied = dataset_source(config.get("dataset", "shapes"))
    options = {**implied, **config.get("options", {}).get("dataset", {}).get(source, {})}
    data = registry.create("dataset", source, BuildContext(), **options)
    found = labelled(data)
    if found is None:
        raise EvalError(f"the training split of dataset {config.get('dataset')!r} (run {run_dir}) has no labels, "
                        "or not for every image; ssl eval needs labels")
    if data.test is None or data.test.labels is None:
        raise EvalError(f"dataset {config.get('dataset')!r} (run {run_dir}) has no labelled test split; "
                        "ssl eval needs one")
    labels, num_classes = found
    imbalance, seed = config.get("imbalance"), config.get("split_seed") or 0
    active = imbalance is not None and imbalance > 1
    try:
        split = long_tail_split(labels, num_classes, imbalance if active else 1.0, seed)
        _, record = training_subset(data, imbalance, seed, bool(config.get("balanced_twin")))
    except ValueError as exc:
        raise EvalError(f"run {run_dir}: {exc}") from exc
    counts_path = run_dir / COUNTS_FILE
    if counts_path.is_file() and json.loads(counts_path.read_text())["counts"] != record["counts"]:
        raise EvalError(f"the class counts in {counts_path} differ from the split drawn again from the data "
                        f"({record['counts']}): the dataset changed since training")
    return EvalSetup(
        run_dir=run_dir, config=config, features=_features(run_dir, config, data, num_classes, _device(device)),
        split=split, group_counts=split.long_tail_counts if active else record["counts"],
        trained_on=record["subset"], class_names=data.class_names)


def _row(setup: EvalSetup, predicted: torch.Tensor, **extra: Any) -> dict[str, Any]:
    per_class = per_class_accuracy(predicted, setup.features["test_labels"], setup.num_classes)
    return {**extra, **group_accuracies(per_class, setup.group_counts), "per_class": per_class}


def _probe_row(setup: EvalSetup, train_index: np.ndarray) -> dict[str, Any]:
    f, index, val = setup.features, torch.from_numpy(train_index), torch.from_numpy(setup.split.validation)
    selection = select_linear_probe(f["train"][index], f["train_labels"][index], f["train"][val],
                                    f["train_labels"][val], setup.num_classes)
    return _row(setup, selection.probe.predict(f["test"]), train_images=len(train_index),
                selection=f"weight decay {selection.weight_decay:g}",
                validation_top1=selection.validation_top1[selection.weight_decay],
                validation_top1_by_weight_decay={f"{wd:g}": top1 for wd, top1 in selection.validation_top1.items()})


def _knn_row(setup: EvalSetup) -> dict[str, Any]:
    f, pool, val = setup.features, torch.from_numpy(setup.split.pool), torch.from_numpy(setup.split.validation)
    bank, bank_labels = f["train"][pool], f["train_labels"][pool]
    predicted = knn_predict(bank, bank_labels, f["test"], setup.num_classes, KNN_K, KNN_TEMPERATURE)
    validation = knn_predict(bank, bank_labels, f["train"][val], setup.num_classes, KNN_K, KNN_TEMPERATURE)
    return _row(setup, predicted, train_images=len(pool), selection=f"k {KNN_K}, T {KNN_TEMPERATURE:g}",
                validation_top1=accuracy(validation, f["train_labels"][val]))


def evaluate_run(run_dir: str | Path, protocol: str, device: str = "auto") -> dict[str, Any]:
    """Run one protocol on a run folder; the result is also written to ``eval-<protocol>.json``."""
    if protocol not in PROTOCOLS:
        raise EvalError(f"unknown protocol {protocol!r}; valid protocols: {', '.join(PROTOCOLS)}")
    setup = load_run(run_dir, device)
    rows: dict[str, dict[str, Any]] = {}
    if protocol in ("linear", "long-tail"):
        rows["full-shot"] = _probe_row(setup, setup.split.pool)
    if protocol in ("few-shot", "long-tail"):
        rows["few-shot"] = _probe_row(setup, setup.split.few_shot)
    if protocol == "knn":
        rows["knn"] = _knn_row(setup)
    config = setup.config
    result = {
        "run": str(setup.run_dir), "protocol": protocol, "dataset": config.get("dataset"),
        "encoder": config.get("encoder"), "imbalance": config.get("imbalance"),
        "split_seed": config.get("split_seed") or 0, "trained_on": setup.trained_on,
        "pool_size": len(setup.split.pool), "validation_size": len(setup.split.validation),
        "few_shot_per_class": len(setup.split.few_shot) // setup.num_classes,
        "test_size": len(setup.features["test_labels"]), "class_names": setup.class_names,
        "group_counts": setup.group_counts, "groups": class_groups(setup.group_counts),
        "probe": f"multinomial logistic regression on standardised features, full-batch L-BFGS (at most {MAX_ITER} "
                 f"iterations), weight decay chosen from {list(WEIGHT_DECAYS)} by validation top-1",
        "rows": rows,
    }
    (setup.run_dir / f"eval-{protocol}.json").write_text(json.dumps(result, indent=1) + "\n")
    return result
