"""``ssl eval RUN_DIR --protocol NAME``: the evaluation protocols and what they share.

A protocol is a component of kind ``protocol`` (hook ``register_eval_protocols``): an
[`EvalProtocol`][ssl_core.evaluation.protocols.EvalProtocol] whose ``evaluate(run)`` returns named rows, each with
``top1`` and ``per_class`` test accuracy, and whose ``columns`` name what its rows add. The
core registers the generic ones:

- ``linear`` (the default): a linear probe trained on the pool, weight decay chosen on the
  validation split, test accuracy overall and per class;
- ``few-shot``: the same probe trained on the few-shot subset (1% of the pool per class);
- ``knn``: weighted k-NN (k 200, T 0.1, cosine) of the test images against the pool.

A run folder is evaluated on the data it was trained with: its ``config.yaml`` names the
dataset and its options. Its encoder (``encoder.safetensors``) encodes the whole training
split (the unreduced one when the run trained on a subset) and the test split, in eval mode;
the features are cached in ``eval-features.safetensors`` (recomputed when the encoder file
changes). The pool / validation / few-shot division is [`holdout`][ssl_core.evaluation.holdout].
The result is written to ``eval-<protocol>.json`` in the run folder.

[`load_run`][ssl_core.evaluation.protocols.load_run] (``ssl_core.load_run``) opens a run folder for
other tools too (``ssl plot`` of ssl-plots): with ``labels=False`` it accepts data without labels,
and nothing is encoded until ``features`` or ``encode`` is used.
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
from safetensors.torch import load_file
from torch import nn

from ssl_core import registry
from ssl_core.config import dataset_source
from ssl_core.context import BuildContext
from ssl_core.data.sources import NO_LABEL, DatasetSplits, ImageDataset
from ssl_core.errors import EvalError
from ssl_core.evaluation.features import extract_features
from ssl_core.evaluation.holdout import Holdout, holdout
from ssl_core.evaluation.knn import knn_predict
from ssl_core.evaluation.linear import MAX_ITER, WEIGHT_DECAYS, LinearProbe, accuracy, select_linear_probe
from ssl_core.run_folder import EVAL_FEATURES, SUMMARY, RunFolder, save_tensors
from ssl_core.training.model import IMAGENET_MEAN, IMAGENET_STD, Normalize

KNN_K = 200
KNN_TEMPERATURE = 0.1
PROBE = (f"multinomial logistic regression on standardised features, full-batch L-BFGS (at most {MAX_ITER} "
         f"iterations), weight decay chosen from {list(WEIGHT_DECAYS)} by validation top-1")


def per_class_accuracy(predicted: torch.Tensor, labels: torch.Tensor, num_classes: int) -> list[float]:
    """The accuracy on each class's test images; every class must have at least one."""
    predicted, labels = torch.as_tensor(predicted).long(), torch.as_tensor(labels).long()
    totals = torch.bincount(labels, minlength=num_classes)
    if bool((totals == 0).any()):
        missing = (totals == 0).nonzero().flatten().tolist()
        raise EvalError(f"class(es) {missing} have no test images; per-class accuracy needs every class")
    hits = torch.bincount(labels[predicted == labels], minlength=num_classes)
    return (hits.double() / totals.double()).tolist()


@attrs.define
class EvalRun:
    """A finished run, ready to evaluate: what every protocol gets.

    Attributes:
        folder: the run folder.
        config: its configuration (plain data, as in ``config.yaml``).
        data: the dataset the run trained on, built again.
        holdout: the pool / validation / few-shot division of the training split (``None`` for
            data without labels, opened with ``load_run(..., labels=False)``).
        num_classes: the number of classes (``None`` without labels).
        device: where the encoders run.
    """

    folder: RunFolder
    config: dict[str, Any]
    data: DatasetSplits
    holdout: Holdout | None
    num_classes: int | None
    device: torch.device = attrs.field(factory=lambda: torch.device("cpu"))
    _features: dict[str, torch.Tensor] | None = attrs.field(default=None, alias="features")

    @property
    def features(self) -> dict[str, torch.Tensor]:
        """``train``, ``train_labels`` (the whole training split), ``test``, ``test_labels``: the run's
        encoder's features, read from or written to the feature cache on first use."""
        if self._features is None:
            if self.holdout is None:
                raise EvalError(f"run {self.folder} was opened without labels; its features for evaluation need them")
            self._features = _features(self.folder, self.config, self.data, self.device)
        return self._features

    @property
    def summary(self) -> dict[str, Any]:
        """The run's ``summary.json`` (empty if there is none)."""
        return self.folder.read_json(SUMMARY) or {}

    @property
    def metrics(self) -> list[dict[str, Any]]:
        """The run's epochs as in ``metrics.jsonl``."""
        return self.folder.read_metrics()

    def eval_results(self) -> dict[str, dict[str, Any]]:
        """The results ``ssl eval`` wrote into the run folder, by protocol name."""
        return {protocol: json.loads(path.read_text()) for protocol, path in self.folder.eval_results().items()}

    def encode(self, dataset: ImageDataset, untrained: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features ``(N, d)`` and labels of ``dataset`` (un-augmented, in eval mode) under the
        run's trained encoder, or with ``untrained`` the encoder as the run built it before its first
        step (the registered initialisation under the run's seed)."""
        encoder = _encoder(self.folder, self.config, self.data, trained=not untrained).to(self.device)
        return extract_features(encoder, dataset, _normalize(self.config, self.data).to(self.device), self.device)

    def row(self, predicted: torch.Tensor, **extra: Any) -> dict[str, Any]:
        """A result row of test predictions: ``extra``, ``top1`` and ``per_class``."""
        per_class = per_class_accuracy(predicted, self.features["test_labels"], self.num_classes)
        return {**extra, "top1": accuracy(predicted, self.features["test_labels"]), "per_class": per_class}

    def fit_probe(self, train_index: np.ndarray) -> tuple[LinearProbe, dict[str, Any]]:
        """The linear probe trained on ``train_index`` (``.predict(features)``) and what describes it."""
        f, index, val = self.features, torch.from_numpy(train_index), torch.from_numpy(self.holdout.validation)
        chosen = select_linear_probe(f["train"][index], f["train_labels"][index], f["train"][val],
                                     f["train_labels"][val], self.num_classes)
        return chosen.probe, {
            "train_images": len(train_index), "selection": f"weight decay {chosen.weight_decay:g}",
            "validation_top1": chosen.validation_top1[chosen.weight_decay],
            "validation_top1_by_weight_decay": {f"{wd:g}": top1 for wd, top1 in chosen.validation_top1.items()}}

    def probe(self, train_index: np.ndarray) -> tuple[torch.Tensor, dict[str, Any]]:
        """Test predictions of the linear probe trained on ``train_index`` and what describes it."""
        probe, info = self.fit_probe(train_index)
        return probe.predict(self.features["test"]), info

    def knn(self, bank_index: np.ndarray, queries: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, Any]]:
        """Predictions of weighted k-NN against ``bank_index`` for ``queries`` (default: the test
        features) and what describes it."""
        f, val = self.features, torch.from_numpy(self.holdout.validation)
        bank, bank_labels = f["train"][torch.from_numpy(bank_index)], f["train_labels"][torch.from_numpy(bank_index)]
        queries = f["test"] if queries is None else queries
        predicted = knn_predict(bank, bank_labels, queries, self.num_classes, KNN_K, KNN_TEMPERATURE)
        validation = knn_predict(bank, bank_labels, f["train"][val], self.num_classes, KNN_K, KNN_TEMPERATURE)
        return predicted, {"train_images": len(bank_index), "selection": f"k {KNN_K}, T {KNN_TEMPERATURE:g}",
                           "validation_top1": accuracy(validation, f["train_labels"][val])}


class EvalProtocol:
    """An evaluation protocol of ``ssl eval``; ``columns`` are ``(row key, header)`` it adds to the table."""

    columns: tuple[tuple[str, str], ...] = ()

    def evaluate(self, run: EvalRun) -> dict[str, dict[str, Any]]:
        """Named result rows (each from ``run.row``) and, under ``"extra"``, anything else to record."""
        raise NotImplementedError


class LinearProtocol(EvalProtocol):
    """Linear probe trained on the pool (90% of every class of the training split)."""

    def __init__(self, config: Any = None, context: Any = None) -> None:
        pass

    def evaluate(self, run: EvalRun) -> dict[str, dict[str, Any]]:
        predicted, info = run.probe(run.holdout.pool)
        return {"full-shot": run.row(predicted, **info)}


class FewShotProtocol(LinearProtocol):
    """Linear probe trained on the few-shot subset (1% of the pool per class)."""

    def evaluate(self, run: EvalRun) -> dict[str, dict[str, Any]]:
        predicted, info = run.probe(run.holdout.few_shot)
        return {"few-shot": run.row(predicted, **info)}


class KNNProtocol(LinearProtocol):
    """Weighted k-NN (k 200, T 0.1, cosine) of the test images against the pool."""

    def evaluate(self, run: EvalRun) -> dict[str, dict[str, Any]]:
        predicted, info = run.knn(run.holdout.pool)
        return {"knn": run.row(predicted, **info)}


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise EvalError("device 'cuda' was asked for but no CUDA device is available; use --device cpu")
    return torch.device(name)


def _encoder(folder: RunFolder, config: dict[str, Any], data: DatasetSplits, trained: bool = True) -> nn.Module:
    """The run's encoder with its trained weights, or (``trained`` False) freshly built under the run's seed."""
    name = config["encoder"]
    context = BuildContext(image_size=data.image_size, channels=data.channels, num_train=len(data.train),
                           num_classes=data.num_classes)
    options = config.get("options", {}).get("encoder", {}).get(name, {})
    if not trained:  # the trainer seeds, builds the data (drawing nothing), then the encoder first
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.get("seed", 0))
            return registry.create("encoder", name, context, **options)
    try:
        state = folder.read_encoder()
    except FileNotFoundError as exc:
        raise EvalError(str(exc)) from None
    encoder = registry.create("encoder", name, context, **options)
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise EvalError(f"{folder.encoder_path} does not fit encoder {name!r} with the run's options: {exc}") from exc
    return encoder


def _normalize(config: dict[str, Any], data: DatasetSplits) -> Normalize:
    """The input normalisation the run trained with."""
    imagenet = config.get("normalize", "imagenet") == "imagenet" and data.channels == 3
    return Normalize(*((IMAGENET_MEAN, IMAGENET_STD) if imagenet else (None, None)))


def _features(folder: RunFolder, config: dict[str, Any], data: DatasetSplits, device: torch.device,
              ) -> dict[str, torch.Tensor]:
    """Train and test features of the run's encoder, read from or written to ``EVAL_FEATURES``."""
    encoder = _encoder(folder, config, data).to(device)
    digest = hashlib.sha256(folder.encoder_path.read_bytes()).hexdigest()
    cache = folder.file(EVAL_FEATURES)
    if cache.is_file():
        with safe_open(str(cache), "pt") as handle:
            if (handle.metadata() or {}).get("encoder_sha256") == digest:
                return load_file(str(cache))
    normalize = _normalize(config, data).to(device)
    found: dict[str, torch.Tensor] = {}
    for split, dataset in (("train", data.source.train if data.source else data.train), ("test", data.test)):
        found[split], found[f"{split}_labels"] = extract_features(encoder, dataset, normalize, device)
    save_tensors(cache, found, metadata={"encoder_sha256": digest})
    return found


def load_run(run_dir: str | Path, device: str = "auto", *, labels: bool = True) -> EvalRun:
    """Open a run folder: its configuration, data and holdout division; features are encoded (or
    read from the cache) on first use. ``labels=False`` also opens a run on data without labels."""
    folder = RunFolder(run_dir)
    try:
        config = folder.read_config()
    except FileNotFoundError as exc:
        raise EvalError(str(exc)) from None
    if not config.get("dataset"):  # an export drops a local dataset path (nothing local is published)
        raise EvalError(f"{run_dir} names no dataset: it was exported from a run on a local path, which "
                        "export leaves out; evaluate the original run folder instead")
    source, implied = dataset_source(config.get("dataset", "shapes"))
    options = {**implied, **config.get("options", {}).get("dataset", {}).get(source, {})}
    data = registry.create("dataset", source, BuildContext(), **options)
    train = data.source.train if data.source else data.train
    name = config.get("dataset")
    unlabelled = train.labels is None or len(train.labels) == 0 or bool((train.labels == NO_LABEL).any())
    if unlabelled and labels:
        raise EvalError(f"the training split of dataset {name!r} (run {run_dir}) has no labels, or not for every "
                        "image; ssl eval needs labels")
    if labels and (data.test is None or data.test.labels is None):
        raise EvalError(f"dataset {name!r} (run {run_dir}) has no labelled test split; ssl eval needs one")
    if unlabelled:
        return EvalRun(folder=folder, config=config, data=data, holdout=None, num_classes=None, device=_device(device))
    num_classes = data.num_classes or int(train.labels.max()) + 1
    try:
        split = holdout(train.labels.numpy(), num_classes)
    except ValueError as exc:
        raise EvalError(f"run {run_dir}: {exc}") from exc
    return EvalRun(folder=folder, config=config, data=data, holdout=split, num_classes=num_classes,
                   device=_device(device))


def evaluate_run(run_dir: str | Path, protocol: str, device: str = "auto") -> dict[str, Any]:
    """Run one protocol on a run folder; the result is also written to ``eval-<protocol>.json``."""
    evaluator = registry.create("protocol", protocol)
    run = load_run(run_dir, device)
    rows = evaluator.evaluate(run)
    extra = rows.pop("extra", {})
    config = run.config
    result = {
        "run": str(run.folder), "protocol": protocol, "dataset": config.get("dataset"),
        "encoder": config.get("encoder"), "pool_size": len(run.holdout.pool),
        "validation_size": len(run.holdout.validation),
        "few_shot_per_class": len(run.holdout.few_shot) // run.num_classes,
        "test_size": len(run.features["test_labels"]), "class_names": run.data.class_names,
        "probe": PROBE, **extra, "rows": rows,
    }
    run.folder.write_json(run.folder.eval_result(protocol).name, result)
    return result


def columns(protocol: str) -> tuple[tuple[str, str], ...]:
    """The extra columns protocol ``protocol`` prints."""
    return registry.spec("protocol", protocol).factory.columns

