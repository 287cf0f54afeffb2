"""Run by test_barlow_twins_distributed.py under ``torchrun --standalone --nproc-per-node 2`` (gloo).

Argument: OUT folder. Both processes draw the same global batch (z1, z2: 8 x 4); each takes
its half, computes the barlow-twins loss and its gradient with respect to its half and saves
them to ``OUT/rank<r>.pt``.
"""

from __future__ import annotations

import sys

import torch
import torch.distributed as dist
from safetensors.torch import save_file
from ssl_core import create


def main(out: str) -> None:
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    generator = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(8, 4, generator=generator), torch.randn(8, 4, generator=generator)
    local = [z[rank * 4:(rank + 1) * 4].clone().requires_grad_() for z in (z1, z2)]
    loss = create("loss", "barlow-twins")(*local).loss
    loss.backward()
    found = {"loss": loss.detach(), "grad1": local[0].grad, "grad2": local[1].grad}
    save_file({name: value.contiguous() for name, value in found.items()}, f"{out}/rank{rank}.safetensors")
    dist.barrier()  # both ranks are done before the group is torn down (gloo can abort otherwise)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
