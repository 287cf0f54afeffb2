"""Float32 islands under mixed precision: similarities, logits and softmax stay in float32."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import torch

F = TypeVar("F", bound=Callable[..., Any])
_HALF = (torch.float16, torch.bfloat16)


def _device_type(values: Any) -> str | None:
    for value in values:
        if isinstance(value, torch.Tensor):
            return value.device.type
        if isinstance(value, (list, tuple)) and (found := _device_type(value)):
            return found
    return None


def _to_float32(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.float() if value.dtype in _HALF else value
    if isinstance(value, (list, tuple)):
        return type(value)(_to_float32(v) for v in value)
    return value


def full_precision(fn: F) -> F:
    """Run ``fn`` in float32 where autocast is on: autocast off inside, half-precision tensor
    arguments (also inside lists and tuples) cast to float32. Without autocast it is ``fn``.

    Every [`Loss`][ssl_core.Loss]'s ``forward`` runs this way (a subclass gets it without
    asking); a branch wraps other similarity computations with it (SwAV's prototype scores)."""

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        device = _device_type([*args, *kwargs.values()])
        if device is None or not torch.is_autocast_enabled(device):
            return fn(*args, **kwargs)
        with torch.autocast(device, enabled=False):
            return fn(*_to_float32(args), **{k: _to_float32(v) for k, v in kwargs.items()})

    return run  # type: ignore[return-value]
