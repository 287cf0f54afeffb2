"""The CUDA benchmark: hand loop, lightly and the trainer's step on ResNet-18, then 90 s of SimCLR.

    python benchmarks/gpu.py DATA [--tiny]

Run by ``benchmarks/gpu.sh`` (which installs the project into a venv on the machine's torch).
For SimCLR, BYOL and MoCo v2 on resnet18 (CIFAR stem), CIFAR-10 ``DATA`` (a parquet folder),
batch 512, bf16: steady images/s of the hand-written loop (``hand``), lightly 1.6's modules in
that loop (``lightly``, when lightly is installed) and ``ssl_core.Trainer``'s step (``ssl``),
each in its own process (``benchmarks/speed_worker.py``, each with its own views), with peak
device memory; then ``ssl run --branch simclr`` trains with the k-NN monitor until it is
stopped after ``TRAIN_S`` seconds (SIGTERM: the trainer checkpoints and stops). Epoch time is
50,000 / steady images/s without k-NN; lightly's published 26 s per epoch on an A6000 includes a
k-NN pass each epoch. Writes ``benchmarks/results/gpu.{json,md}``. ``--tiny``: CPU, the shapes
dataset, small ResNet, batch 64, a few steps and 20 s of training (results in benchmarks/cache).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from protocol import write_results

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
METHODS = ("simclr", "byol", "moco-v2")
TRAIN_S = 90
EPOCH_IMAGES = 50_000


def setting(tiny: bool, data: str) -> dict:
    if tiny:
        return {"device": "cpu", "encoder": "small-resnet", "batch": 64, "warmup": 1, "steps": 3, "bf16": False,
                "dataset": "shapes", "train_s": 20}
    return {"device": "cuda", "encoder": "resnet18", "batch": 512, "warmup": 5, "steps": 20, "bf16": True,
            "dataset": data, "train_s": TRAIN_S}


def worker(method: str, impl: str, s: dict, out: Path) -> dict:
    command = [sys.executable, str(BENCHMARKS / "speed_worker.py"), method, impl, str(out), "--encoder", s["encoder"],
               "--batch", str(s["batch"]), "--warmup", str(s["warmup"]), "--steps", str(s["steps"]),
               "--dataset", s["dataset"], "--device", s["device"], *(["--bf16"] if s["bf16"] else [])]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True)
    return {**json.loads(out.read_text()), "process_s": round(time.perf_counter() - started, 1)}


def train_simclr(s: dict, folder: Path) -> dict:
    """``ssl run`` with the k-NN monitor, stopped by SIGTERM after ``train_s`` seconds."""
    command = [str(Path(sys.executable).parent / "ssl"), "run", "--branch", "simclr", "--encoder", s["encoder"],
               "--dataset", s["dataset"], "--batch-size", str(s["batch"]), "--epochs", "200", "--device",
               s["device"], "--output-dir", str(folder), "--overwrite", "--no-callback", "plots",
               *(["--mixed-precision", "bf16"] if s["bf16"] else [])]
    process = subprocess.Popen(command, cwd=ROOT)
    try:
        process.wait(timeout=s["train_s"])
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=120)
    metrics = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]
    return {"seconds": s["train_s"], "epochs": len(metrics),
            "epoch_time_s": [m["epoch_time_s"] for m in metrics], "images_per_s": [m["images_per_s"] for m in metrics],
            "knn_top1": [m.get("knn_top1") for m in metrics], "command": " ".join(command)}


def markdown(payload: dict) -> str:
    s = payload["setting"]
    setting = (f"Setting: {payload['device']}; {s['encoder']}, batch {s['batch']}, "
               f"{'bf16' if s['bf16'] else 'fp32'}, dataset {s['dataset']}; {s['warmup']} warm-up and {s['steps']} "
               "timed steps per process, each with its own views (hand, ssl: the project's batched views on the "
               f"device; lightly: its per-image transforms in a DataLoader); epoch s = {EPOCH_IMAGES:,} / images/s, "
               "without k-NN (lightly's published 26 s per epoch on an A6000 includes a k-NN pass each epoch).")
    lines = ["# gpu: the trainer's step against a hand-written loop and lightly on one GPU", "", setting, "",
             "| method | hand images/s | lightly images/s | ssl images/s | ssl / hand | ssl epoch s | peak MiB (hand / ssl) |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for method, row in payload["rows"].items():
        hand, lightly, ours = row.get("hand"), row.get("lightly"), row.get("ssl")
        lines.append(f"| {method} | {hand['views']:.0f} | {lightly['views'] if lightly else 'n/a'} | "
                     f"{ours['views']:.0f} | {ours['views'] / hand['views']:.2f}x | "
                     f"{EPOCH_IMAGES / ours['views']:.1f} | {hand.get('peak_device_mib', 'n/a')} / "
                     f"{ours.get('peak_device_mib', 'n/a')} |")
    t = payload["simclr_training"]
    trained = (f"SimCLR trained {t['seconds']} s with the k-NN monitor: {t['epochs']} epochs, epoch times "
               f"{t['epoch_time_s']} s, k-NN top-1 {t['knn_top1']}.")
    lines += ["", trained, "", f"Command: `{t['command']}`"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="?", default=str(ROOT.parent / "shared" / "data" / "cifar10"))
    parser.add_argument("--tiny", action="store_true", help="CPU smoke setting (results in benchmarks/cache)")
    args = parser.parse_args()
    s = setting(args.tiny, args.data)
    work = BENCHMARKS / "cache" / ("gpu-tiny" if args.tiny else "gpu")
    impls = ("hand", "lightly", "ssl") if importlib.util.find_spec("lightly") else ("hand", "ssl")
    rows: dict = {}
    for method in METHODS:
        for impl in impls:
            rows.setdefault(method, {})[impl] = worker(method, impl, s, work / f"{method}-{impl}.json")
            print(f"{method} {impl}: {rows[method][impl]}", flush=True)
    import torch

    device = torch.cuda.get_device_name(0) if s["device"] == "cuda" else "CPU"
    payload = {"benchmark": "gpu", "date": datetime.now(UTC).isoformat(timespec="seconds"), "device": device,
               "torch": torch.__version__, "setting": s, "rows": rows,
               "simclr_training": train_simclr(s, work / "simclr-run")}
    write_results(work if args.tiny else BENCHMARKS / "results", "gpu", payload, markdown(payload))
    print(markdown(payload))


if __name__ == "__main__":
    main()
