"""The ``background`` protocol of ``ssl eval``: how much a shapes encoder relies on backgrounds.

The run's encoder encodes the test split rendered four ways (:func:`background_tests`, every
foreground identical): random, plain, another class's and the own class's background family.
One linear probe, trained on the pool of the run's own (possibly background-biased) training
split with its weight decay chosen on the validation split, and weighted k-NN against the
pool classify each variant. Reliance on the background shows as own-class far above
other-class; an encoder that reads the silhouette scores alike on all four.
"""

from __future__ import annotations

from typing import Any

from ssl_core import EvalError, EvalProtocol, EvalRun, TensorImageDataset

from ssl_shapes.shapes import BACKGROUND_TESTS, ShapesConfig, background_tests


def shapes_config(run: EvalRun) -> ShapesConfig:
    """The options the run's ``shapes`` data was drawn with; EvalError for a run on other data."""
    dataset = run.config.get("dataset")
    if dataset != "shapes":
        raise EvalError(f"protocol 'background' evaluates runs on the shapes dataset; run {run.folder} trained on "
                        f"dataset {dataset!r}")
    return ShapesConfig(**run.config.get("options", {}).get("dataset", {}).get("shapes", {}))


class BackgroundProtocol(EvalProtocol):
    """Linear probe and k-NN on the shapes test split with random, plain, other-class and own-class backgrounds."""

    columns = (("knn_top1", "k-NN top-1"),)

    def __init__(self, config: Any = None, context: Any = None) -> None:
        pass

    def evaluate(self, run: EvalRun) -> dict[str, dict[str, Any]]:
        """One row per background variant (the probe's ``top1`` and ``per_class``, and ``knn_top1``)."""
        config = shapes_config(run)
        probe, info = run.fit_probe(run.holdout.pool)
        rows: dict[str, dict[str, Any]] = {}
        for name, variant in background_tests(config).items():
            features, labels = run.encode(TensorImageDataset(variant.images, variant.labels))
            knn, _ = run.knn(run.holdout.pool, features)
            rows[name] = {**run.row(probe.predict(features), **info),
                          "knn_top1": (knn == labels).double().mean().item()}
        rows["extra"] = {"background_bias": config.background_bias, "variants": list(BACKGROUND_TESTS)}
        return rows
