"""Train one classic method with lightly 1.6's modules into a run-folder-like result.

    benchmarks/cache/peers-venv/bin/python benchmarks/peers_lightly.py METHOD FOLDER [--epochs N] [--num-train N]
        [--dataset cifar10|shapes]

METHOD: simclr, moco-v2, byol, simsiam, swav. Run by ``benchmarks/peers.py`` in the separate
peers venv (lightly is a benchmark-only dependency; see benchmarks/README.md). FOLDER gets
what ``benchmarks/worker.py evaluate trained FOLDER cifar10`` and the harness read:
``encoder.safetensors`` (the project's small-resnet state_dict, the same keys as ours),
``config.yaml`` (our resolved run configuration of the same branch and protocol: the
encoder name/options and normalisation the worker rebuilds from, and every run field the
recipe below takes its numbers from), ``metrics.jsonl`` (per epoch: loss, lr, images_per_s),
``summary.json`` (wall_time_s) and ``lightly-recipe.json`` (what this side ran). A checkpoint
after every epoch (``checkpoints/last.pt``) lets a killed run continue where it stopped.

What is the same on both sides: the data (the protocol's parquet subset or `shapes`, read as the trainer reads it), the
encoder (``ssl_core.create("encoder", "small-resnet", ...)``, built after seeding, as the
trainer does), batch 256 with ``drop_last`` and a per-epoch seeded shuffle, the optimizer
(``ssl_core.training.optim.build_optimizer`` with the run's optimizer, lr x batch/256,
momentum, weight decay, lars_eta, lars_clip), the lr schedule
(``ssl_core.training.schedule.warmup_cosine`` per step, warmup_epochs and final_lr_ratio
from the run config), the parameter groups (online parameters; SimSiam's predictor at the
fixed peak lr), every size and hyper-parameter (head widths, temperature, momentum,
queue length, prototype count, Sinkhorn settings), num_workers 0 and the CPU.

Lightly's: the heads (``lightly.models.modules``), the losses (``lightly.loss``), the
momentum update / ``deactivate_requires_grad`` / ``batch_shuffle`` (``lightly.models.utils``),
the momentum schedule (``lightly.utils.scheduler.cosine_schedule``), MoCo's split batch-norm
(``lightly.models.batchnorm.SplitBatchNorm``) and the transforms (``lightly.transforms``).

Where the lightly side must differ from ours, and why:

1. Augmentation runs per image on PIL images in the DataLoader (torchvision v1 transforms,
   global RNG), ours on the batch tensor with a per-step generator: lightly's transforms are
   PIL pipelines. So the random draws differ (same distributions), PIL's bilinear resize
   antialiases differently, torchvision's ColorJitter applies its four ops in random order,
   and images/s includes lightly's per-image augmentation cost.
2. Transform settings are set to our registered view defaults at 32 px (the CIFAR recipes):
   ``gaussian_blur=0`` everywhere, ``cj_strength=0.5`` where lightly's defaults are
   0.8/0.8/0.8/0.2 (giving our 0.4/0.4/0.4/0.1; lightly's own CIFAR-10 benchmark uses 0.5),
   SimCLR ``min_scale=0.2`` (lightly's default 0.08 is the ImageNet one; ours uses 0.2 at
   <= 64 px), SwaV crops (32, 18) px, scales (0.2, 1) and (0.08, 0.5) (lightly's defaults
   are for 224 px). BYOL and MoCo v2 / SimSiam keep lightly's colour numbers (they equal
   ours).
3. BYOL loss: lightly's ``NegativeCosineSimilarity`` is ``-cos``; ours is
   ``normalized-mse`` (``2 - 2 cos``) summed over the two directions. The lightly side uses
   ``2 * (ncs(p1, z2) + ncs(p2, z1))``, our loss minus the constant 4, so the gradients (and
   so the lr, tuned for our scale) are the same; lightly's example averages (x 0.5), which
   would be a 4x smaller gradient on the non-LARS parameters. The logged loss is lightly's
   (our loss - 4).
4. MoCo v2: the momentum stays at our constant 0.999 (lightly's examples ramp it with
   cosine_schedule per epoch from 0.996; ours is MoCo v2's constant). The memory bank is
   ``NTXentLoss(memory_bank_size=(K, 128))`` with our K (the queue capped to half the
   training set in whole batches: 2,304 for 5,000 images); lightly's bank starts as random
   unit vectors, which it returns as negatives until it is filled (ours starts random too).
   Shuffle-BN: ours splits the key encoder's batch into ``bn_splits`` 8 sub-batches; lightly
   does this with ``SplitBatchNorm(num_splits=8)`` (its batch-norm module for single-GPU
   MoCo) swapped into the key encoder's copy, plus ``batch_shuffle``/``batch_unshuffle``.
5. SwaV: lightly's ``SwaVPrototypes`` is an ``nn.Linear`` with a bias (ours has none); the
   bias is a 1-D parameter, so under our LARS it gets no trust ratio and no weight decay.
   Prototypes are frozen for the first epoch's steps (``n_steps_frozen_prototypes``, our
   ``freeze_prototypes_epochs`` 1) and renormalised before every step (lightly's example;
   ours renormalises after every step: the same sequence of weights). Each crop runs its own
   forward through encoder and projection head (lightly's example); ours concatenates the
   crops' features for the projector. Prototype count: our cap ``num_train // 10`` (500).
6. ``--views ours`` (a diagnostic, not the peer row): the views come from our registered view
   generator of the method, applied to the batch as the trainer does (uint8 / 255, a
   per-step seeded generator, then ImageNet mean/std), instead of lightly's PIL transforms;
   everything else stays lightly's. It tells the views' share of a gap from the model's.
7. No per-epoch k-NN monitor and no ``train.log`` progress bar: ``train wall s`` of a lightly
   row is training plus checkpoints only (ours includes the monitor); compare images/s.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "cache" / "cifar10-500"
METHODS = ("simclr", "moco-v2", "byol", "simsiam", "swav")


class Images(Dataset):
    """PIL images (decoded once) through a lightly transform; returns the list of views."""

    def __init__(self, images: list, transform) -> None:
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        views = self.transform(self.images[i])
        return views if isinstance(views, (list, tuple)) else [views]


def load_images(num_train: int | None, cfg: dict) -> list:
    """The run's training images (``cfg``'s dataset, read as the trainer reads it) as PIL images;
    a seeded subset of ``num_train`` for smoke runs."""
    from ssl_core import BuildContext, registry
    from ssl_core.config import resolve
    from torchvision.transforms.functional import to_pil_image

    config = resolve(cfg)
    name = config.selected("dataset")[0]
    train = registry.build("dataset", name, config.component_options("dataset", name), BuildContext()).train
    index = range(len(train))
    if num_train:
        index = sorted(np.random.default_rng(0).choice(len(train), num_train, replace=False).tolist())
    return [to_pil_image(train[i][0]) for i in index]


def resolved_config(method: str, folder: Path, epochs: int, dataset: str = "cifar10", seed: int = 0) -> dict:
    """Our resolved run configuration of ``method`` under the protocol (what ``ssl run`` would write),
    on the CIFAR-10 subset or the built-in ``shapes`` at its defaults, with the training ``seed``."""
    from ssl_core.config import resolve, to_plain

    path = str(DATA.relative_to(ROOT)) if dataset == "cifar10" else dataset
    return to_plain(resolve({"branch": method, "dataset": path, "encoder": "small-resnet",
                             "batch_size": 256, "epochs": epochs, "seed": seed, "device": "cpu",
                             "output_dir": str(folder)}))


def transform_for(method: str):
    """Lightly's transform of ``method`` at CIFAR size (see the module doc, point 2)."""
    from lightly import transforms as T

    if method == "simclr":
        return T.SimCLRTransform(input_size=32, cj_strength=0.5, min_scale=0.2, gaussian_blur=0.0)
    if method == "moco-v2":
        return T.MoCoV2Transform(input_size=32, gaussian_blur=0.0)
    if method == "simsiam":
        return T.SimSiamTransform(input_size=32, gaussian_blur=0.0)
    if method == "byol":
        return T.BYOLTransform(view_1_transform=T.BYOLView1Transform(input_size=32, gaussian_blur=0.0),
                               view_2_transform=T.BYOLView2Transform(input_size=32, gaussian_blur=0.0))
    if method == "swav":
        return T.SwaVTransform(crop_sizes=(32, 18), crop_counts=(2, 6), crop_min_scales=(0.2, 0.08),
                               crop_max_scales=(1.0, 0.5), cj_strength=0.5, gaussian_blur=0.0)
    raise ValueError(method)


class OurViews:
    """Our registered view generator of the run (``cfg``) on a batch, as the trainer applies it."""

    def __init__(self, cfg: dict, seed: int) -> None:
        import ssl_core
        from ssl_core.training.model import IMAGENET_MEAN, IMAGENET_STD

        name = cfg["views"]
        self.views = ssl_core.create("views", name, ssl_core.BuildContext(image_size=32, channels=3),
                                     **cfg["options"]["views"][name])
        self.mean = torch.tensor(IMAGENET_MEAN).view(1, -1, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(1, -1, 1, 1)
        self.seed = seed

    def __call__(self, images: torch.Tensor, step: int) -> list[torch.Tensor]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        return [(v - self.mean) / self.std for v in self.views(images.float().div_(255), generator)]


def split_bn_copy(encoder: nn.Module, splits: int) -> nn.Module:
    """A frozen copy of ``encoder`` with every BatchNorm2d replaced by lightly's SplitBatchNorm."""
    from lightly.models.batchnorm import SplitBatchNorm
    from lightly.models.utils import deactivate_requires_grad

    key = copy.deepcopy(encoder)
    for name, module in list(key.named_modules()):
        for child_name, child in list(module.named_children()):
            if type(child) is nn.BatchNorm2d:
                split = SplitBatchNorm(child.num_features, splits, eps=child.eps, momentum=child.momentum)
                split.weight.data.copy_(child.weight.data)
                split.bias.data.copy_(child.bias.data)
                setattr(module, child_name, split)
    deactivate_requires_grad(key)
    return key


class Method(nn.Module):
    """One method built from lightly's modules around our encoder; ``step`` returns the loss."""

    def __init__(self, method: str, encoder: nn.Module, cfg: dict, num_train: int, batch: int,
                 steps_per_epoch: int, total_steps: int) -> None:
        from lightly import loss as L
        from lightly.models import modules as M
        from lightly.models.utils import deactivate_requires_grad

        super().__init__()
        self.method, self.encoder, self.total_steps = method, encoder, total_steps
        opts = cfg["options"]["branch"][method]
        loss_opts = cfg["options"]["loss"].get(cfg["loss"], {})
        dim = encoder.feature_dim
        self.recipe: dict = {"branch_options": opts, "loss_options": loss_opts}
        if method == "simclr":
            if opts["head_layers"] != 2 or opts["last_bn"]:
                raise ValueError("simclr: only the default 2-layer head without last BN is mapped")
            self.head = M.SimCLRProjectionHead(dim, opts["hidden_dim"] or dim, opts["out_dim"], num_layers=2)
            self.criterion = L.NTXentLoss(temperature=loss_opts["temperature"])
        elif method == "moco-v2":
            self.head = M.MoCoProjectionHead(dim, opts["hidden_dim"], opts["out_dim"])
            keys = batch  # asymmetric: one key per image per step
            size = max(keys, min(opts["queue_size"], (num_train // 2) // keys * keys))
            self.criterion = L.NTXentLoss(temperature=loss_opts["temperature"],
                                          memory_bank_size=(size, opts["out_dim"]))
            self.splits = max(d for d in range(1, min(opts["bn_splits"], batch // 2) + 1) if batch % d == 0)
            self.key_encoder = split_bn_copy(encoder, self.splits)
            self.key_head = copy.deepcopy(self.head)
            deactivate_requires_grad(self.key_head)
            self.recipe.update(memory_bank_size=size, bn_splits=self.splits)
        elif method == "byol":
            self.projector = M.BYOLProjectionHead(dim, opts["hidden_dim"], opts["out_dim"])
            self.predictor = M.BYOLPredictionHead(opts["out_dim"], opts["pred_hidden_dim"], opts["out_dim"])
            self.target_encoder, self.target_projector = copy.deepcopy(encoder), copy.deepcopy(self.projector)
            deactivate_requires_grad(self.target_encoder)
            deactivate_requires_grad(self.target_projector)
            self.criterion = L.NegativeCosineSimilarity()
        elif method == "simsiam":
            if opts["projector_layers"] != 3:
                raise ValueError("simsiam: lightly's projection head has 3 layers")
            self.projector = M.SimSiamProjectionHead(dim, opts["hidden_dim"], opts["out_dim"])
            self.predictor = M.SimSiamPredictionHead(opts["out_dim"], opts["pred_hidden_dim"], opts["out_dim"])
            self.criterion = L.NegativeCosineSimilarity()
        elif method == "swav":
            if opts["queue_length"]:
                raise ValueError("swav: the queue is not mapped (our default is 0)")
            count = opts["num_prototypes"]
            if opts["samples_per_prototype"]:
                count = min(count, max(num_train // opts["samples_per_prototype"], 10))
            self.projector = M.SwaVProjectionHead(dim, opts["hidden_dim"], opts["out_dim"])
            self.prototypes = M.SwaVPrototypes(opts["out_dim"], count,
                                               n_steps_frozen_prototypes=opts["freeze_prototypes_epochs"]
                                               * steps_per_epoch)
            self.criterion = L.SwaVLoss(temperature=loss_opts["temperature"],
                                        sinkhorn_iterations=loss_opts["sinkhorn_iterations"],
                                        sinkhorn_epsilon=loss_opts["epsilon"])
            self.num_global = loss_opts.get("num_global", 2)
            self.recipe.update(num_prototypes=count)
        else:
            raise ValueError(method)

    def parameter_groups(self) -> list[dict]:
        """Trainable parameters; SimSiam's predictor at the fixed peak lr (ours: fixed_predictor_lr)."""
        if self.method == "simsiam" and self.recipe["branch_options"]["fixed_predictor_lr"]:
            predictor = {id(p) for p in self.predictor.parameters()}
            rest = [p for p in self.parameters() if p.requires_grad and id(p) not in predictor]
            return [{"params": rest}, {"params": list(self.predictor.parameters()), "fixed_lr": True}]
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]

    def step_loss(self, views: list[torch.Tensor], step: int) -> torch.Tensor:
        from lightly.models.utils import batch_shuffle, batch_unshuffle

        m = self.method
        if m == "simclr":
            z0, z1 = (self.head(self.encoder(v)) for v in views[:2])
            return self.criterion(z0, z1)
        if m == "moco-v2":
            query = self.head(self.encoder(views[0]))
            with torch.no_grad():
                shuffled, order = batch_shuffle(views[1])
                key = batch_unshuffle(self.key_head(self.key_encoder(shuffled)), order)
            return self.criterion(query, key)
        if m == "byol":
            z = [self.projector(self.encoder(v)) for v in views[:2]]
            p0, p1 = (self.predictor(x) for x in z)
            with torch.no_grad():
                t0, t1 = (self.target_projector(self.target_encoder(v)) for v in views[:2])
            return 2 * (self.criterion(p0, t1) + self.criterion(p1, t0))  # module doc, point 3
        if m == "simsiam":
            z0, z1 = (self.projector(self.encoder(v)) for v in views[:2])
            p0, p1 = self.predictor(z0), self.predictor(z1)
            return 0.5 * (self.criterion(p0, z1.detach()) + self.criterion(p1, z0.detach()))
        if m == "swav":
            self.prototypes.normalize()
            scores = [self.prototypes(F.normalize(self.projector(self.encoder(v)), dim=1), step) for v in views]
            return self.criterion(scores[:self.num_global], scores[self.num_global:])
        raise ValueError(m)

    @torch.no_grad()
    def after_step(self, step: int) -> float | None:
        """Momentum updates after the optimiser step ``step`` (0-based); returns the momentum used."""
        from lightly.models.utils import update_momentum
        from lightly.utils.scheduler import cosine_schedule

        opts = self.recipe["branch_options"]
        if self.method == "moco-v2":
            update_momentum(self.encoder, self.key_encoder, opts["momentum"])
            update_momentum(self.head, self.key_head, opts["momentum"])
            return opts["momentum"]
        if self.method == "byol":
            tau = float(cosine_schedule(step, self.total_steps, opts["base_tau"], opts["final_tau"]))
            update_momentum(self.encoder, self.target_encoder, tau)
            update_momentum(self.projector, self.target_projector, tau)
            return tau
        return None


def collate(items: list) -> list[torch.Tensor]:
    """A batch of per-image view lists to one tensor per view."""
    return [torch.stack([item[v] for item in items]) for v in range(len(items[0]))]


def train(method: str, folder: Path, epochs: int, num_train: int | None, dataset: str = "cifar10",
          seed: int = 0, views: str = "lightly") -> None:
    import ssl_core
    import yaml
    from accelerate.utils import set_seed
    from safetensors.torch import save_file
    from ssl_core.training.optim import build_optimizer
    from ssl_core.training.schedule import warmup_cosine

    folder.mkdir(parents=True, exist_ok=True)
    cfg = resolved_config(method, folder, epochs, dataset, seed)
    batch = cfg["batch_size"]
    set_seed(cfg["seed"])  # as the trainer: seeded, then the encoder is the first draw
    encoder = ssl_core.create("encoder", cfg["encoder"], ssl_core.BuildContext(image_size=32, channels=3),
                              **cfg["options"]["encoder"][cfg["encoder"]])
    images = load_images(num_train, cfg)
    n = len(images)
    steps = n // batch
    total = steps * epochs
    model = Method(method, encoder, cfg, n, batch, steps, total)
    peak = cfg["lr"] * batch / 256
    optimizer = build_optimizer(cfg["optimizer"], model.parameter_groups(), peak, cfg["momentum"],
                                cfg["weight_decay"], lars_eta=cfg["lars_eta"], lars_clip=cfg["lars_clip"])
    warmup = round(cfg["warmup_epochs"] * steps)
    final = peak * cfg["final_lr_ratio"]
    ours = None
    if views == "ours":
        from torchvision.transforms.functional import pil_to_tensor

        ours = OurViews(cfg, cfg["seed"])
        data = Images(images, pil_to_tensor)
    else:
        data = Images(images, transform_for(method))

    (folder / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    import lightly

    recipe = {"lightly": lightly.__version__, "method": method, "num_train": n, "steps_per_epoch": steps,
              "optimizer": cfg["optimizer"], "peak_lr": peak, "weight_decay": cfg["weight_decay"],
              "momentum": cfg["momentum"], "lars_eta": cfg["lars_eta"], "lars_clip": cfg["lars_clip"],
              "warmup_steps": warmup, "final_lr": final, "transform": repr(data.transform), "views": views, **model.recipe}
    (folder / "lightly-recipe.json").write_text(json.dumps(recipe, indent=1, default=str))

    checkpoint = folder / "checkpoints" / "last.pt"
    history: list[dict] = []
    wall_before, start_epoch = 0.0, 0
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=False)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate(state["python_rng"])
        history, wall_before, start_epoch = state["history"], state["wall_time_s"], state["epoch"]
        print(f"resuming after epoch {start_epoch}", flush=True)
    clock = time.perf_counter()
    model.train()
    for epoch in range(start_epoch, epochs):
        order = torch.Generator().manual_seed(cfg["seed"] * 1000 + epoch)
        loader = DataLoader(data, batch_size=batch, shuffle=True, drop_last=True, generator=order,
                            num_workers=0, collate_fn=collate)
        started, losses, lr, tau = time.perf_counter(), [], peak, None
        for i, batch_views in enumerate(loader):
            step = epoch * steps + i
            lr = warmup_cosine(step, total, warmup, peak, final)
            for group in optimizer.param_groups:
                if not group.get("fixed_lr"):
                    group["lr"] = lr
            loss = model.step_loss(ours(batch_views[0], step) if ours else batch_views, step)
            if not math.isfinite(loss.item()):
                sys.exit(f"non-finite loss at step {step}")
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            tau = model.after_step(step)
            losses.append(loss.item())
        seconds = time.perf_counter() - started
        row = {"epoch": epoch + 1, "loss": round(sum(losses) / len(losses), 6), "lr": lr,
               "images_per_s": round(steps * batch / seconds, 1), "epoch_time_s": round(seconds, 2)}
        if tau is not None:
            row["momentum"] = tau
        history.append(row)
        print(json.dumps(row), flush=True)
        wall = round(wall_before + time.perf_counter() - clock, 2)
        checkpoint.parent.mkdir(exist_ok=True)
        tmp = checkpoint.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch + 1,
                    "history": history, "wall_time_s": wall, "torch_rng": torch.get_rng_state(),
                    "python_rng": random.getstate()}, tmp)
        tmp.replace(checkpoint)
        (folder / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    save_file({k: v.contiguous() for k, v in model.encoder.state_dict().items()}, str(folder / "encoder.safetensors"))
    wall = round(wall_before + time.perf_counter() - clock, 2)
    (folder / "summary.json").write_text(json.dumps({"wall_time_s": wall, "epochs": epochs, "num_train": n,
                                                     "implementation": f"lightly {lightly.__version__}"}, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("method", choices=METHODS)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--num-train", type=int, default=None, help="seeded subset of the training images (smoke)")
    parser.add_argument("--dataset", choices=("cifar10", "shapes"), default="cifar10")
    parser.add_argument("--seed", type=int, default=0, help="training seed (the encoder's init, the shuffles, the views)")
    parser.add_argument("--views", choices=("lightly", "ours"), default="lightly",
                        help="lightly's transforms (the peer row) or our view generator (a diagnostic; module doc, point 6)")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    train(args.method, args.folder if args.folder.is_absolute() else ROOT / args.folder, args.epochs, args.num_train,
          args.dataset, args.seed, args.views)
