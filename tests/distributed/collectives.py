"""Run by checks.py under ``torchrun --nproc-per-node 2``, or alone: ``torchrun ... collectives.py OUT``.

Each process computes, on its half of a fixed global batch, SimCLR's loss and gradients
(DDP-wrapped, nt-xent gathering the global batch), SwAV's Sinkhorn codes, MoCo's shuffle-BN
keys and MoCo's queue over a few steps, and saves them to ``OUT/<name>.rank<r>.safetensors``.
The test compares them with one process on the whole batch.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import ssl_tiny as tiny
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from safetensors.torch import save_file
from ssl_core import Batch
from ssl_swav import sinkhorn
from ssl_core.training.model import SSLModel


def simclr(acc: Accelerator, rows: slice) -> dict[str, torch.Tensor]:
    """Loss, per-process gradients (DDP's no_sync) and DDP-averaged gradients of SimCLR."""
    branch = tiny.simclr_branch()
    model = acc.prepare(SSLModel(branch, {}))
    views = [tiny.images(seed=0)[rows], tiny.images(seed=1)[rows]]
    batch = Batch(views=views, image=views[0], index=tiny.INDEX[rows])
    with model.no_sync():
        loss, _ = model(batch)
        loss.backward()
    saved = {f"local_grad.{n}": p.grad.clone() for n, p in branch.named_parameters()}
    branch.zero_grad()
    loss, _ = model(batch)
    loss.backward()
    saved.update({f"grad.{n}": p.grad.clone() for n, p in branch.named_parameters()})
    return {"loss": loss.detach(), **saved}


def sinkhorn_codes(rows: slice) -> dict[str, torch.Tensor]:
    """Sinkhorn codes of this process's rows, with the sums all-reduced."""
    return {"codes": sinkhorn(tiny.sinkhorn_scores()[rows], iterations=3, epsilon=0.05)}


def moco_keys(rows: slice, bn_splits: int) -> dict[str, torch.Tensor]:
    """Shuffle-BN keys of this process's rows and the batches the key encoder ran on."""
    branch = tiny.moco_branch(bn_splits)
    seen: list[torch.Tensor] = []
    branch.key_encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].clone()))
    view = tiny.images(seed=3)[rows]
    with torch.no_grad():  # the key of view 2 (the asymmetric loss keys view 2 only)
        teacher = branch.teacher_features(Batch(views=[view, view], image=view, index=tiny.INDEX[rows]))
        keys = F.normalize(branch.key_head(teacher[1]), dim=1)
    return {"keys": keys, "seen": torch.stack(seen)}


def moco_queue(rank: int) -> dict[str, torch.Tensor]:
    """The queue of MoCo after 4 steps on process-specific batches (the queue starts different)."""
    branch = tiny.moco_branch()
    branch.queue.copy_(torch.randn(branch.queue.shape, generator=torch.Generator().manual_seed(10 + rank)))
    saved = {"initial": branch.queue.clone()}
    ctx = SimpleNamespace()
    branch.on_fit_start(ctx)
    saved["start"] = branch.queue.clone()
    n = tiny.GLOBAL_BATCH // tiny.WORLD
    for step in range(4):
        views = [tiny.images(n, seed=100 * step + 10 * rank + v) for v in range(2)]
        branch(Batch(views=views, image=views[0], index=torch.arange(n) + n * (tiny.WORLD * step + rank)))
        saved[f"pending.{step}"] = branch._pending.clone()
        branch.on_step_end(ctx)
    saved.update(queue=branch.queue.clone(), queue_ptr=branch.queue_ptr.clone(),
                 key_params=torch.cat([p.flatten() for p in branch.key_encoder.parameters()]))
    return saved


def main(out: Path) -> None:
    acc = Accelerator(cpu=True)
    rank, rows = acc.process_index, tiny.local_rows(acc.process_index)
    assert acc.num_processes == tiny.WORLD, f"expected {tiny.WORLD} processes, got {acc.num_processes}"
    results = {"simclr": simclr(acc, rows), "sinkhorn": sinkhorn_codes(rows), "moco_keys_1": moco_keys(rows, 1),
               "moco_keys_2": moco_keys(rows, 2), "moco_queue": moco_queue(rank)}
    for name, tensors in results.items():
        save_file({k: v.detach().contiguous() for k, v in tensors.items()}, str(out / f"{name}.rank{rank}.safetensors"))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
