"""What the trainer shares with components while a run is in progress."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
from torch import nn

if TYPE_CHECKING:
    from accelerate import Accelerator

    from ssl_core.components import Branch
    from ssl_core.config import RunConfig
    from ssl_core.data.sources import DatasetSplits
    from ssl_core.training.trainer import Trainer


@attrs.define
class TrainContext:
    """Passed to every lifecycle method of the selected components.

    Attributes:
        trainer: the running trainer (``trainer.save_checkpoint``, ``trainer.encoder_features``).
        config: the resolved run configuration.
        accelerator: the HF Accelerate accelerator (device, processes, collectives).
        model: the prepared model (possibly wrapped for distributed training).
        branch: the unwrapped branch, which owns the encoder.
        data: the dataset splits.
        output_dir: the run folder.
        epoch: the current epoch, 0-based (equals ``epochs`` after the last one).
        global_step: optimiser steps done so far.
        steps_per_epoch: optimiser steps in one epoch.
        total_steps: optimiser steps in the whole run (schedules need it).
        lr: the learning rate of the current step (main optimiser, scheduled groups).
        metrics: entries for this epoch's line of ``metrics.jsonl``; callbacks may add to it.
    """

    trainer: Trainer
    config: RunConfig
    accelerator: Accelerator
    model: nn.Module
    branch: Branch
    data: DatasetSplits
    output_dir: Path
    steps_per_epoch: int
    total_steps: int
    epoch: int = 0
    global_step: int = 0
    lr: float = 0.0
    metrics: dict[str, Any] = attrs.Factory(dict)
