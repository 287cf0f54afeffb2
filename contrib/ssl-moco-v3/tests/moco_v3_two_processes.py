"""Run by test_moco_v3_distributed.py under ``torchrun --standalone --nproc-per-node 2`` (gloo).

Argument: OUT folder. Both processes draw the same global batch of queries and keys (8 x 3);
each takes its half, computes the moco-v3 loss (keys gathered over both processes) and the
gradient with respect to its queries, and saves them to ``OUT/rank<r>.pt``.
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
    q, k = torch.randn(8, 3, generator=generator), torch.randn(8, 3, generator=generator)
    local_q = q[rank * 4:(rank + 1) * 4].clone().requires_grad_()
    result = create("loss", "moco-v3")(local_q, k[rank * 4:(rank + 1) * 4])
    result.loss.backward()
    found = {"loss": result.loss.detach(), "positive_log_prob": result.positive_log_prob.detach(),
             "grad": local_q.grad}
    save_file({name: value.contiguous() for name, value in found.items()}, f"{out}/rank{rank}.safetensors")
    dist.barrier()  # both ranks are done before the group is torn down (gloo can abort otherwise)
    dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1])
