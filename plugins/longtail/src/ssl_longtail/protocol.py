"""The ``long-tail`` protocol of ``ssl eval``: full-shot and few-shot probes, All / Many / Medium / Few / Std.

The Many / Medium / Few groups are ranked by the class counts of the run's long-tailed split
(also for a run trained on its balanced twin), or, for a run trained on a whole dataset, by
its training split's own class counts. The full-shot probe trains on the pool, the few-shot
probe on the long-tailed split's few-shot subset (1% of the pool, capped by the smallest
long-tailed class); both select their weight decay on the validation split.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ssl_core import EvalError, EvalProtocol, EvalRun

from ssl_longtail.metrics import class_groups, group_accuracies
from ssl_longtail.split import COUNTS_FILE, long_tail_split


class LongTailProtocol(EvalProtocol):
    """Full-shot and few-shot linear probes with the long-tail groups (SDCLR's protocol)."""

    columns = (("all", "All"), ("many", "Many"), ("medium", "Medium"), ("few", "Few"), ("std", "Std"))

    def __init__(self, config: Any = None, context: Any = None) -> None:
        pass

    def evaluate(self, run: EvalRun) -> dict[str, dict[str, Any]]:
        """The ``full-shot`` and ``few-shot`` rows with their group accuracies, and the split under ``extra``."""
        labels = run.features["train_labels"].numpy()
        options = run.config.get("options", {}).get("dataset", {}).get("long-tail") if \
            run.config.get("dataset") == "long-tail" else None
        try:
            if options:
                split = long_tail_split(labels, run.num_classes, options["imbalance"], options["split_seed"])
                counts, trained_on = split.long_tail_counts, "balanced" if options["balanced_twin"] else "long-tail"
            else:
                split = long_tail_split(labels, run.num_classes, 1.0, 0)
                counts, trained_on = np.bincount(labels, minlength=run.num_classes).tolist(), "full"
        except ValueError as exc:
            raise EvalError(f"run {run.folder}: {exc}") from exc
        recorded = run.folder.read_json(COUNTS_FILE)
        if options and recorded is not None:
            drawn = np.bincount(labels[split.balanced if options["balanced_twin"] else split.long_tail],
                                minlength=run.num_classes).tolist()
            if recorded["counts"] != drawn:
                raise EvalError(f"the class counts in {run.folder.file(COUNTS_FILE)} differ from the split drawn again "
                                f"from the data ({drawn}): the dataset changed since training")
        rows: dict[str, dict[str, Any]] = {}
        for name, index in (("full-shot", split.pool), ("few-shot", split.few_shot)):
            predicted, info = run.probe(index)
            row = run.row(predicted, **info)
            rows[name] = {**row, **group_accuracies(row["per_class"], counts)}
        rows["extra"] = {"imbalance": options["imbalance"] if options else None,
                         "split_seed": options["split_seed"] if options else 0, "trained_on": trained_on,
                         "group_counts": counts, "groups": class_groups(counts)}
        return rows
