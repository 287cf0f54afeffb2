"""Training speed: the trainer's step against a hand-written loop and lightly's modules, side by side.

    .venv/bin/python benchmarks/speed.py [--rounds 5] [--only simclr,byol] [--smoke]

For each configuration (method, encoder, batch) and implementation (``hand``: the math in
plain PyTorch, benchmarks/speed_hand.py; ``lightly``: lightly 1.6's modules in the same loop;
``ssl``: the trainer's whole step) one process of its own runs
``benchmarks/speed_worker.py`` with the peers venv's python (``benchmarks/cache/peers-venv``,
made by benchmarks/peers.py when missing), which times both the ``fixed`` views (the same
precomputed views for all: the framework's own overhead) and each one's own ``views`` (the
project's batched views against lightly's per-image transforms). The processes run in
``--rounds`` interleaved rounds (every configuration and implementation once per round), so
drifts of the machine hit all alike; the table gives the median images/s with the range over
rounds and the ratios of medians. Every process's result is kept under
``benchmarks/cache/speed/`` (a rerun skips what is there: resumable). Results go to
``benchmarks/results/speed.{json,md}``. Run nothing else meanwhile.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from datetime import UTC, datetime
from typing import Any

import peers
import protocol as p

CACHE = p.CACHE / "speed"
WORKER = p.BENCHMARKS / "speed_worker.py"
IMPLS = ("hand", "lightly", "ssl")
#: (method, encoder, batch, warm-up steps, timed steps, rounds at most): a resnet18 step with
#: the CIFAR stem takes about 12 s on 2 cores, so it gets fewer timed steps and rounds.
CONFIGS = (
    ("simclr", "small-resnet", 256, 2, 10, 5),
    ("moco-v2", "small-resnet", 256, 2, 10, 5),
    ("byol", "small-resnet", 256, 2, 10, 5),
    ("simsiam", "small-resnet", 256, 2, 10, 5),
    ("swav", "small-resnet", 256, 2, 10, 5),
    ("simclr", "resnet18", 128, 1, 2, 2),
    ("byol", "resnet18", 128, 1, 2, 2),
)
SMOKE = (1, 2)  # --smoke: warm-up and timed steps


def key(method: str, encoder: str, batch: int) -> str:
    return f"{method}-{encoder}-b{batch}"


def measure(config: tuple, impl: str, round_: int, smoke: bool) -> dict[str, Any]:
    method, encoder, batch, warmup, steps, _ = config
    if smoke:
        warmup, steps = SMOKE
    folder = CACHE / ("smoke" if smoke else "runs") / f"round-{round_}"
    out = folder / f"{key(method, encoder, batch)}-{impl}.json"
    if not out.exists():
        folder.mkdir(parents=True, exist_ok=True)
        command = [str(peers.PEERS_PYTHON.relative_to(p.ROOT)), p.relative(WORKER), method, impl, p.relative(out),
                   "--encoder", encoder, "--batch", str(batch), "--warmup", str(warmup), "--steps", str(steps)]
        child = p.run_child(command, folder / f"{key(method, encoder, batch)}-{impl}.log")
        result = json.loads(out.read_text())
        result["cpu_per_wall"] = round(child.cpu_s / child.wall_s, 2)
        out.write_text(json.dumps(result) + "\n")
    return json.loads(out.read_text())


def summarise(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 1), "min": round(min(values), 1), "max": round(max(values), 1)}


def ratio(num: dict[str, Any] | None, den: dict[str, Any] | None) -> float | None:
    return None if not num or not den else round(num["median"] / den["median"], 3)


def rows_of(runs: dict[tuple[str, str], list[dict[str, Any]]], configs: tuple) -> list[dict[str, Any]]:
    rows = []
    for method, encoder, batch, warmup, steps, _ in configs:
        k = key(method, encoder, batch)
        row: dict[str, Any] = {"method": method, "encoder": encoder, "batch": batch, "warmup_steps": warmup,
                               "timed_steps": steps}
        for impl in IMPLS:
            results = runs.get((k, impl), [])
            if not results:
                continue
            row[impl] = {mode: summarise([r[mode] for r in results]) for mode in ("fixed", "views")}
            row[impl]["peak_rss_mib"] = max(r["peak_rss_mib"] for r in results)
            row[impl]["rounds"] = len(results)
            if impl == "hand":
                row["views_only"] = summarise([r["views_only"] for r in results])
        hand, lightly, ours = row.get("hand"), row.get("lightly"), row.get("ssl")
        row["ssl_over_hand_fixed"] = ratio(ours and ours["fixed"], hand and hand["fixed"])
        row["ssl_over_hand_views"] = ratio(ours and ours["views"], hand and hand["views"])
        row["ssl_over_lightly_views"] = ratio(ours and ours["views"], lightly and lightly["views"])
        row["lightly_over_hand_fixed"] = ratio(lightly and lightly["fixed"], hand and hand["fixed"])
        row["views_only_over_ssl_training"] = ratio(row.get("views_only"), ours and ours["views"])
        rows.append(row)
    return rows


def cell(entry: dict[str, Any] | None, mode: str) -> str:
    if not entry:
        return "n/a"
    s = entry[mode]
    return f"{s['median']:.0f} ({s['min']:.0f}-{s['max']:.0f})"


def rss(entry: dict[str, Any] | None) -> str:
    return "n/a" if not entry else f"{entry['peak_rss_mib']:.0f}"


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}x"


PROTOCOL = (
    "CPU, 2 threads; the protocol's CIFAR-10 subset (5,000 train images, 32 px) decoded once into a uint8 tensor; "
    "each method at its registered defaults (views, loss, optimizer, lr per 256 images, 30-epoch schedule); "
    "fp32. One process per (configuration, implementation) and round, rounds interleaved; in each process, "
    "W warm-up then T timed steps on the fixed views, then W + T on its own views (ssl: two trainer runs); "
    "small ResNet: W 2, T 10; resnet18 (CIFAR stem): W 1, T 2, at most 2 rounds (a step takes about 12 s). "
    "images/s = T x batch / the timed steps' wall time; cells: median (min-max) over rounds; ratios: of medians. "
    "hand = the math in plain PyTorch (benchmarks/speed_hand.py) around the project's encoder and head modules; "
    "lightly = lightly 1.6's heads, losses, momentum and transforms (benchmarks/peers_lightly.py) in the same "
    "loop; ssl = ssl_core.Trainer's step (lifecycle, NaN flag, progress bar every log_every_steps, device-resident "
    "batches), timed between on_step_end calls; knn-monitor and plots off (no per-step work). fixed = the same "
    "2 precomputed batches of the project's views for all three; views = each one's own: the project's batched "
    "views on the device (hand, ssl) or lightly's per-image PIL transforms in a DataLoader (num_workers 0). "
    "views alone = the project's view generator without training; peak RSS = the process's largest ru_maxrss "
    "(both measurements, the data and, for ssl, two trainer runs)")


def markdown(payload: dict[str, Any]) -> str:
    host = payload["machine"]
    lines = ["# speed: the trainer's step against a hand-written loop and lightly", "",
             f"Protocol: {payload['protocol']}.", "",
             (f"Machine: {host['nproc']} CPUs, {host['cpu']}, torch {host['torch']}, commit {host['git_commit']}; "
              f"{payload['rounds']} rounds."), "",
             "## Same precomputed views (the framework's own overhead)", "",
             ("| method | encoder, batch | hand images/s | lightly images/s | ssl images/s | ssl / hand "
              "| lightly / hand |"),
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in payload["rows"]:
        lines.append(f"| {r['method']} | {r['encoder']}, {r['batch']} | {cell(r.get('hand'), 'fixed')} | "
                     f"{cell(r.get('lightly'), 'fixed')} | {cell(r.get('ssl'), 'fixed')} | "
                     f"{fmt(r['ssl_over_hand_fixed'])} | {fmt(r['lightly_over_hand_fixed'])} |")
    lines += ["", "## Each with its own views", "",
              ("| method | encoder, batch | hand images/s | lightly images/s | ssl images/s | ssl / hand "
               "| ssl / lightly | views alone images/s | views alone / ssl | peak RSS MiB hand / lightly / ssl |"),
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in payload["rows"]:
        views_only = "n/a" if not r.get("views_only") else f"{r['views_only']['median']:.0f}"
        lines.append(f"| {r['method']} | {r['encoder']}, {r['batch']} | {cell(r.get('hand'), 'views')} | "
                     f"{cell(r.get('lightly'), 'views')} | {cell(r.get('ssl'), 'views')} | "
                     f"{fmt(r['ssl_over_hand_views'])} | {fmt(r['ssl_over_lightly_views'])} | "
                     f"{views_only} | {fmt(r['views_only_over_ssl_training'])} | "
                     f"{' / '.join(rss(r.get(impl)) for impl in IMPLS)} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--only", help="comma-separated methods (default: all)")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)  # 1 + 2 steps, results in cache
    args = parser.parse_args()
    configs = tuple(c for c in CONFIGS if not args.only or c[0] in args.only.split(","))
    if not configs:
        sys.exit(f"--only {args.only}: no such method; choose from {', '.join(sorted({c[0] for c in CONFIGS}))}")
    p.prepare_data()
    peers.ensure_peers_venv()
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for round_ in range(args.rounds):
        for config in configs:
            if round_ >= config[5]:
                continue
            for impl in IMPLS:
                result = measure(config, impl, round_, args.smoke)
                runs.setdefault((key(*config[:3]), impl), []).append(result)
                print(f"round {round_ + 1}/{args.rounds} {key(*config[:3])} {impl}: fixed {result['fixed']:.0f}, "
                      f"views {result['views']:.0f} images/s", flush=True)
    payload = {"benchmark": "speed", "date": datetime.now(UTC).isoformat(timespec="seconds"), "protocol": PROTOCOL,
               "machine": p.machine(), "rounds": args.rounds, "rows": rows_of(runs, configs)}
    p.write_results(CACHE / "smoke-results" if args.smoke else p.RESULTS, "speed", payload, markdown(payload))
    print(markdown(payload))


if __name__ == "__main__":
    main()
