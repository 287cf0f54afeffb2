"""The CPU benchmark protocol of ssl: its fixed settings and the harness that runs it.

A benchmark is a list of [`Configuration`][protocol.Configuration]s: the two floors
(``raw-pixels``, ``untrained``) and one or more ``ssl run`` trainings, each given only the
``ssl run`` arguments that set it apart (``--branch simclr``, ``--set ...``). Every step of
a configuration runs in its own child process (training: ``.venv/bin/ssl run``; data
preparation, feature extraction and scoring: ``benchmarks/worker.py``), so its peak memory
and wall time are its own. This module imports only the standard library: a parent that had
loaded torch would show its own RSS in every child's ``ru_maxrss`` (Linux counts the memory
a process had when it called exec).

Everything is resumable. A configuration with a ``result.json`` in its folder is skipped
(``--force`` redoes it), a finished training (``train.json``) is not repeated, and a killed
training continues from its last checkpoint with ``ssl run --resume``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
CACHE = BENCHMARKS / "cache"  # git-ignored: data subset, run folders, smoke-test results
RESULTS = BENCHMARKS / "results"
WORKER = BENCHMARKS / "worker.py"
PYTHON = ROOT / ".venv" / "bin" / "python"
SSL = ROOT / ".venv" / "bin" / "ssl"

SOURCE = ROOT.parent / "shared" / "data" / "cifar10"  # the full CIFAR-10 (JPEG q75) copy
DATA = CACHE / "cifar10-500"  # the protocol's subset, written once by worker.py prepare
TRAIN_PER_CLASS = 500  # training set and k-NN bank / probe training set: 5,000 images
TEST_PER_CLASS = 100  # test queries: 1,000 images
SUBSET_SEED = 0
IMAGE_SIZE = 32
ENCODER = "small-resnet"
BATCH_SIZE = 256
EPOCHS = 30
SEED = 0
KNN_K = 200
KNN_TEMPERATURE = 0.1
PROBE_MAX_ITER = 100
PROBE_WEIGHT_DECAY = 1e-4

#: the datasets a benchmark can run on: what ``--dataset`` gets, and the protocol's description.
DATASETS: dict[str, tuple[str, str]] = {
    "cifar10": (str(DATA.relative_to(ROOT)),
                (f"CIFAR-10 (JPEG q75 copy, {SOURCE.relative_to(ROOT.parent)}): {TRAIN_PER_CLASS} train images "
                 f"per class from train.parquet and {TEST_PER_CLASS} test images per class from test.parquet, "
                 f"drawn with numpy default_rng({SUBSET_SEED}); the train subset is both the training set and "
                 f"the k-NN bank / probe training set")),
    "shapes": ("shapes",
               (f"the built-in shapes dataset at its defaults: {TRAIN_PER_CLASS} train images per class (balanced, "
                f"random backgrounds, 2 hues, seed 0) as training set and k-NN bank / probe training set, "
                f"{TEST_PER_CLASS} test images per class, {IMAGE_SIZE} px")),
}

PROTOCOL: dict[str, Any] = {
    "data": DATASETS["cifar10"][1],
    "training": f"ssl run --dataset DATA --encoder {ENCODER} --batch-size {BATCH_SIZE} "
                f"--epochs {EPOCHS} --seed {SEED} --device cpu, {IMAGE_SIZE} px, everything else at the "
                f"branch's defaults (lr per 256 images; the default knn-monitor callback; a checkpoint every epoch)",
    "features": "pooled encoder output of the un-augmented images, eval mode, ImageNet mean/std "
                "(raw-pixels: the flattened normalised image)",
    "knn": f"weighted k-NN, k {KNN_K}, T {KNN_TEMPERATURE}, cosine (ssl_core.evaluation.knn), test top-1",
    "linear_probe": f"features standardised with train mean/std; multinomial logistic regression, full batch, "
                    f"torch.optim.LBFGS (strong Wolfe, at most {PROBE_MAX_ITER} iterations, lr 1, zero init), "
                    f"loss cross-entropy + {PROBE_WEIGHT_DECAY:g}/2 * ||W||^2, float64; test top-1",
    "floors": "untrained: the encoder built with the training seed, not trained; raw-pixels: no encoder",
    "images_per_s": "median over epochs of images_per_s in the run's metrics.jsonl",
    "peak_rss_mib": "largest ru_maxrss of the configuration's child processes (training, evaluation)",
    "train_wall_s": "the trainer's wall_time_s (summed over resumed sessions; includes the knn-monitor)",
    "train_cpu_s": "user + system CPU time of the training process: about 1.8 x train_wall_s on a quiet 2-core "
                   "machine; far less means other processes shared the CPUs and the timings are not valid",
}

FLOOR_KINDS = ("raw-pixels", "untrained")


@dataclass(frozen=True)
class Configuration:
    """One row of a benchmark.

    Attributes:
        name: the row name and the name of its folder.
        ssl_args: ``ssl run`` arguments added to the protocol's (e.g. ``("--branch", "simclr")``).
        floor: ``"raw-pixels"`` or ``"untrained"`` for a floor, evaluated without training.
    """

    name: str
    ssl_args: tuple[str, ...] = ()
    floor: str | None = None

    def __post_init__(self) -> None:
        if self.floor not in (None, *FLOOR_KINDS):
            raise ValueError(f"floor must be one of {FLOOR_KINDS} or None, not {self.floor!r}")


FLOORS = tuple(Configuration(kind, floor=kind) for kind in FLOOR_KINDS)


@dataclass(frozen=True)
class ChildRun:
    """The wall time, CPU time (user + system) and peak resident memory of one finished child."""

    wall_s: float
    cpu_s: float
    peak_rss_mib: float


def write_results(folder: Path, name: str, payload: dict[str, Any], page: str) -> Path:
    """Write ``name.json`` (``payload``) and ``name.md`` (``page``) into ``folder``, each atomically;
    returns ``folder / name``."""
    folder.mkdir(parents=True, exist_ok=True)
    for path, text in ((folder / f"{name}.json", json.dumps(payload, indent=1) + "\n"), (folder / f"{name}.md", page)):
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(text)
        os.replace(tmp, path)
    return folder / name


def relative(path: Path) -> str:
    """``path`` relative to the repository root (children run there; configs stay portable)."""
    return str(path.relative_to(ROOT))


def run_child(command: list[str], log: Path) -> ChildRun:
    """Run ``command`` in the repository root, appending its output to ``log``; raise if it fails."""
    started = time.perf_counter()
    with log.open("a") as out:
        out.write(f"\n$ {shlex.join(command)}\n")
        out.flush()
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own rusage
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{shlex.join(command)} exited with {process.returncode}; see {log}")
    return ChildRun(round(time.perf_counter() - started, 1), round(usage.ru_utime + usage.ru_stime, 1),
                    round(usage.ru_maxrss / 1024, 1))


def prepare_data() -> None:
    """Write the protocol's subset to ``benchmarks/cache/cifar10-500`` unless it is there."""
    if not all((DATA / f"{split}.parquet").exists() for split in ("train", "test")):
        DATA.mkdir(parents=True, exist_ok=True)
        print(f"writing the data subset to {relative(DATA)}", flush=True)
        run_child([str(PYTHON.relative_to(ROOT)), relative(WORKER), "prepare"], CACHE / "prepare.log")


def train_command(configuration: Configuration, folder: Path, epochs: int, dataset: str) -> list[str]:
    """The ``ssl run`` command of a trained configuration under the protocol."""
    return [str(SSL.relative_to(ROOT)), "run", "--dataset", DATASETS[dataset][0], "--encoder", ENCODER,
            "--batch-size", str(BATCH_SIZE), "--epochs", str(epochs), "--seed", str(SEED), "--device", "cpu",
            "--output-dir", relative(folder), *configuration.ssl_args]


def train(configuration: Configuration, folder: Path, epochs: int, dataset: str) -> dict[str, Any]:
    """Train once (resuming a killed run) and return ``train.json``: command, wall and CPU time, peak RSS."""
    record = folder / "train.json"
    if record.exists():
        return json.loads(record.read_text())
    command = train_command(configuration, folder, epochs, dataset)
    # a run killed before its first checkpoint starts over
    resume = ["--resume", relative(folder)] if any((folder / "checkpoints").glob("epoch-*")) else ["--overwrite"]
    print(f"{configuration.name}: training{' (resuming)' if '--resume' in resume else ''}, log {relative(folder / 'train.log')}",
          flush=True)
    child = run_child(command + resume, folder / "train.log")
    result = {"command": shlex.join(command), "process_wall_s": child.wall_s, "process_cpu_s": child.cpu_s,
              "peak_rss_mib": child.peak_rss_mib}
    record.write_text(json.dumps(result, indent=1))
    return result


def evaluate(configuration: Configuration, folder: Path, dataset: str) -> tuple[list[str], ChildRun]:
    """Score ``folder`` (a run folder, or a floor's folder) in a worker child; see worker.py."""
    command = [str(PYTHON.relative_to(ROOT)), relative(WORKER), "evaluate",
               configuration.floor or "trained", relative(folder), dataset]
    print(f"{configuration.name}: evaluating, log {relative(folder / 'evaluate.log')}", flush=True)
    return command, run_child(command, folder / "evaluate.log")


def run_configuration(configuration: Configuration, folder: Path, epochs: int, force: bool,
                      dataset: str = "cifar10") -> dict[str, Any]:
    """Train (unless a floor) and evaluate one configuration; its row, cached in ``result.json``."""
    result_file = folder / "result.json"
    if force:
        shutil.rmtree(folder, ignore_errors=True)
    elif result_file.exists():
        print(f"{configuration.name}: done before ({relative(result_file)}; --force redoes it)", flush=True)
        return json.loads(result_file.read_text())
    folder.mkdir(parents=True, exist_ok=True)
    trained = train(configuration, folder, epochs, dataset) if configuration.floor is None else None
    command, evaluation = evaluate(configuration, folder, dataset)
    scores = json.loads((folder / "scores.json").read_text())
    row: dict[str, Any] = {
        "name": configuration.name,
        "dataset": dataset,
        "knn_top1": scores["knn_top1"],
        "linear_top1": scores["linear_top1"],
        "images_per_s": None,
        "peak_rss_mib": max(evaluation.peak_rss_mib, trained["peak_rss_mib"] if trained else 0.0),
        "train_wall_s": None,
        "train_cpu_s": trained["process_cpu_s"] if trained else None,
        "eval_wall_s": evaluation.wall_s,
        "epochs": 0,
        "feature_dim": scores["feature_dim"],
        "command": trained["command"] if trained else shlex.join(command),
    }
    if trained:
        metrics = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
        summary = json.loads((folder / "summary.json").read_text())
        row.update(images_per_s=round(statistics.median(m["images_per_s"] for m in metrics), 1),
                   train_wall_s=summary["wall_time_s"], epochs=metrics[-1]["epoch"])
    result_file.write_text(json.dumps(row, indent=1))
    return row


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.startswith("model name")),
                 platform.processor())
    commit = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=ROOT, capture_output=True, text=True,
                            check=False)
    return {"nproc": len(os.sched_getaffinity(0)), "cpu": model, "torch": version("torch"),
            "python": platform.python_version(), "git_commit": commit.stdout.strip() or None}


TABLE_HEADER = ("configuration", "k-NN top-1", "linear top-1", "images/s", "peak RSS MiB", "train wall s", "epochs")


#: a training whose CPU time is below this multiple of its wall time shared the CPUs (quiet: about 1.8).
QUIET_CPU_PER_WALL = 1.5
DISTURBED = "†"


def disturbed(row: dict[str, Any]) -> bool:
    """Whether other processes shared the CPUs during the row's training (its timings are not valid)."""
    return bool(row.get("train_cpu_s") and row.get("train_wall_s")
                and row["train_cpu_s"] < QUIET_CPU_PER_WALL * row["train_wall_s"])


def table_cells(row: dict[str, Any]) -> list[str]:
    """A row's cells under ``TABLE_HEADER`` ('-' where a floor has no value, † on disturbed timings)."""
    mark = DISTURBED if disturbed(row) else ""

    def show(value: Any, pattern: str = "{}") -> str:
        return "-" if value is None else pattern.format(value)

    return [row["name"], show(100 * row["knn_top1"], "{:.1f}%"), show(100 * row["linear_top1"], "{:.1f}%"),
            show(row["images_per_s"], "{:.0f}") + mark, show(row["peak_rss_mib"], "{:.0f}"),
            show(row["train_wall_s"], "{:.0f}") + mark, str(row["epochs"])]


def text_table(rows: list[list[str]]) -> str:
    """Rows under ``TABLE_HEADER``, columns padded to their widest cell."""
    widths = [max(len(r[i]) for r in [list(TABLE_HEADER), *rows]) for i in range(len(TABLE_HEADER))]
    lines = [list(TABLE_HEADER), ["-" * w for w in widths], *rows]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)).rstrip() for line in lines)


def markdown(benchmark: str, protocol: dict[str, Any], host: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    """The results page: protocol, machine, one table per dataset and the training commands."""
    lines = [f"# {benchmark}", "", "Protocol (benchmarks/README.md):", ""]
    lines += [f"- **{key}**: {text}" for key, text in protocol.items()]
    lines += ["", (f"Machine: {host['nproc']} CPUs (nproc), {host['cpu']}, torch {host['torch']}, "
                   f"Python {host['python']}, commit {host['git_commit']}. Test set: 1,000 images, so one "
                   "standard error of a top-1 near 50% is about 1.6 points.")]
    for dataset in dict.fromkeys(row["dataset"] for row in rows):
        lines += ["", f"## {dataset}", "", "| " + " | ".join(TABLE_HEADER) + " |", "|" + " --- |" * len(TABLE_HEADER)]
        lines += ["| " + " | ".join(table_cells(row)) + " |" for row in rows if row["dataset"] == dataset]
    if any(disturbed(row) for row in rows):
        note = (f"{DISTURBED} disturbed: other processes shared the CPUs during this training (train CPU s "
                f"below {QUIET_CPU_PER_WALL} x train wall s), so its images/s and wall time are not valid; "
                "accuracies are (CPU training is deterministic).")
        lines += ["", note]
    if any("measured" in row for row in rows):
        lines += ["", "When and at which commit each row was measured (rows are rerun one at a time with `--only`):", ""]
        lines += [f"- {row['dataset']} / {row['name']}: {row['measured']}" for row in rows if "measured" in row]
    lines += ["", "Commands:", ""] + [f"- {row['dataset']} / {row['name']}: `{row['command']}`" for row in rows]
    return "\n".join(lines) + "\n"


def run_benchmark(benchmark: str, configurations: list[Configuration], epochs: int = EPOCHS,
                  force: bool = False, datasets: tuple[str, ...] = ("cifar10",),
                  only: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Run every configuration on every dataset, print the tables, write ``<benchmark>.json`` and ``.md``.

    Results go to ``benchmarks/results/`` only at the protocol's epochs; other epoch counts
    (smoke tests) write to ``benchmarks/cache/smoke-results/`` and train in their own folders.
    With ``only`` (configuration names), just those run and every other row of the previous
    results file is kept as it was (with its own date and commit).
    """
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise ValueError(f"unknown benchmark dataset(s) {unknown}; choose from {sorted(DATASETS)}")
    if "cifar10" in datasets:
        prepare_data()
    work = CACHE / "runs" / f"{benchmark}-{epochs}ep"
    unknown = [n for n in only if n not in {c.name for c in configurations}]
    if unknown:
        raise ValueError(f"unknown configuration(s) {unknown}; choose from {[c.name for c in configurations]}")
    rows = [run_configuration(c, work / c.name if d == "cifar10" else work / d / c.name, epochs, force, d)
            for d in datasets for c in configurations if not only or c.name in only]
    protocol = dict(PROTOCOL)
    protocol["data"] = "; ".join(f"{d}: {DATASETS[d][1]}" for d in datasets)
    if epochs != EPOCHS:
        protocol["training"] += f" -- SMOKE TEST: {epochs} epochs instead of {EPOCHS}"
    host = machine()
    out = RESULTS if epochs == EPOCHS else CACHE / "smoke-results"
    date = datetime.now(UTC).isoformat(timespec="seconds")
    if only and (out / f"{benchmark}.json").exists():
        new = {(r["dataset"], r["name"]): {**r, "measured": f"{date[:10]} {host['git_commit']}"} for r in rows}
        previous = json.loads((out / f"{benchmark}.json").read_text())
        kept = f"{previous['date'][:10]} {previous['machine']['git_commit']}"
        rows = [new.pop((r["dataset"], r["name"]), {"measured": kept, **r}) for r in previous["rows"]]
        rows += list(new.values())
        datasets = tuple(dict.fromkeys(r["dataset"] for r in rows))
        protocol["data"] = "; ".join(f"{d}: {DATASETS[d][1]}" for d in datasets)
    payload = {"benchmark": benchmark, "date": date, "protocol": protocol, "machine": host, "rows": rows}
    write_results(out, benchmark, payload, markdown(benchmark, protocol, host, rows))
    print(f"\n{benchmark} ({epochs} epochs; {relative(out / benchmark)}.json, .md)")
    for dataset in datasets:
        print(f"\n{dataset}\n" + text_table([table_cells(row) for row in rows if row["dataset"] == dataset]))
    return rows


def main(benchmark: str, configurations: list[Configuration], argv: list[str] | None = None,
         datasets: tuple[str, ...] = ("cifar10",)) -> None:
    """The command line every benchmark script shares: ``[--epochs N] [--force] [--dataset D ...]``."""
    parser = argparse.ArgumentParser(description=f"Run the {benchmark} benchmark (see benchmarks/README.md).")
    parser.add_argument("--epochs", type=int, default=EPOCHS,
                        help=f"training epochs (default: the protocol's {EPOCHS}; other values are smoke tests "
                             "and write to benchmarks/cache/smoke-results/)")
    parser.add_argument("--force", action="store_true", help="redo configurations that have a result")
    parser.add_argument("--dataset", action="append", choices=sorted(DATASETS),
                        help=f"run only on this dataset (repeatable; default: {', '.join(datasets)})")
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only this configuration (repeatable) and keep the other rows of the previous results")
    args = parser.parse_args(argv)
    if not PYTHON.exists():
        sys.exit(f"no virtual environment at {relative(PYTHON.parent.parent)}; run .ci/setup first")
    run_benchmark(benchmark, configurations, args.epochs, args.force, tuple(args.dataset or datasets),
                  tuple(args.only))
