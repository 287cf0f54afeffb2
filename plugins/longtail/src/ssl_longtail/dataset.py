"""The ``long-tail`` dataset: a long-tailed subset (or its balanced twin) of any labelled dataset."""

from __future__ import annotations

import attrs
from attrs import validators as v
from ssl_core import BuildContext, ConfigError, DatasetSplits, create, dataset_source, non_negative, option

from ssl_longtail.split import COUNTS_FILE, training_subset


def _source(name: str) -> str:
    """A registered dataset or Hub name as given; a local path made absolute (runs from any folder)."""
    registered, implied = dataset_source(name)
    return implied.get("path", name) if registered == "hf" else name


@attrs.define
class LongTailConfig:
    """Options of the ``long-tail`` dataset."""

    source: str = option("shapes", "the dataset drawn from: a registered dataset, or a path / Hub name read with hf",
                         validator=v.instance_of(str), converter=_source)
    source_options: dict = option({}, "options of the source dataset", validator=v.instance_of(dict))
    imbalance: float = option(100.0, "R > 1: class k keeps floor(n_max * R^(-k/(C-1))) training images",
                              validator=v.gt(1.0), converter=float)
    split_seed: int = option(0, "seed of the subset's draw", validator=[v.instance_of(int), non_negative])
    balanced_twin: bool = option(False, "train on the balanced subset of the same total instead",
                                 validator=v.instance_of(bool))


def long_tail(config: LongTailConfig, context: BuildContext) -> DatasetSplits:
    """A long-tailed training subset of any labelled dataset (SDCLR's CIFAR-10-LT construction)."""
    name, implied = dataset_source(config.source)
    if name == "long-tail":
        raise ConfigError("dataset long-tail: its source cannot be long-tail itself")
    data = create("dataset", name, context, **{**implied, **config.source_options})
    try:
        subset, record = training_subset(data, config.imbalance, config.split_seed, config.balanced_twin)
    except ValueError as exc:
        raise ConfigError(f"dataset {config.source!r}: {exc}") from exc
    return attrs.evolve(subset, source=data, run_files={COUNTS_FILE: record})
