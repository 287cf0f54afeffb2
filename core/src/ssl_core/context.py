"""The data passed between the trainer and the components: batches, outputs and contexts.

Plain attrs records: nothing here holds the trainer or the run configuration, so a component
sees only what the contract gives it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import torch
from torch import nn


@attrs.define
class Batch:
    """One training batch on the training device.

    Attributes:
        views: the augmented, normalised views, each ``(B, C, h, w)``.
        image: the un-augmented image, resized to the first view's size and normalised.
        index: the sample indices in the training set, ``(B,)``.
        label: the labels ``(B,)`` when every sample of the batch has one, else ``None``
            (labels are for evaluation and diagnostics, never needed for training).
    """

    views: list[torch.Tensor]
    image: torch.Tensor
    index: torch.Tensor
    label: torch.Tensor | None = None


@attrs.define
class LossOutput:
    """What a loss returns.

    Attributes:
        loss: the scalar loss.
        positive_log_prob: for contrastive losses, the log-probability each anchor gives its
            positive, ``(num_anchors,)``; ``None`` for non-contrastive losses.
    """

    loss: torch.Tensor
    positive_log_prob: torch.Tensor | None = None


@attrs.define
class BranchOutput:
    """What a branch's ``loss_from_features`` (and so its ``forward``) returns.

    Attributes:
        loss: the branch's loss (``L_ct``).
        features: the pooled online features of each view, ``(B, feature_dim)`` each; ``None``
            for a view outside the branch's ``online_views`` (asymmetric MoCo's key view).
        embeddings: the online projections (or predictions) the loss compared, one per view
            (``None`` where ``features`` is).
        teacher: the teacher's pooled features the loss used (``Branch.teacher_features``),
            ``None`` for a branch without a teacher.
        targets: the teacher's embeddings the loss compared against (MoCo's keys, BYOL's
            target projections), one per view (``None`` where a view has none).
        positive_log_prob: per-anchor positive log-probabilities (contrastive methods).
        logs: extra scalars to log (averaged over the epoch).
    """

    loss: torch.Tensor
    features: list[torch.Tensor | None]
    embeddings: list[torch.Tensor | None]
    teacher: list[torch.Tensor | None] | None = None
    targets: list[torch.Tensor | None] | None = None
    positive_log_prob: torch.Tensor | None = None
    logs: dict[str, torch.Tensor] = attrs.Factory(dict)


@attrs.define
class BuildContext:
    """What a factory may need besides its own options.

    Attributes:
        image_size: side of the training images (views may be smaller).
        channels: image channels.
        num_train: number of training samples (0 when unknown).
        num_classes: number of classes, or ``None`` for unlabelled data.
        batch_size: the global batch size (all processes together).
        steps_per_epoch: optimiser steps in one epoch (0 outside a run).
        epochs: the run's epochs (0 outside a run).
        encoder: the run's encoder (set before branches are built).
        loss: the run's loss (set before branches are built).
        views: the run's view generator (set before branches are built).
        branch: the run's branch (set before regularizers and callbacks are built).
    """

    image_size: int = 32
    channels: int = 3
    num_train: int = 0
    num_classes: int | None = None
    batch_size: int = 256
    steps_per_epoch: int = 0
    epochs: int = 0
    encoder: nn.Module | None = None
    loss: Any = None
    views: Any = None
    branch: Any = None


@attrs.define
class TrainContext:
    """Passed to every lifecycle method of the selected components: the state of the run.

    Attributes:
        accelerator: the HF Accelerate accelerator (device, processes, collectives, scaler).
        model: the prepared model (possibly wrapped for distributed training).
        branch: the unwrapped branch, which owns the encoder.
        data: the dataset splits.
        batch_size: the global batch size.
        epochs: the epochs of the whole run.
        steps_per_epoch: optimiser steps in one epoch.
        total_steps: optimiser steps in the whole run (schedules need it).
        epoch: the current epoch, 0-based (equals ``epochs`` after the last one).
        global_step: optimiser steps done so far.
        lr: the learning rate of the current step (main optimiser, scheduled groups).
        metrics: entries for this epoch's line of ``metrics.jsonl``; callbacks may add to it.
        summary: the run's ``summary.json`` (final and one-off results); callbacks may add to it.
        features: ``features(dataset) -> (features, labels)``: the encoder's pooled features of
            an un-augmented dataset, in eval mode, on the main process.
    """

    accelerator: Any
    model: nn.Module
    branch: nn.Module
    data: Any
    batch_size: int
    epochs: int
    steps_per_epoch: int
    total_steps: int
    features: Callable[[Any], tuple[torch.Tensor, torch.Tensor]]
    epoch: int = 0
    global_step: int = 0
    lr: float = 0.0
    metrics: dict[str, Any] = attrs.Factory(dict)
    summary: dict[str, Any] = attrs.Factory(dict)
