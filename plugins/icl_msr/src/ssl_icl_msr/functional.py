"""Running a module's methods with substituted parameters and buffers (``torch.func``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn


class _Call(nn.Module):
    """Holds ``module`` so that ``functional_call`` can substitute its tensors around any call."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, fn: Callable[..., Any], *args: Any) -> Any:
        return fn(*args)


def call_with(module: nn.Module, tensors: dict[str, torch.Tensor], fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` while ``module``'s parameters and buffers named in ``tensors`` are replaced.

    Through ``torch.func.functional_call``: the stored tensors are never written to, and the
    substitution is undone when ``fn`` returns. Names are as in ``module.named_parameters()``
    and ``module.named_buffers()``; tensors not named keep their stored values.
    """
    prefixed = {f"module.{name}": tensor for name, tensor in tensors.items()}
    return torch.func.functional_call(_Call(module), prefixed, (fn, *args), strict=False)


def cloned_buffers(module: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of every buffer of ``module``: a forward that updates running statistics changes the copy."""
    return {name: buffer.clone() for name, buffer in module.named_buffers()}


def trained_parameters(branch: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters of the main optimiser's groups (``branch.parameter_groups()``), by name."""
    wanted = {id(p) for group in branch.parameter_groups() for p in group["params"]}
    named = {name: p for name, p in branch.named_parameters() if id(p) in wanted}
    if len(named) != len(wanted):
        raise ValueError(f"{type(branch).__name__}.parameter_groups() holds parameters that are not its own")
    return named
