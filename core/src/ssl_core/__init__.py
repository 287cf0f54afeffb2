"""ssl: a plugin-registry framework for contrastive self-supervised learning.

This namespace is the contract: everything a plugin may use is exported here (``__all__``),
plus the toolkit sub-package [`ssl_core.nn`][ssl_core.nn] (heads, momentum targets,
collectives). Every other module is internal and may change without notice.
"""

from ssl_core.components import (
    Branch,
    Callback,
    Component,
    Loss,
    Regularizer,
    ViewGenerator,
    ViewRoute,
    WrapperBranch,
    walk,
)
from ssl_core.config import dataset_source
from ssl_core.context import Batch, BranchOutput, BuildContext, LossOutput, TrainContext
from ssl_core.data.sources import NO_LABEL, DatasetSplits, ImageDataset, TensorImageDataset
from ssl_core.errors import (
    ComponentOptionError,
    ConfigError,
    DatasetError,
    DuplicateComponentError,
    EvalError,
    HubError,
    IncompatibleComponentsError,
    NonFiniteError,
    RunFolderError,
    UnknownComponentError,
)
from ssl_core.hookspecs import Register, hookimpl
from ssl_core.options import in_range, non_negative, one_of, option, pair, positive, probability
from ssl_core.registry import ComponentSpec, available, create, describe, spec

__version__ = "0.2.0"

__all__ = [
    "NO_LABEL",
    "Batch",
    "Branch",
    "BranchOutput",
    "BuildContext",
    "Callback",
    "Component",
    "ComponentOptionError",
    "ComponentSpec",
    "ConfigError",
    "DatasetError",
    "DatasetSplits",
    "DuplicateComponentError",
    "EvalError",
    "EvalProtocol",
    "EvalRun",
    "HubError",
    "ImageDataset",
    "IncompatibleComponentsError",
    "Loss",
    "LossOutput",
    "NonFiniteError",
    "Register",
    "Regularizer",
    "RunFolderError",
    "TensorImageDataset",
    "TrainContext",
    "Trainer",
    "UnknownComponentError",
    "ViewGenerator",
    "ViewRoute",
    "WrapperBranch",
    "available",
    "create",
    "dataset_source",
    "describe",
    "hookimpl",
    "in_range",
    "load_encoder",
    "load_run",
    "non_negative",
    "one_of",
    "option",
    "pair",
    "positive",
    "probability",
    "spec",
    "walk",
]


def __getattr__(name: str):
    if name == "Trainer":  # imported lazily: the trainer pulls in accelerate and datasets
        from ssl_core.training.trainer import Trainer

        return Trainer
    if name == "load_encoder":  # imported lazily: it pulls in torchvision and huggingface_hub
        from ssl_core.sharing import load_encoder

        return load_encoder
    if name in ("EvalProtocol", "EvalRun", "load_run"):  # imported lazily, as the trainer
        from ssl_core.evaluation import protocols

        return getattr(protocols, name)
    raise AttributeError(f"module 'ssl_core' has no attribute {name!r}")
