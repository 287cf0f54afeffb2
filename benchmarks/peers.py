"""This project's classic methods against the same methods built from lightly 1.6's modules,
under the CPU benchmark protocol (benchmarks/README.md), on the CIFAR-10 subset or on ``shapes``.

    .venv/bin/python benchmarks/peers.py [--methods byol,simsiam] [--side ours|lightly|both] [--ablations]
        [--epochs N] [--force] [--dataset cifar10|shapes] [--seed N]

Our rows are ordinary ``ssl run`` configurations (``--branch METHOD`` at its defaults). A
lightly row trains in a child process running ``benchmarks/peers_lightly.py METHOD FOLDER``
with the peers venv's python (``benchmarks/cache/peers-venv``, created here when missing:
lightly never goes into ``.venv``), which writes a run-folder-like result; both kinds are
then evaluated by the same ``worker.py evaluate trained FOLDER DATASET`` child. Results:
``results/peers.{json,md}`` (CIFAR-10) and ``results/peers_shapes.{json,md}`` (shapes). Every
configuration is cached in its folder's ``result.json`` (``--force`` redoes it); a killed
lightly training continues from its last epoch. The results page keeps the rows of the
previous ``results/peers.json`` that this invocation did not produce (a row is replaced
only by a new row of the same method and name), so methods and sides can be run one at a
time. ``--seed N`` (not 0) trains another seed of the chosen methods: folders and row names
get ``seed N``; the floors and before rows stay those of seed 0. ``--ablations`` adds, for
the diagnostic rows of ``ABLATIONS``: for BYOL, one row per dynamics fix undone on its own (the
separate effect of each); for SimSiam, lightly's model trained on our views (the views' share of a gap).
``--smoke`` (hidden): lightly rows train 1 epoch on 512 images, ours 1 epoch, everything in
``benchmarks/cache/peers-smoke/``.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import protocol as p

METHODS = ("simclr", "moco-v2", "byol", "simsiam", "swav")
PEERS_VENV = p.CACHE / "peers-venv"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
LIGHTLY_SCRIPT = p.BENCHMARKS / "peers_lightly.py"
LIGHTLY = "lightly>=1.6,<1.7"
SMOKE_TRAIN = 512
SMOKE = p.CACHE / "peers-smoke"
#: diagnostic rows per method: (side, row name, folder, extra args of ``ssl run`` (side ``ours``) or
#: of ``peers_lightly.py`` (side ``lightly``)). BYOL: one fix of the dynamics issue undone at a time.
ABLATIONS = {
    "byol": (
        ("ours", "ours, now but concat_views=true (old batch norm over both views)", "ours-byol-concat-views",
         ("--set", "branch.concat_views=true")),
        ("ours", "ours, now but lars_clip=false (old unclipped LARS, eta 0.02)", "ours-byol-lars-unclipped",
         ("--set", "run.lars_clip=false")),
    ),
    "simsiam": (
        ("lightly", "lightly 1.6 model on our views (diagnostic)", "lightly-simsiam-our-views", ("--views", "ours")),
    ),
}


def ensure_peers_venv() -> None:
    """Create ``benchmarks/cache/peers-venv`` (torch as in .venv, the project editable, lightly 1.6) if missing."""
    if PEERS_PYTHON.exists():
        return
    pip = [str(PEERS_VENV / "bin" / "pip"), "install"]
    editable = [x for d in ("core", "plugins/augment", "plugins/losses", "plugins/shapes", "plugins/simclr",
                            "plugins/moco", "plugins/byol", "plugins/simsiam", "plugins/swav") for x in ("-e", d)]
    steps = [["python3.11", "-m", "venv", str(PEERS_VENV)], pip + ["torch==2.14.1", "torchvision==0.29.1"],
             pip + editable, pip + [LIGHTLY]]
    print(f"creating {p.relative(PEERS_VENV)} (lightly, benchmark-only)", flush=True)
    for command in steps:
        subprocess.run(command, cwd=p.ROOT, check=True)
    check = subprocess.run([str(PEERS_PYTHON), "-c", "import torch; print(torch.__version__)"], capture_output=True,
                           text=True, check=True)
    if not check.stdout.startswith("2.14.1"):
        sys.exit(f"lightly changed torch to {check.stdout.strip()}; reinstall it with --no-deps (see README)")


def lightly_row(method: str, folder: Path, epochs: int, force: bool, num_train: int | None,
                dataset: str = "cifar10", seed: int = 0, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    """Train ``method`` with lightly's modules (once; resumed if killed), then evaluate as any run folder."""
    name = folder.name
    if force:
        shutil.rmtree(folder, ignore_errors=True)
    if not (folder / "result.json").exists() and not (folder / "train.json").exists():
        folder.mkdir(parents=True, exist_ok=True)
        command = [p.relative(PEERS_PYTHON), p.relative(LIGHTLY_SCRIPT), method, p.relative(folder),
                   "--epochs", str(epochs), "--dataset", dataset] + (["--num-train", str(num_train)] if num_train else [])
        command += (["--seed", str(seed)] if seed else []) + list(extra)
        print(f"{name}: training with lightly, log {p.relative(folder / 'train.log')}", flush=True)
        child = p.run_child(command, folder / "train.log")
        (folder / "train.json").write_text(json.dumps(
            {"command": shlex.join(command), "process_wall_s": child.wall_s, "process_cpu_s": child.cpu_s,
             "peak_rss_mib": child.peak_rss_mib}, indent=1))
    # train.json exists, so the harness only evaluates and builds the row (or reads result.json)
    return p.run_configuration(p.Configuration(name), folder, epochs, False, dataset)


def before_rows(dataset: str) -> dict[str, dict[str, Any]]:
    """Our ``dataset`` rows of results/methods.json (the 'before' numbers), by name."""
    path = p.RESULTS / "methods.json"
    if not path.exists():
        return {}
    payload = json.loads(path.read_text())
    label = "ours, before" if dataset == "cifar10" else "ours"  # the shapes rows there are after the fixes
    return {r["name"]: {**r, "name": f"{label} ({payload['date'][:10]}, methods.json)"}
            for r in payload["rows"] if r["dataset"] == dataset}


def page(protocol: dict[str, Any], host: dict[str, Any], floors: list[dict], tables: dict[str, list[dict]],
         notes: list[str], dataset: str = "cifar10") -> str:
    title = "# peers: ours against lightly 1.6" + ("" if dataset == "cifar10" else f" on {dataset}")
    lines = [title, "", "Protocol (benchmarks/README.md):", ""]
    lines += [f"- **{key}**: {text}" for key, text in protocol.items()]
    lines += ["", (f"Machine: {host['nproc']} CPUs (nproc), {host['cpu']}, torch {host['torch']}, "
                   f"Python {host['python']}, commit {host['git_commit']}. Test set: 1,000 images, so one "
                   "standard error of a top-1 near 50% is about 1.6 points; differences below about 3 points "
                   "are noise."), ""]
    lines += ["The lightly rows use lightly's heads, losses, momentum utilities and transforms around our "
              "encoder, data, optimizer and lr schedule; where they must differ is listed at the top of "
              "`benchmarks/peers_lightly.py`. Their train wall s has no per-epoch k-NN monitor (ours has): "
              "compare images/s.", *notes]

    def table(rows: list[dict]) -> list[str]:
        out = ["| " + " | ".join(p.TABLE_HEADER) + " |", "|" + " --- |" * len(p.TABLE_HEADER)]
        return out + ["| " + " | ".join(p.table_cells(r)) + " |" for r in rows]

    if floors:
        lines += ["", "## floors", "", *table(floors)]
    for method, rows in tables.items():
        lines += ["", f"## {method}", "", *table(rows)]
    every = floors + [r for rows in tables.values() for r in rows]
    if any(p.disturbed(r) for r in every):
        lines += ["", f"{p.DISTURBED} disturbed: train CPU s below {p.QUIET_CPU_PER_WALL} x train wall s; its "
                      "timings are not valid, its accuracies are."]
    lines += ["", "Commands:", ""] + [f"- {r['name']}: `{r['command']}`" for r in every]
    return "\n".join(lines) + "\n"


def merge_previous(path: Path, floors: list[dict], tables: dict[str, list[dict]]
                   ) -> tuple[list[dict], dict[str, list[dict]]]:
    """Keep the rows of the previous results at ``path`` that this invocation did not produce.

    A floor or method row is replaced only by a new row of the same name (and method); a kept
    row records when and at which commit it was measured (``measured``)."""
    if not path.exists():
        return floors, tables
    previous = json.loads(path.read_text())
    kept = f"{previous['date'][:10]} {previous['machine']['git_commit']}"

    def merged(old: list[dict], new: list[dict]) -> list[dict]:
        by_name = {r["name"]: r for r in new}
        out = [by_name.pop(r["name"], {"measured": kept, **r}) for r in old]
        return out + list(by_name.values())

    floors = merged(previous.get("floors", []), floors) if not floors else floors
    out = {method: merged(rows, tables.get(method, [])) for method, rows in previous.get("methods", {}).items()}
    out.update({m: rows for m, rows in tables.items() if m not in out})
    return floors, out


def _cached(folder: Path) -> bool:
    """Whether a configuration's row is cached (``--report`` shows only those)."""
    return (folder / "result.json").is_file()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Ours against lightly 1.6 under the CPU protocol.")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated subset of {','.join(METHODS)}")
    parser.add_argument("--side", choices=("ours", "lightly", "both", "none"), default="both",
                        help="which rows to train (none: only --ablations)")
    parser.add_argument("--epochs", type=int, default=p.EPOCHS, help="training epochs (other than 30: a smoke test)")
    parser.add_argument("--ablations", action="store_true",
                        help="also train the diagnostic rows (ABLATIONS): BYOL with one dynamics fix undone each, "
                             "lightly's SimSiam on our views")
    parser.add_argument("--no-floors", action="store_true",
                        help="keep the floors of the previous results instead of evaluating them")
    parser.add_argument("--force", action="store_true", help="redo configurations that have a result")
    parser.add_argument("--report", action="store_true",
                        help="train nothing: write the results page from the rows already cached")
    parser.add_argument("--dataset", choices=tuple(p.DATASETS), default="cifar10",
                        help="the CIFAR-10 subset (results/peers.*) or shapes (results/peers_shapes.*)")
    parser.add_argument("--seed", type=int, default=0,
                        help="training seed of the method rows (not 0: an extra seed, its own folders and row names)")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    suffix, label = (f"-seed{args.seed}", f", seed {args.seed}") if args.seed else ("", "")
    dataset, name = args.dataset, "peers" if args.dataset == "cifar10" else f"peers_{args.dataset}"
    methods = [m for m in args.methods.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        sys.exit(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    if not p.PYTHON.exists():
        sys.exit("no virtual environment at .venv; run .ci/setup first")
    epochs = 1 if args.smoke else args.epochs
    official = epochs == p.EPOCHS and not args.smoke
    p.prepare_data()
    if args.side in ("lightly", "both") or (args.ablations and any(
            row[0] == "lightly" for m in methods for row in ABLATIONS.get(m, ()))):
        ensure_peers_venv()
    work = (SMOKE / "runs" if args.smoke else p.CACHE / "runs" / f"peers-{epochs}ep") / (
        "" if dataset == "cifar10" else dataset)
    floors = [] if args.no_floors else [p.run_configuration(c, work / c.name, epochs, args.force, dataset)
                                        for c in p.FLOORS]
    before = before_rows(dataset) if official and not args.seed else {}
    if official and (p.RESULTS / f"{name}.json").exists():  # a before row, once recorded, stays the before row
        kept = json.loads((p.RESULTS / f"{name}.json").read_text()).get("methods", {})
        before = {m: r for m, r in before.items() if not any(x["name"].startswith("ours, before") for x in kept.get(m, []))}
    tables: dict[str, list[dict]] = {}
    for method in methods:
        rows = [before[method]] if method in before else []
        ours, lightly = f"ours-{method}{suffix}", f"lightly-{method}{suffix}"
        seed_args = ("--seed", str(args.seed)) if args.seed else ()
        if args.side in ("ours", "both") and not (args.report and not _cached(work / ours)):
            row = p.run_configuration(p.Configuration(ours, ("--branch", method, *seed_args)),
                                      work / ours, epochs, args.force, dataset)
            rows.append({**row, "name": f"ours, now{label}"})
        if args.side in ("lightly", "both") and not (args.report and not _cached(work / lightly)):
            row = lightly_row(method, work / lightly, epochs, args.force,
                              SMOKE_TRAIN if args.smoke else None, dataset, args.seed)
            rows.append({**row, "name": f"lightly 1.6{label}"})
        for side, row_name, folder, extra in ABLATIONS.get(method, ()) if args.ablations else ():
            folder = f"{folder}{suffix}"
            if args.report and not _cached(work / folder):
                continue
            if side == "ours":
                row = p.run_configuration(p.Configuration(folder, ("--branch", method, *extra, *seed_args)),
                                          work / folder, epochs, args.force, dataset)
            else:
                row = lightly_row(method, work / folder, epochs, args.force, SMOKE_TRAIN if args.smoke else None,
                                  dataset, args.seed, extra)
            rows.append({**row, "name": f"{row_name}{label}"})
        tables[method] = rows
    protocol = {**p.PROTOCOL, "data": p.DATASETS[dataset][1]}
    notes = []
    if not official:
        protocol["training"] += f" -- SMOKE TEST: {epochs} epoch(s) instead of {p.EPOCHS}"
        if args.smoke:
            protocol["training"] += f"; lightly rows train on {SMOKE_TRAIN} seeded training images"
        notes = ["", "**Smoke test: not the protocol; the numbers only show that every row runs.**"]
    host = p.machine()
    out = p.RESULTS if official else (SMOKE if args.smoke else p.CACHE / "smoke-results")
    if official:
        floors, tables = merge_previous(out / f"{name}.json", floors, tables)
    payload = {"benchmark": name, "date": datetime.now(UTC).isoformat(timespec="seconds"), "protocol": protocol,
               "machine": host, "floors": floors, "methods": tables}
    p.write_results(out, name, payload, page(protocol, host, floors, tables, notes, dataset))
    print(f"\n{name} ({epochs} epochs; {p.relative(out / name)}.json, .md)")
    print("\nfloors\n" + p.text_table([p.table_cells(r) for r in floors]))
    for method, rows in tables.items():
        print(f"\n{method}\n" + p.text_table([p.table_cells(r) for r in rows]))


if __name__ == "__main__":
    main()
