"""Collectives over the training processes, usable on one process too.

On one process (``torch.distributed`` not initialised) every function here is the identity or
a no-op. Across processes they act on the default group and must be called by every process,
in the same order, with tensors of the same shape (the trainer gives every process the same
per-process batch).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist


def world_size() -> int:
    """Number of processes in the default group (1 when not distributed)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank (0 when not distributed)."""
    return dist.get_rank() if world_size() > 1 else 0


class _GatherWithGrad(torch.autograd.Function):
    """all_gather in the forward; in the backward, sum the incoming gradients over processes
    and return this process's slice, so each sample gets d(sum of all losses)/d(sample)."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        ctx.batch = tensor.shape[0]
        parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, tensor.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone(memory_format=torch.contiguous_format)  # never reduce autograd's buffer in place
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = dist.get_rank() * ctx.batch
        return grad[start : start + ctx.batch]


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from every process along dim 0 (rank order), keeping gradients.

    Each process's loss then depends on every process's rows. The backward sums over
    processes the gradients that arrive at this process's rows, so a process's parameters
    get d(sum of the processes' losses)/d(parameters) through its own samples.
    """
    if world_size() == 1:
        return tensor
    return _GatherWithGrad.apply(tensor)


@torch.no_grad()
def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from every process along dim 0 (rank order), without gradients."""
    if world_size() == 1:
        return tensor.detach()
    parts = [torch.empty_like(tensor) for _ in range(world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts)


@torch.no_grad()
def broadcast_(tensor: torch.Tensor, src: int = 0) -> torch.Tensor:
    """Overwrite ``tensor`` in place with process ``src``'s copy; returns it."""
    if world_size() > 1:
        dist.broadcast(tensor, src=src)
    return tensor


@torch.no_grad()
def average_gradients(parameters: Iterable[torch.Tensor]) -> None:
    """Average each parameter's ``.grad`` over processes, in place (``None`` grads count as zero).

    For parameters a component trains with its own optimiser: DDP does not reduce gradients
    computed outside the model's forward and backward, so call this before that optimiser's
    step to keep the parameters identical on every process.
    """
    world = world_size()
    if world == 1:
        return
    for parameter in parameters:
        if parameter.grad is None:
            parameter.grad = torch.zeros_like(parameter)
        dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
        parameter.grad.div_(world)
