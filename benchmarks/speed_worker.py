"""Time one method's training step in one implementation, on fixed views and with its own views.

    PYTHON benchmarks/speed_worker.py METHOD IMPL OUT.json [--encoder E] [--batch B] [--warmup W]
        [--steps T] [--dataset PATH_OR_NAME] [--device cpu|cuda] [--bf16]

IMPL: ``hand`` (benchmarks/speed_hand.py: the math in plain PyTorch in a hand-written loop),
``lightly`` (the method from lightly 1.6's modules, benchmarks/peers_lightly.py, in the same
loop) or ``ssl`` (``ssl_core.Trainer``: the trainer's whole step with its lifecycle, logging
and batch path). Run by ``benchmarks/speed.py`` (and ``benchmarks/gpu.sh``) in a process of
its own with the peers venv's python, where lightly is installed.

Two measurements, each after ``W`` warm-up steps, over ``T`` timed steps:

- ``fixed``: every implementation trains on the same precomputed batches of views (made once
  by the project's view generator of the method, cycled), so only the step differs;
- ``views``: each makes its own views: ``hand`` and ``ssl`` the project's batched views on the
  device from the uint8 images held in memory, ``lightly`` its per-image PIL transforms in a
  DataLoader (``num_workers`` 0).

``ssl`` times the interval between the trainer's ``on_step_end`` calls (a callback registered
here, the run's last component) and stops the run when the window closes; the knn-monitor and
plots callbacks are off (they do no per-step work). The ``hand`` worker also times the view
generator alone. Writes ``{"fixed": images/s, "views": images/s, "views_only": images/s,
"peak_rss_mib": ..., "peak_device_mib": ...}`` to OUT.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
sys.path.insert(0, str(BENCHMARKS))
DATA = BENCHMARKS / "cache" / "cifar10-500"
FIXED_BATCHES = 2


class WindowClosed(Exception):
    """Raised by the timing callback when the timed window is over."""


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_config(args: argparse.Namespace, views: str | None = None, output_dir: str | None = None) -> dict:
    from ssl_core.config import resolve, to_plain

    raw = {"branch": args.method, "dataset": args.dataset, "encoder": args.encoder, "batch_size": args.batch,
           "epochs": args.epochs, "seed": 0, "device": args.device, "mixed_precision": "bf16" if args.bf16 else "no",
           "output_dir": output_dir, "no_callback": [n for n in ("knn-monitor", "plots") if n in callbacks()]}
    if views:
        raw["views"] = views
    return to_plain(resolve(raw))


def callbacks() -> set[str]:
    from ssl_core import available

    return set(available("callback"))


def load_images(args: argparse.Namespace) -> torch.Tensor:
    """The training split's uint8 images, read as the trainer reads them (decoded into memory)."""
    from ssl_core import BuildContext, registry
    from ssl_core.config import resolve

    config = resolve(run_config(args))
    name = config.selected("dataset")[0]
    return registry.build("dataset", name, config.component_options("dataset", name), BuildContext()).train.images


def build(args: argparse.Namespace, cfg: dict, num_train: int, steps_per_epoch: int):
    """The run's encoder, loss, views and branch, built as the trainer builds them (seeded first)."""
    from accelerate.utils import set_seed
    from ssl_core import BuildContext, registry
    from ssl_core.config import resolve

    config = resolve(cfg)
    set_seed(config.seed)
    context = BuildContext(image_size=32, channels=3, num_train=num_train, num_classes=10, batch_size=args.batch,
                           steps_per_epoch=steps_per_epoch, epochs=config.epochs)
    for kind, name in (("encoder", config.encoder), ("loss", config.loss), ("views", config.views),
                       ("branch", config.branch)):
        setattr(context, "branch" if kind == "branch" else kind,
                registry.build(kind, name, config.component_options(kind, name), context))
    return context


def fixed_views(args: argparse.Namespace, images: torch.Tensor, device: torch.device) -> list[list[torch.Tensor]]:
    """``FIXED_BATCHES`` batches of the project's views of the method, in [0, 1], on ``device``."""
    context = build(args, run_config(args), len(images), len(images) // args.batch)
    out = []
    for k in range(FIXED_BATCHES):
        x = images[k * args.batch:(k + 1) * args.batch].to(device).float().div_(255)
        out.append(context.views(x, torch.Generator(device=device).manual_seed(k)))
    return out


def optimizer_for(cfg: dict, groups: list[dict]):
    from ssl_core.training.optim import build_optimizer

    peak = cfg["lr"] * cfg["batch_size"] / 256
    return build_optimizer(cfg["optimizer"], groups, peak, cfg["momentum"], cfg["weight_decay"],
                           lars_eta=cfg["lars_eta"], lars_clip=cfg["lars_clip"]), peak


def loop(step_loss, after_step, before_optimizer, optimizer, peak: float, total: int, warmup: int, batches,
         args: argparse.Namespace, device: torch.device) -> float:
    """A hand-written loop: lr schedule, forward, backward, step; images/s over the timed steps."""
    from ssl_core.training.schedule import warmup_cosine

    started = None
    for step, views in enumerate(batches):
        if step == args.warmup:
            sync(device)
            started = time.perf_counter()
        if step == args.warmup + args.steps:
            break
        lr = warmup_cosine(step, total, warmup, peak, 0.0)
        for group in optimizer.param_groups:
            if not group.get("fixed_lr"):
                group["lr"] = lr
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.bf16):
            loss = step_loss(views, step)
        loss.backward()
        before_optimizer(step)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        after_step(step)
    sync(device)
    return args.steps * args.batch / (time.perf_counter() - started)


def project_batches(images: torch.Tensor, views, normalize, device: torch.device, batch: int, channels_last: bool):
    """Endless batches of the project's views made on ``device`` from the uint8 ``images`` there."""
    images = images.to(device)
    epoch = 0
    while True:
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(epoch)).to(device)
        for start in range(0, len(images) - batch + 1, batch):
            x = images[order[start:start + batch]].float().div_(255)
            out = [normalize(v) for v in views(x, torch.Generator(device=device).manual_seed(start))]
            yield [v.contiguous(memory_format=torch.channels_last) for v in out] if channels_last else out
        epoch += 1


def cycled(batches: list):
    while True:
        yield from batches


def time_hand_or_lightly(args: argparse.Namespace, images: torch.Tensor, device: torch.device) -> dict:
    from ssl_core.training.model import IMAGENET_MEAN, IMAGENET_STD, Normalize

    cfg = run_config(args)
    steps = len(images) // args.batch
    total, warmup = steps * cfg["epochs"], round(cfg["warmup_epochs"] * steps)
    context = build(args, cfg, len(images), steps)
    normalize = Normalize(IMAGENET_MEAN, IMAGENET_STD).to(device)
    channels_last = device.type == "cuda"
    fixed = [[normalize(v) for v in views] for views in fixed_views(args, images, device)]
    if channels_last:
        fixed = [[v.contiguous(memory_format=torch.channels_last) for v in views] for views in fixed]
    result: dict = {}
    if args.impl == "hand":
        from speed_hand import HandStep

        model = context.branch.to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.train()
        hand = HandStep(args.method, model, cfg, steps, total)
        optimizer, peak = optimizer_for(cfg, model.parameter_groups())
        parts = (hand.loss, hand.after_step, hand.before_optimizer)
        own_views = project_batches(images, context.views, normalize, device, args.batch, channels_last)
        views_only = project_batches(images, context.views, normalize, device, args.batch, channels_last)
        for _ in range(args.warmup):
            next(views_only)
        sync(device)
        started = time.perf_counter()
        for _ in range(args.steps):
            next(views_only)
        sync(device)
        result["views_only"] = args.steps * args.batch / (time.perf_counter() - started)
    else:
        from peers_lightly import Images, Method, collate, transform_for
        from torch.utils.data import DataLoader
        from torchvision.transforms.functional import to_pil_image

        model = Method(args.method, context.encoder, cfg, len(images), args.batch, steps, total).to(device)
        if channels_last:
            model = model.to(memory_format=torch.channels_last)
        model.train()
        optimizer, peak = optimizer_for(cfg, model.parameter_groups())
        parts = (model.step_loss, model.after_step, lambda step: None)

        data = Images([to_pil_image(image) for image in images], transform_for(args.method))
        loader = DataLoader(data, batch_size=args.batch, shuffle=True, drop_last=True, num_workers=0,
                            collate_fn=collate, generator=torch.Generator().manual_seed(0))

        def lightly_batches():
            while True:
                for views in loader:
                    views = [v.to(device, non_blocking=True) for v in views]
                    yield [v.contiguous(memory_format=torch.channels_last) for v in views] if channels_last else views

        own_views = lightly_batches()
    result["fixed"] = loop(*parts, optimizer, peak, total, warmup, cycled(fixed), args, device)
    result["views"] = loop(*parts, optimizer, peak, total, warmup, own_views, args, device)
    return result


def time_ssl(args: argparse.Namespace, images: torch.Tensor, device: torch.device) -> dict:
    from ssl_core import Callback, ViewGenerator, hookimpl, plugins, registry
    from ssl_core.training.trainer import Trainer

    fixed = fixed_views(args, images, device)
    clock: list[float] = []

    class FixedViews(ViewGenerator):
        num_views = len(fixed[0])

        def __init__(self, config: object = None, context: object = None) -> None:
            self.calls = 0

        def __call__(self, x: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
            self.calls += 1
            return fixed[self.calls % FIXED_BATCHES]

    class Timer(Callback):
        order = 10**9

        def __init__(self, config: object = None, context: object = None) -> None:
            pass

        def on_step_end(self, ctx) -> None:
            if ctx.global_step + 1 == args.warmup:
                sync(device)
                clock.append(time.perf_counter())
            elif ctx.global_step + 1 == args.warmup + args.steps:
                sync(device)
                clock.append(time.perf_counter())
                raise WindowClosed

    class Plugin:
        @hookimpl
        def register_view_generators(self, register) -> None:
            register("bench-fixed-views", FixedViews, description="benchmark: precomputed views")

        @hookimpl
        def register_callbacks(self, register) -> None:
            register("bench-timer", Timer, description="benchmark: step timer")

    plugins.load_plugins()
    plugins.pm.register(Plugin(), name="speed-benchmark")
    registry.clear_cache()
    result = {}
    for mode, views in (("fixed", "bench-fixed-views"), ("views", None)):
        clock.clear()
        with tempfile.TemporaryDirectory() as folder:
            cfg = run_config(args, views=views, output_dir=str(Path(folder) / "run"))
            cfg["callback"] = [*cfg["callback"], "bench-timer"]
            try:
                Trainer(cfg).fit()
            except WindowClosed:
                pass
        if len(clock) != 2:
            raise RuntimeError(f"the run ended before {args.warmup + args.steps} steps; give a larger dataset")
        result[mode] = args.steps * args.batch / (clock[1] - clock[0])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("method")
    parser.add_argument("impl", choices=("hand", "lightly", "ssl"))
    parser.add_argument("out", type=Path)
    parser.add_argument("--encoder", default="small-resnet")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=15)
    parser.add_argument("--epochs", type=int, default=30, help="the lr schedule's length (no run trains it)")
    parser.add_argument("--dataset", default=str(DATA.relative_to(ROOT)))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--bf16", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    images = load_images(args)
    timed = time_ssl(args, images, device) if args.impl == "ssl" else time_hand_or_lightly(args, images, device)
    timed = {k: round(v, 1) for k, v in timed.items()}
    timed["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    if device.type == "cuda":
        timed["peak_device_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(timed) + "\n")
    print(json.dumps(timed), flush=True)


if __name__ == "__main__":
    main()
