"""SDCLR against SimCLR on long-tailed data, scored by ``ssl eval --protocol long-tail``.

    .venv/bin/python benchmarks/sdclr_lt.py [--dataset cifar10-lt|shapes-lt] [--split-seed S] [--epochs N] [--force]

Three configurations with the same encoder (small ResNet), projection head (the official
SDCLR 3-layer head with a last BN), views (`sdclr`), NT-Xent T 0.2, batch 256 and epochs, so
only the pruned competitor differs:

- ``simclr-lt``: SimCLR on the long-tailed split (R = 100);
- ``sdclr-lt``: SDCLR (prune ratio 0.9) on the same split;
- ``simclr-balanced``: SimCLR on the split's balanced twin (same number of images).

Each trains in its own process (resumable), then ``ssl eval RUN --protocol long-tail`` scores
it: linear probes on cached features (full-shot on the pool, few-shot on the 1% subset, weight
decay chosen on the validation split), test accuracy per class, All / Many / Medium / Few and
Std of the three groups. Results: ``benchmarks/results/sdclr_lt.json`` and ``.md`` (only at the
default epochs; other epoch counts are smoke tests written to ``benchmarks/cache/smoke-results``).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
from datetime import UTC, datetime, timezone
from pathlib import Path
from typing import Any

import protocol as p

IMBALANCE = 100
SAME_HEAD = ("--views", "sdclr", "--set", "loss.temperature=0.2", "--set", "branch.head_layers=3",
             "--set", "branch.last_bn=true")
CONFIGURATIONS: dict[str, tuple[str, ...]] = {
    "simclr-lt": ("--branch", "simclr", *SAME_HEAD),
    "sdclr-lt": ("--branch", "sdclr-pruned"),
    "simclr-balanced": ("--branch", "simclr", *SAME_HEAD, "--balanced-twin"),
}
#: dataset name -> (ssl run data arguments, epochs fitting about 20 minutes a run on 2 CPU cores, description)
DATASETS: dict[str, tuple[tuple[str, ...], int, str]] = {
    "cifar10-lt": (("--dataset", os.path.relpath(p.SOURCE, p.ROOT)), 40,
                   ("CIFAR-10-LT: the full CIFAR-10 train split (JPEG q75 copy), 4,500 per class in the pool "
                    "(the other 500 per class validation), class k keeps floor(4500 * 100^(-k/9)): 11,165 images; "
                    "balanced twin 1,116 per class (11,160); few-shot 45 per class; the 10,000 test images")),
    "shapes-lt": (("--dataset", "shapes", "--set", "dataset.num_train=20000"), 30,
                  ("shapes with 2,000 training images per class (pool 1,800, validation 200), R = 100: "
                   "1,800 ... 18 per class; few-shot 18 per class; 1,000 test images")),
}


def run(name: str, args: tuple[str, ...], dataset: str, epochs: int, split_seed: int, work: Path,
        force: bool) -> dict[str, Any]:
    """Train (resuming) and evaluate one configuration; its row, cached in ``result.json``."""
    folder = work / name
    if force:
        shutil.rmtree(folder, ignore_errors=True)
    if (folder / "result.json").exists():
        return json.loads((folder / "result.json").read_text())
    folder.mkdir(parents=True, exist_ok=True)
    data_args, _, _ = DATASETS[dataset]
    command = [str(p.SSL.relative_to(p.ROOT)), "run", *data_args, "--encoder", p.ENCODER,
               "--batch-size", str(p.BATCH_SIZE), "--epochs", str(epochs), "--seed", str(p.SEED), "--device", "cpu",
               "--imbalance", str(IMBALANCE), "--split-seed", str(split_seed),
               "--set", "callback.knn-monitor.every=10", "--output-dir", p.relative(folder), *args]
    if not (folder / "summary.json").exists():
        # a run killed before its first checkpoint starts over
        resume = ["--resume", p.relative(folder)] if any((folder / "checkpoints").glob("epoch-*")) else ["--overwrite"]
        print(f"{dataset}/{name}: training, log {p.relative(folder / 'train.log')}", flush=True)
        trained = p.run_child(command + resume, folder / "train.log")
        (folder / "train.json").write_text(json.dumps({"peak_rss_mib": trained.peak_rss_mib,
                                                       "process_cpu_s": trained.cpu_s}))
    print(f"{dataset}/{name}: ssl eval --protocol long-tail", flush=True)
    p.run_child([str(p.SSL.relative_to(p.ROOT)), "eval", p.relative(folder), "--protocol", "long-tail",
                 "--device", "cpu"], folder / "eval.log")
    scores = json.loads((folder / "eval-long-tail.json").read_text())
    metrics = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    counts = json.loads((folder / "class_counts.json").read_text())
    row = {"name": name, "dataset": dataset, "split_seed": split_seed, "epochs": metrics[-1]["epoch"],
           "train_images": counts["total"], "images_per_s": statistics.median(m["images_per_s"] for m in metrics),
           "train_wall_s": json.loads((folder / "summary.json").read_text())["wall_time_s"],
           "knn_top1": next((m["knn_top1"] for m in reversed(metrics) if "knn_top1" in m), None),
           "peak_rss_mib": json.loads((folder / "train.json").read_text())["peak_rss_mib"],
           "eval": scores["rows"], "groups": scores["groups"], "command": shlex.join(command)}
    (folder / "result.json").write_text(json.dumps(row, indent=1))
    return row


def table(rows: list[dict[str, Any]]) -> list[list[str]]:
    """One line per configuration and probe: All / Many / Medium / Few / Std in percent."""
    lines = []
    for row in rows:
        for probe, scores in row["eval"].items():
            lines.append([row["name"], probe, str(scores["train_images"]),
                          *(f"{100 * scores[k]:.2f}" for k in ("all", "many", "medium", "few", "std"))])
    return lines


def percent(value: float | None) -> str:
    """``value`` as a percentage with one decimal, or '-'."""
    return "-" if value is None else f"{100 * value:.1f}%"


HEADER = ["configuration", "probe", "probe images", "All", "Many", "Medium", "Few", "Std"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", action="append", choices=sorted(DATASETS),
                        help="run only on this dataset (repeatable; default: both)")
    parser.add_argument("--split-seed", type=int, default=0, help="which random long-tailed split (default 0)")
    parser.add_argument("--epochs", type=int, help="override the dataset's epochs (a smoke test)")
    parser.add_argument("--force", action="store_true", help="redo configurations that have a result")
    args = parser.parse_args()
    smoke = args.epochs is not None
    rows = []
    for dataset in args.dataset or list(DATASETS):
        epochs = args.epochs or DATASETS[dataset][1]
        work = p.CACHE / "runs" / f"sdclr_lt-{epochs}ep" / f"{dataset}-seed{args.split_seed}"
        rows += [run(name, cfg, dataset, epochs, args.split_seed, work, args.force)
                 for name, cfg in CONFIGURATIONS.items()]
    protocol = {
        "data": {d: DATASETS[d][2] for d in dict.fromkeys(r["dataset"] for r in rows)},
        "training": f"{p.ENCODER}, 32 px, batch {p.BATCH_SIZE}, seed {p.SEED}, CPU; SDCLR 3-layer head with last BN "
                    f"and sdclr views for all three rows, NT-Xent T 0.2, lr and schedule at the core defaults; "
                    f"epochs per dataset: " + ", ".join(f"{d} {DATASETS[d][1]}" for d in DATASETS),
        "evaluation": "ssl eval --protocol long-tail: frozen features (BN eval), standardised, multinomial "
                      "logistic regression by full-batch L-BFGS, weight decay chosen on the validation split; "
                      "full-shot on the pool, few-shot on the 1% subset; groups ranked by the LT class counts "
                      "(Many 4 / Medium 3 / Few 3 classes), group = mean per-class test accuracy, Std = ddof 0",
    }
    host = p.machine()
    out = p.CACHE / "smoke-results" if smoke else p.RESULTS
    payload = {"benchmark": "sdclr_lt", "date": datetime.now(UTC).isoformat(timespec="seconds"),
               "protocol": protocol, "machine": host, "rows": rows}
    md = ["# sdclr_lt", "", *(f"- **{k}**: {v}" for k, v in protocol.items()), "",
          f"Machine: {host['nproc']} CPUs, {host['cpu']}, torch {host['torch']}, commit {host['git_commit']}."]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        subset = [r for r in rows if r["dataset"] == dataset]
        md += ["", f"## {dataset} (split seed {subset[0]['split_seed']}, {subset[0]['epochs']} epochs)", "",
               "| " + " | ".join(HEADER) + " |", "|" + " --- |" * len(HEADER)]
        md += ["| " + " | ".join(c) + " |" for c in table(subset)]
        md += ["", ("| configuration | train images | images/s | train wall s | peak RSS MiB | "
                    "monitor k-NN top-1 (bank: the run's own training split) |"),
               "| --- | --- | --- | --- | --- | --- |"]
        md += [f"| {r['name']} | {r['train_images']} | {r['images_per_s']:.0f} | {r['train_wall_s']:.0f} | "
               f"{r['peak_rss_mib']:.0f} | {percent(r['knn_top1'])} |"
               for r in subset]
    md += ["", "Commands:", ""] + [f"- {r['dataset']} / {r['name']}: `{r['command']}`" for r in rows]
    p.write_results(out, "sdclr_lt", payload, "\n".join(md) + "\n")
    widths = [max(len(c[i]) for c in [HEADER, *table(rows)]) for i in range(len(HEADER))]
    print("\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)) for line in [HEADER, *table(rows)]))


if __name__ == "__main__":
    main()
