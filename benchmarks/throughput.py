"""Training throughput and peak memory of configurations side by side, relative to the first.

    .venv/bin/python benchmarks/throughput.py NAME [--repeats R] -- CONFIG_NAME='ARGS' ...
    .venv/bin/python benchmarks/throughput.py methods_speed simclr='--branch simclr' byol='--branch byol'

Each configuration trains 2 epochs of the protocol's CIFAR-10 subset (5,000 images, batch 256,
19 steps an epoch, small ResNet, 32 px, CPU) in its own process with the k-NN monitor off (``--no-callback knn-monitor``); its speed is the second epoch's ``images_per_s`` (the first includes start-up),
its memory the process's peak RSS. The configurations run one after another, ``--repeats``
rounds (interleaved, so drifts of the machine hit all alike); the table gives the median
images/s, the ratio of step time to the first configuration and the largest peak RSS. Results
go to ``benchmarks/results/NAME.json`` and ``.md``. Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import statistics
from datetime import UTC, datetime, timezone

import protocol as p

EPOCHS = 2


def measure(name: str, args: list[str], round_: int, work) -> dict[str, float]:
    """Train one configuration in a child process; its second-epoch images/s and peak RSS."""
    folder = work / f"{name}-{round_}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    command = [str(p.SSL.relative_to(p.ROOT)), "run", "--dataset", p.relative(p.DATA), "--encoder", p.ENCODER,
               "--batch-size", str(p.BATCH_SIZE), "--epochs", str(EPOCHS), "--seed", str(p.SEED),
               "--device", "cpu", "--no-callback", "knn-monitor", "--output-dir", p.relative(folder), *args]
    child = p.run_child(command, folder / "train.log")
    metrics = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines()]
    return {"images_per_s": metrics[-1]["images_per_s"], "peak_rss_mib": child.peak_rss_mib,
            "cpu_per_wall": round(child.cpu_s / child.wall_s, 2), "command": shlex.join(command)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="results file name (benchmarks/results/NAME.json, .md)")
    parser.add_argument("configs", nargs="+", metavar="CONFIG='ARGS'",
                        help="a row name and its ssl run arguments; the first is the reference")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved rounds (default 2)")
    args = parser.parse_args()
    configs = []
    for item in args.configs:
        name, sep, rest = item.partition("=")
        if not sep or not name:
            parser.error(f"expected NAME='ssl run args', got {item!r}")
        configs.append((name, shlex.split(rest)))
    p.prepare_data()
    work = p.CACHE / "runs" / f"throughput-{args.name}"
    runs: dict[str, list[dict[str, float]]] = {name: [] for name, _ in configs}
    for round_ in range(args.repeats):
        for name, ssl_args in configs:
            runs[name].append(measure(name, ssl_args, round_, work))
            print(f"round {round_ + 1}: {name} {runs[name][-1]['images_per_s']} images/s", flush=True)
    reference = statistics.median(r["images_per_s"] for r in runs[configs[0][0]])
    rows = []
    for name, _ in configs:
        speed = statistics.median(r["images_per_s"] for r in runs[name])
        rows.append({"name": name, "images_per_s": speed, "step_time_ratio": round(reference / speed, 2),
                     "peak_rss_mib": max(r["peak_rss_mib"] for r in runs[name]),
                     "cpu_per_wall": min(r["cpu_per_wall"] for r in runs[name]),
                     "all_images_per_s": [r["images_per_s"] for r in runs[name]], "command": runs[name][0]["command"]})
    protocol = (f"CIFAR-10 subset of the CPU protocol ({p.TRAIN_PER_CLASS}/class = 5,000 images), {p.ENCODER}, "
                f"{p.IMAGE_SIZE} px, batch {p.BATCH_SIZE}, {EPOCHS} epochs per process with the k-NN "
                f"monitor off; images/s = median over {args.repeats} interleaved rounds of the 2nd epoch's images/s; "
                f"step time ratio = reference images/s / row images/s (reference: {configs[0][0]}); peak RSS = "
                f"largest ru_maxrss of the training process; cpu/wall near 2 on a quiet 2-core machine")
    host = p.machine()
    header = ["configuration", "images/s", f"step time vs {configs[0][0]}", "peak RSS MiB"]
    cells = [[r["name"], f"{r['images_per_s']:.0f}", f"{r['step_time_ratio']:.2f}x", f"{r['peak_rss_mib']:.0f}"]
             for r in rows]
    p.RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": args.name, "date": datetime.now(UTC).isoformat(timespec="seconds"),
               "protocol": protocol, "machine": host, "rows": rows}
    (p.RESULTS / f"{args.name}.json").write_text(json.dumps(payload, indent=1) + "\n")
    lines = [f"# {args.name}", "", f"Protocol: {protocol}.", "",
             f"Machine: {host['nproc']} CPUs, {host['cpu']}, torch {host['torch']}, commit {host['git_commit']}.", "",
             "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(c) + " |" for c in cells]
    lines += ["", "Commands:", ""] + [f"- {r['name']}: `{r['command']}`" for r in rows]
    (p.RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header))]
    print("\n" + "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in [header, *cells]))


if __name__ == "__main__":
    main()
