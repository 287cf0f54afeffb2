"""Step-for-step equivalence of our SimSiam branch and the same method built from lightly 1.6's modules.

    benchmarks/cache/peers-venv/bin/python benchmarks/peers_equivalence.py [--steps 10]

Where ``peers.py`` compares whole 30-epoch trainings (whose seeds draw different weights, batch
orders and augmentations on each side), this holds every random draw fixed: our branch
(``ssl_core.create("branch", "simsiam", ...)`` at its registered defaults, the run's loss) and
``peers_lightly.Method("simsiam", ...)`` (lightly's projection and prediction heads and
``NegativeCosineSimilarity``) start from the same encoder and head weights (ours, copied into
lightly's modules in order) and take ``--steps`` optimiser steps (``build_optimizer`` with the
run's optimizer, momentum, weight decay and parameter groups, the predictor's at the fixed peak
lr; the protocol's warm-up and cosine lr) on the same batches of 256 views (our view generator
on the first images of the training set), on the CIFAR-10 subset and on ``shapes``. Per step it
records both losses and the largest relative difference of any parameter's gradient. Results:
``results/peers_equivalence.{json,md}``. Runs in the peers venv (it imports lightly); about a
minute on 2 cores.
"""

from __future__ import annotations

import argparse
import copy
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import peers_lightly as pl
import protocol as p

METHOD = "simsiam"
BATCH = 256


def compare(dataset: str, steps: int) -> dict[str, Any]:
    """Both implementations from one state on the same views for ``steps`` steps: per-step losses and gradient gap."""
    import ssl_core
    from ssl_core import Batch, BuildContext
    from ssl_core.training.optim import build_optimizer
    from ssl_core.training.schedule import warmup_cosine
    from torchvision.transforms.functional import pil_to_tensor

    cfg = pl.resolved_config(METHOD, p.CACHE / "peers-equivalence", p.EPOCHS, dataset, p.SEED)
    torch.manual_seed(p.SEED)
    context = BuildContext(image_size=p.IMAGE_SIZE, channels=3)
    encoder = ssl_core.create("encoder", cfg["encoder"], context, **cfg["options"]["encoder"][cfg["encoder"]])
    loss = ssl_core.create("loss", cfg["loss"], context)
    ours = ssl_core.create("branch", METHOD, BuildContext(image_size=p.IMAGE_SIZE, channels=3, encoder=encoder,
                                                          loss=loss), **cfg["options"]["branch"][METHOD])
    images = pl.load_images(None, cfg)
    steps_per_epoch = len(images) // BATCH
    theirs = pl.Method(METHOD, copy.deepcopy(encoder), cfg, len(images), BATCH, steps_per_epoch,
                       steps_per_epoch * p.EPOCHS)
    for mine, lightly in ((ours.projector, theirs.projector), (ours.predictor, theirs.predictor)):
        source, target = mine.state_dict(), lightly.state_dict()
        if [v.shape for v in source.values()] != [v.shape for v in target.values()]:
            raise SystemExit(f"{METHOD}: the heads differ ({list(source)} against {list(target)})")
        lightly.load_state_dict(dict(zip(target, source.values())))
    views = pl.OurViews(cfg, p.SEED)
    x = torch.stack([pil_to_tensor(image) for image in images[: 2 * BATCH]])
    peak = cfg["lr"] * BATCH / 256
    total, warmup = steps_per_epoch * p.EPOCHS, round(cfg["warmup_epochs"] * steps_per_epoch)
    optimizers = [build_optimizer(cfg["optimizer"], m.parameter_groups(), peak, cfg["momentum"], cfg["weight_decay"],
                                  lars_eta=cfg["lars_eta"], lars_clip=cfg["lars_clip"]) for m in (ours, theirs)]
    rows = []
    ours.train(), theirs.train()
    for step in range(steps):
        batch = views(x[(step % 2) * BATCH:(step % 2 + 1) * BATCH], step)
        lr = warmup_cosine(step, total, warmup, peak, peak * cfg["final_lr_ratio"])
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                if not group.get("fixed_lr"):
                    group["lr"] = lr
        mine = ours(Batch(views=batch, image=batch[0], index=torch.arange(BATCH))).loss
        lightly = theirs.step_loss(batch, step)
        mine.backward()
        lightly.backward()
        grads = [[q.grad for g in o.param_groups for q in g["params"]] for o in optimizers]
        gap = max(((a - b).abs().max() / b.abs().max().clamp(min=1e-12)).item() for a, b in zip(*grads))
        rows.append({"step": step, "lr": lr, "loss_ours": mine.item(), "loss_lightly": lightly.item(),
                     "max_relative_grad_difference": gap})
        for optimizer in optimizers:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
    return {"dataset": dataset, "num_train": len(images), "steps": rows,
            "max_loss_difference": max(abs(r["loss_ours"] - r["loss_lightly"]) for r in rows),
            "max_relative_grad_difference": max(r["max_relative_grad_difference"] for r in rows)}


def page(payload: dict[str, Any]) -> str:
    """The results page."""
    host = payload["machine"]
    machine = f"Machine: {host['nproc']} CPUs, {host['cpu']}, torch {host['torch']}, commit {host['git_commit']}."
    lines = ["# peers_equivalence: our SimSiam against lightly 1.6's, every random draw fixed", "",
             f"Protocol: {payload['protocol']}", "", machine, ""]
    for result in payload["results"]:
        gaps = (f"Largest loss difference {result['max_loss_difference']:.1e}; largest relative gradient "
                f"difference of any parameter {result['max_relative_grad_difference']:.1e}.")
        lines += [f"## {result['dataset']} ({result['num_train']} training images)", "", gaps, "",
                  "| step | lr | loss, ours | loss, lightly | max relative gradient difference |",
                  "| --- | --- | --- | --- | --- |"]
        lines += [f"| {r['step']} | {r['lr']:.4f} | {r['loss_ours']:.6f} | {r['loss_lightly']:.6f} | "
                  f"{r['max_relative_grad_difference']:.1e} |" for r in result["steps"]]
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="optimiser steps on each dataset")
    args = parser.parse_args()
    p.prepare_data()
    protocol = (f"{METHOD} at its registered defaults (small ResNet, batch {BATCH}, 32 px, the {p.EPOCHS}-epoch "
                f"schedule's first {args.steps} steps); one start state and the same views (our generator, seed "
                f"{p.SEED}) for both; the trainer's step is the plain loop used here "
                "(plugins/simsiam/tests/test_simsiam_training.py)")
    payload = {"benchmark": "peers_equivalence", "date": datetime.now(UTC).isoformat(timespec="seconds"),
               "protocol": protocol, "machine": p.machine(),
               "results": [compare(dataset, args.steps) for dataset in ("cifar10", "shapes")]}
    out = p.write_results(p.RESULTS, "peers_equivalence", payload, page(payload))
    for result in payload["results"]:
        print(f"{result['dataset']}: max loss difference {result['max_loss_difference']:.1e}, max relative gradient "
              f"difference {result['max_relative_grad_difference']:.1e}")
    print(f"{p.relative(out)}.json, .md")


if __name__ == "__main__":
    main()
