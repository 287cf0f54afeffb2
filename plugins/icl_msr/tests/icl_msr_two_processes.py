"""Run by test_icl_msr_distributed.py under ``torchrun --standalone --nproc-per-node 2`` (gloo).

Argument: OUT folder. Each process (1) builds the same tiny SimCLR and icl-msr, takes a batch of
its own, saves f_msr's parameters, its local meta-gradients and the parameters after one
``update`` (one stage-2 step); (2) trains one epoch of tiny shapes with icl-msr through the Trainer (DDP) and
saves f_msr's parameters. Files: ``OUT/<name>.rank<r>.safetensors``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import torch
from accelerate import Accelerator
from icl_msr_tiny import batch, context, train_context
from safetensors.torch import save_file
from ssl_core import create
from ssl_core.training.trainer import Trainer

RUN = {"branch": "simclr", "epochs": 1, "batch_size": 32, "device": "cpu", "regularizer": ["icl-msr"],
       "no_callback": ["knn-monitor"],
       "options": {"encoder": {"small-resnet": {"widths": [4, 4, 8, 8]}},
                   "dataset": {"shapes": {"num_train": 128, "num_test": 40, "image_size": 16}},
                   "branch": {"simclr": {"hidden_dim": 16, "out_dim": 8}}}}


def _save(tensors: dict[str, torch.Tensor], out: Path, name: str, rank: int) -> None:
    save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(out / f"{name}.rank{rank}.safetensors"))


def meta_step(out: Path, rank: int) -> None:
    ctx = context("simclr")  # seeded: the same model and f_msr on every process
    reg = create("regularizer", "icl-msr", ctx)
    data = batch(ctx, seed=1 + rank)  # each process its own images
    names = [n for n, _ in reg.semantics.named_parameters()]
    saved = {f"start.{n}": p.clone() for n, p in reg.semantics.named_parameters()}
    saved.update({f"local.{n}": g for n, g in zip(names, reg.meta_step(ctx.branch, data, 0.5).gradients)})
    reg.update(train_context(ctx.branch), data)
    saved.update({f"end.{n}": p for n, p in reg.semantics.named_parameters()})
    _save(saved, out, "meta", rank)


def train(out: Path, rank: int) -> None:
    trainer = Trainer(RUN, output_dir=str(out / "run"))
    trainer.fit()
    reg = trainer.accelerator.unwrap_model(trainer.model).regularizers["icl-msr"]
    _save(dict(reg.semantics.named_parameters()), out, "trained", rank)


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    process = Accelerator(cpu=True).process_index  # starts the gloo process group
    meta_step(folder, process)
    train(folder, process)
