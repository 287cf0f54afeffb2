"""``--compile``: the model's forward through ``torch.compile``, falling back to eager where it fails."""

from __future__ import annotations

import sys
from typing import Any

import torch
from torch import nn


class CompiledForward:
    """Calls ``torch.compile(model)``; when the first compiled call fails (no compiler, an
    unsupported operation), says why on stderr and goes on with ``model`` itself.

    The compiled module shares ``model``'s parameters and buffers, so checkpoints, the
    optimiser and evaluation see one model either way.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.compiled: Any = torch.compile(model)
        self.proven = False

    @property
    def active(self) -> bool:
        """Whether steps run compiled (``False`` after a fallback)."""
        return self.compiled is not None

    def __call__(self, *args: Any) -> Any:
        if self.compiled is None:
            return self.model(*args)
        if self.proven:
            return self.compiled(*args)
        try:
            out = self.compiled(*args)
        except Exception as exc:  # noqa: BLE001 - any failure of the compiler stack: train eagerly instead
            reason = (str(exc).strip().splitlines() or [""])[0][:300]
            print(f"ssl: --compile failed ({type(exc).__name__}: {reason}); training goes on without it",
                  file=sys.stderr)
            self.compiled = None
            return self.model(*args)
        self.proven = True
        return out
