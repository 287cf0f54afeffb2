"""ssl: a plugin-registry framework for contrastive self-supervised learning.

Public API: [`hookimpl`][ssl_core.hookimpl] for plugins, [`create`][ssl_core.create] and
[`available`][ssl_core.available] for components, and [`Trainer`][ssl_core.Trainer].
"""

from ssl_core.components import (
    Batch,
    Branch,
    BranchOutput,
    BuildContext,
    Callback,
    Component,
    Loss,
    LossOutput,
    Regularizer,
    ViewGenerator,
)
from ssl_core.hookspecs import hookimpl
from ssl_core.registry import available, create, describe

__all__ = [
    "Batch",
    "Branch",
    "BranchOutput",
    "BuildContext",
    "Callback",
    "Component",
    "Loss",
    "LossOutput",
    "Regularizer",
    "Trainer",
    "ViewGenerator",
    "available",
    "create",
    "describe",
    "hookimpl",
]


def __getattr__(name: str):
    if name == "Trainer":  # imported lazily: the trainer pulls in accelerate and datasets
        from ssl_core.training.trainer import Trainer

        return Trainer
    raise AttributeError(name)
