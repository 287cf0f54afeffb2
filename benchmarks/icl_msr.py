"""ICL-MSR against its base method: background reliance on shapes, accuracy on CIFAR-10, a sweep.

    .venv/bin/python benchmarks/icl_msr.py [--part backgrounds|cifar10|sweep] [--skip PART/NAME] [--epochs N] [--force]

Every training follows the CPU protocol (benchmarks/README.md: small ResNet, 32 px, batch 256,
30 epochs, seed 0, each configuration in its own resumable process), the base method and
ICL-MSR at their defaults (n 8, lambda 0.5, gamma 0.1, meta step every step).

- ``backgrounds`` (the paper's claim): shapes with ``background_bias`` 0.9 (nine training
  images in ten show the background family tied to their class), SimCLR with and without
  ICL-MSR, and SimCLR on unbiased shapes as the reference. Scored by k-NN and the linear
  probe with the run's own training images as bank / probe set, on four renderings of the
  1,000 test images with identical foregrounds (``ssl_shapes.background_tests``):
  random, plain, another class's and the own class's background. Reliance on the
  background shows as own-class far above other-class.
- ``cifar10``: SimCLR and BYOL with and without ICL-MSR on the protocol's CIFAR-10 subset
  (runs of ``methods.py`` are reused when they are there).
- ``sweep``: n, lambda and gamma one at a time around the defaults on shapes with SimCLR, at a
  smaller budget (2,000 training images, 10 epochs; the meta step makes a run about 5 times
  dearer than SimCLR).

Step time and memory against the base method: results/icl_msr_speed.md (made with the former throughput.py).
Results: ``benchmarks/results/icl_msr.json`` and ``.md`` (smoke tests with other epochs:
``benchmarks/cache/smoke-results/``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from datetime import UTC, datetime, timezone
from typing import Any

import protocol as p

BIAS = 0.9
ICL = ("--regularizer", "icl-msr")
BACKGROUND_TESTS = ("random", "plain", "other-class", "own-class")
#: part -> configuration name -> (ssl run arguments, shapes background_bias or None for CIFAR-10)
PARTS: dict[str, dict[str, tuple[tuple[str, ...], float | None]]] = {
    "backgrounds": {
        "untrained": ((), BIAS),
        "simclr (unbiased data)": (("--branch", "simclr"), 0.0),
        "simclr": (("--branch", "simclr"), BIAS),
        "simclr + icl-msr": (("--branch", "simclr", *ICL), BIAS),
    },
    "cifar10": {
        "simclr": (("--branch", "simclr"), None),
        "simclr + icl-msr": (("--branch", "simclr", *ICL), None),
        "byol": (("--branch", "byol"), None),
        "byol + icl-msr": (("--branch", "byol", *ICL), None),
    },
    "sweep": {
        "simclr": (("--branch", "simclr"), 0.0),
        **{f"n {n}": (("--branch", "simclr", *ICL, "--set", f"regularizer.num_semantics={n}"), 0.0)
           for n in (1, 4, 8, 16)},
        **{f"lambda {w}": (("--branch", "simclr", *ICL, "--set", f"regularizer.weight={w}"), 0.0)
           for w in (0.1, 1.0)},
        **{f"gamma {g}": (("--branch", "simclr", *ICL, "--set", f"regularizer.uniformity_weight={g}"), 0.0)
           for g in (0.0, 1.0)},
    },
}
SWEEP = {"epochs": 10, "num_train": 2000}


def folder_name(name: str) -> str:
    """A folder name for a configuration name."""
    return name.replace(" + ", "+").replace(" (unbiased data)", "-unbiased").replace(" ", "-")


def train_args(part: str, args: tuple[str, ...], bias: float | None, epochs: int) -> tuple[tuple[str, ...], str, int]:
    """(ssl run arguments, protocol dataset, epochs) of a configuration."""
    if bias is None:
        return args, "cifar10", epochs
    data = ("--set", f"dataset.background_bias={bias}") if bias else ()
    if part == "sweep":
        data = (*data, "--set", f"dataset.num_train={SWEEP['num_train']}")
        epochs = SWEEP["epochs"] if epochs == p.EPOCHS else epochs
    return (*args, *data), "shapes", epochs


def run(part: str, name: str, args: tuple[str, ...], bias: float | None, epochs: int, force: bool) -> dict[str, Any]:
    """Train (resuming) and score one configuration; its row, cached in ``result.json``."""
    work = p.CACHE / "runs" / f"icl_msr-{epochs}ep" / part
    folder = work / folder_name(name)
    if force:
        shutil.rmtree(folder, ignore_errors=True)
    if (folder / "result.json").exists():
        return json.loads((folder / "result.json").read_text())
    ssl_args, dataset, epochs = train_args(part, args, bias, epochs)
    reused = p.CACHE / "runs" / f"methods-{epochs}ep" / folder_name(name)
    if part == "cifar10" and not folder.exists() and (reused / "train.json").exists():
        shutil.copytree(reused, folder)  # the same command: methods.py trained it already
    folder.mkdir(parents=True, exist_ok=True)
    configuration = p.Configuration(folder.name, ssl_args, floor="untrained" if not args else None)
    trained = p.train(configuration, folder, epochs, dataset) if args else None
    row: dict[str, Any] = {"name": name, "part": part, "epochs": epochs if args else 0,
                           "background_bias": bias, "command": trained["command"] if trained else "untrained"}
    if trained:
        metrics = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        row.update(images_per_s=statistics.median(m["images_per_s"] for m in metrics),
                   train_cpu_s=trained["process_cpu_s"], peak_rss_mib=trained["peak_rss_mib"],
                   train_wall_s=json.loads((folder / "summary.json").read_text())["wall_time_s"])
    kind = configuration.floor or "trained"
    if part == "backgrounds":
        p.run_child([str(p.PYTHON.relative_to(p.ROOT)), p.relative(p.WORKER), "backgrounds", kind,
                     p.relative(folder), str(bias)], folder / "evaluate.log")
        row["scores"] = json.loads((folder / "scores-backgrounds.json").read_text())
    else:
        p.evaluate(configuration, folder, dataset if part == "cifar10" else "shapes")
        row["scores"] = {"test": json.loads((folder / "scores.json").read_text())}
    (folder / "result.json").write_text(json.dumps(row, indent=1))
    return row


def percent(value: float) -> str:
    """``value`` in percent with one decimal."""
    return f"{100 * value:.1f}"


def tables(rows: list[dict[str, Any]]) -> list[str]:
    """Markdown tables, one per part."""
    lines: list[str] = []
    for part in dict.fromkeys(r["part"] for r in rows):
        subset = [r for r in rows if r["part"] == part]
        if part == "backgrounds":
            header = ["configuration", *(f"k-NN {t}" for t in BACKGROUND_TESTS), "k-NN own - other",
                      *(f"linear {t}" for t in BACKGROUND_TESTS), "linear own - other"]
            cells = [[r["name"], *(percent(r["scores"][t]["knn_top1"]) for t in BACKGROUND_TESTS),
                      percent(r["scores"]["own-class"]["knn_top1"] - r["scores"]["other-class"]["knn_top1"]),
                      *(percent(r["scores"][t]["linear_top1"]) for t in BACKGROUND_TESTS),
                      percent(r["scores"]["own-class"]["linear_top1"] - r["scores"]["other-class"]["linear_top1"])]
                     for r in subset]
        else:
            header = ["configuration", "k-NN top-1", "linear top-1", "images/s", "train CPU s", "peak RSS MiB"]
            cells = [[r["name"], percent(r["scores"]["test"]["knn_top1"]), percent(r["scores"]["test"]["linear_top1"]),
                      f"{r['images_per_s']:.0f}", f"{r['train_cpu_s']:.0f}", f"{r['peak_rss_mib']:.0f}"]
                     for r in subset]
        lines += ["", f"## {part} ({subset[-1]['epochs']} epochs)", "", "| " + " | ".join(header) + " |",
                  "|" + " --- |" * len(header), *("| " + " | ".join(c) + " |" for c in cells)]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", action="append", choices=sorted(PARTS), help="repeatable (default: all)")
    parser.add_argument("--epochs", type=int, default=p.EPOCHS, help="other than 30: a smoke test")
    parser.add_argument("--force", action="store_true", help="redo configurations that have a result")
    parser.add_argument("--skip", action="append", default=[], metavar="PART/NAME",
                        help="leave a configuration out this time (repeatable); the results list it as not run")
    args = parser.parse_args()
    parts = args.part or list(PARTS)
    known = [f"{part}/{name}" for part in PARTS for name in PARTS[part]]
    if unknown := sorted(set(args.skip) - set(known)):
        parser.error(f"--skip {', '.join(unknown)}: no such configuration; valid: {', '.join(known)}")
    skipped = [key for key in known if key in args.skip and key.split("/", 1)[0] in parts]
    if "cifar10" in parts:
        p.prepare_data()
    rows = [run(part, name, cfg, bias, args.epochs, args.force)
            for part in parts for name, (cfg, bias) in PARTS[part].items() if f"{part}/{name}" not in skipped]
    host = p.machine()
    out = p.RESULTS if args.epochs == p.EPOCHS else p.CACHE / "smoke-results"
    protocol = {"training": f"{p.PROTOCOL['training']}; shapes parts at background_bias {BIAS} where stated; "
                            f"sweep: {SWEEP['num_train']} shapes images, {SWEEP['epochs']} epochs",
                "knn": p.PROTOCOL["knn"], "linear_probe": p.PROTOCOL["linear_probe"]}
    payload = {"benchmark": "icl_msr", "date": datetime.now(UTC).isoformat(timespec="seconds"),
               "protocol": protocol, "machine": host, "rows": rows, "not_run": skipped}
    md = ["# icl_msr", "", *(f"- **{k}**: {v}" for k, v in protocol.items()), "",
          f"Machine: {host['nproc']} CPUs, {host['cpu']}, torch {host['torch']}, commit {host['git_commit']}.",
          *tables(rows), *(["", f"Not run this time: {', '.join(skipped)}."] if skipped else []),
          "", "Commands:", "", *(f"- {r['part']} / {r['name']}: `{r['command']}`" for r in rows)]
    p.write_results(out, "icl_msr", payload, "\n".join(md) + "\n")
    print("\n".join(tables(rows)))
    print(f"\n{p.relative(out / 'icl_msr')}.json, .md")


if __name__ == "__main__":
    main()
