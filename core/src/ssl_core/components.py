"""The interfaces components implement, and the objects passed between them.

The contract that keeps the core small: the loss of a step is a pure function of
(parameters, buffers, batch). Everything with a side effect (a queue enqueue, an EMA
update, prototype normalisation, a pruning-mask refresh) happens in a lifecycle method the
trainer calls after the optimiser step (``on_step_end``) or at epoch boundaries. So a step
can be evaluated with substituted parameters through ``torch.func.functional_call`` on
cloned buffers without touching the real model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
import torch
from torch import nn

if TYPE_CHECKING:
    from ssl_core.training.state import TrainContext


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
    """What a branch's ``forward`` returns.

    Attributes:
        loss: the branch's loss (``L_ct``).
        features: the pooled encoder features of each view, ``(B, feature_dim)`` each.
        embeddings: the projections the loss compared, one per view.
        positive_log_prob: per-anchor positive log-probabilities (contrastive methods).
        logs: extra scalars to log (averaged over the epoch).
    """

    loss: torch.Tensor
    features: list[torch.Tensor]
    embeddings: list[torch.Tensor]
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
        encoder: the run's encoder (set before branches are built).
        loss: the run's loss (set before branches are built).
        views: the run's view generator (set before branches are built).
        branch: the run's branch (set before regularizers and callbacks are built).
    """

    image_size: int = 32
    channels: int = 3
    num_train: int = 0
    num_classes: int | None = None
    encoder: nn.Module | None = None
    loss: Loss | None = None
    views: ViewGenerator | None = None
    branch: Branch | None = None


class Component:
    """Lifecycle methods the trainer calls on every selected component; all no-ops here.

    ``ctx`` is the [`TrainContext`][ssl_core.training.state.TrainContext]: epoch, global step,
    total steps, the accelerator, the model and the metrics of the current epoch.
    """

    def on_fit_start(self, ctx: TrainContext) -> None:
        """Before the first epoch (also after a resume)."""

    def on_epoch_start(self, ctx: TrainContext) -> None:
        """Before the first step of each epoch."""

    def on_step_start(self, ctx: TrainContext, batch: Batch) -> None:
        """Before the forward of each step, on that step's batch."""

    def on_after_backward(self, ctx: TrainContext, batch: Batch) -> None:
        """After the step's backward, before the optimiser step.

        The main optimiser's parameters hold the step's gradient in ``.grad``, averaged over
        processes (under fp16 also multiplied by ``ctx.accelerator.scaler.get_scale()``). A
        component may read it, as a meta step that needs this step's gradient does, but must
        not change it.
        """

    def on_step_end(self, ctx: TrainContext) -> None:
        """After the optimiser step: the commit point for side effects."""

    def on_epoch_end(self, ctx: TrainContext) -> None:
        """After the last step of each epoch; may add entries to ``ctx.metrics``."""

    def on_fit_end(self, ctx: TrainContext) -> None:
        """After the last epoch."""

    def extra_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Optimisers this component owns and steps itself; saved in checkpoints."""
        return {}


class ViewGenerator(Component):
    """Turns a batch of clean images into augmented views (see ``register_view_generators``)."""

    #: number of views produced per image.
    num_views: int = 2

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        """Return the views of ``images`` (float in ``[0, 1]``) drawn from ``generator``."""
        raise NotImplementedError


class Loss(nn.Module, Component):
    """A loss over branch outputs; ``input_kind`` names the outputs it fits."""

    input_kind: str = "pair"

    def forward(self, *outputs: torch.Tensor) -> LossOutput:
        """Compute the loss."""
        raise NotImplementedError


class Branch(nn.Module, Component):
    """A contrast branch: the method. Owns the encoder, its heads and its criterion.

    Subclasses implement ``forward(batch) -> BranchOutput`` and ``loss_from_features`` so a
    regularizer can re-run the heads and criterion on modified pooled features. ``forward``
    gets the online encoder's features through ``encode``, so a wrapper (the SDCLR pruned
    competitor) can route a view through another variant of the encoder.
    """

    #: the loss input kinds this branch produces (checked against ``Loss.input_kind``).
    loss_input_kind: str = "pair"

    def __init__(self, encoder: nn.Module, criterion: Loss) -> None:
        super().__init__()
        if criterion.input_kind != self.loss_input_kind:
            from ssl_core.registry import components

            fitting = [name for name, spec in components("loss").items()
                       if getattr(spec.factory, "input_kind", None) == self.loss_input_kind]
            raise IncompatibleComponentsError(
                f"loss {getattr(criterion, 'ssl_name', type(criterion).__name__)!r} takes "
                f"{criterion.input_kind!r} inputs but branch {type(self).__name__} produces "
                f"{self.loss_input_kind!r} outputs; losses that fit: {', '.join(fitting) or 'none installed'}"
            )
        self.encoder = encoder
        self.criterion = criterion

    def encode(self, views: list[torch.Tensor]) -> list[torch.Tensor]:
        """Pooled online-encoder features of each view; by default one forward over all views."""
        n = views[0].shape[0]
        return list(self.encoder(torch.cat(views)).split(n))

    def loss_from_features(self, features: list[torch.Tensor]) -> BranchOutput:
        """Run the heads and criterion on pooled features (one tensor per view)."""
        raise NotImplementedError

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Parameter groups for the main optimiser; a group may set ``fixed_lr: True``."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]


class Regularizer(nn.Module, Component):
    """A term added to the branch's loss; may own parameters and an optimiser."""

    def forward(self, batch: Batch, output: BranchOutput, branch: Branch) -> torch.Tensor:
        """Return the (already weighted) regularization term."""
        raise NotImplementedError

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Parameters trained by the main optimiser (none by default)."""
        return []


class Callback(Component):
    """A per-epoch callback; ``order`` sorts the selected callbacks (lower runs first)."""

    order: int = 0


class IncompatibleComponentsError(ValueError):
    """Two selected components cannot work together; the message says why."""
