"""The interfaces components implement (see docs/interface.md, the contract).

The loss of a step is a pure function of (parameters, buffers, batch): a branch's
``forward`` is ``loss_from_features(encode(views), teacher_features(batch))`` with no state
carried between the parts. Everything with a side effect (a queue enqueue, an EMA update,
prototype normalisation, a pruning-mask refresh) happens in a lifecycle method the trainer
calls after the optimiser step (``on_step_end``) or at epoch boundaries. So a step can be
evaluated with substituted parameters through ``torch.func.functional_call`` on cloned
buffers without touching the real model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import nn

from ssl_core.context import Batch, BranchOutput, LossOutput, TrainContext
from ssl_core.errors import IncompatibleComponentsError, LossMismatchError
from ssl_core.nn.precision import full_precision

#: ``route(name, module, x)``: what a routed view computes in place of ``module(x)``.
ViewRoute = Callable[[str, nn.Module, torch.Tensor], torch.Tensor]


class Component:
    """Lifecycle methods the trainer calls on every selected component; all no-ops here.

    ``ctx`` is the [`TrainContext`][ssl_core.context.TrainContext]. The trainer calls each
    method on every component of the run and on their ``subcomponents()`` (a wrapper
    branch's base), so a component never forwards the lifecycle by hand.
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

    def subcomponents(self) -> list[Component]:
        """Components this one runs (a wrapper's base); the trainer calls their lifecycle too."""
        return []


def walk(component: Component) -> Iterator[Component]:
    """``component``, then its subcomponents depth first: every object the lifecycle reaches."""
    yield component
    for sub in getattr(component, "subcomponents", list)():  # duck-typed components have none
        yield from walk(sub)


class ViewGenerator(Component):
    """Turns a batch of clean images into augmented views (see ``register_view_generators``)."""

    #: number of views produced per image.
    num_views: int = 2

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> list[torch.Tensor]:
        """Return the views of ``images`` (float in ``[0, 1]``) drawn from ``generator``."""
        raise NotImplementedError


class Loss(nn.Module, Component):
    """A loss over branch outputs; ``input_kind`` names the outputs it fits.

    ``forward`` runs in float32 under mixed precision (autocast off, half-precision inputs
    cast; see [`full_precision`][ssl_core.nn.full_precision]): a subclass's own ``forward``
    is wrapped when the class is defined, so similarities, logits and softmax never run in
    bf16 or fp16.
    """

    input_kind: str = "pair"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "forward" in cls.__dict__:
            cls.forward = full_precision(cls.forward)

    def forward(self, *outputs: torch.Tensor) -> LossOutput:
        """Compute the loss."""
        raise NotImplementedError


def _name(component: Any) -> str:
    return getattr(component, "ssl_name", type(component).__name__)


class Branch(nn.Module, Component):
    """A contrast branch: the method. Owns the encoder, its heads, its teacher and its criterion.

    ``forward(batch)`` is ``loss_from_features(encode(views), teacher_features(batch))``:

    - ``encode`` runs the online encoder on each view through ``per_view``;
    - ``teacher_features`` returns the teacher's pooled features (``None``: no teacher);
    - ``loss_from_features(features, teacher)`` runs the online heads (through ``per_view``),
      the teacher's heads on ``teacher`` and the criterion.

    A regularizer may call ``loss_from_features`` again with re-weighted features and teacher
    features; a wrapper may send a view through other variants of the online modules with
    ``route_view``. Both work for any branch that keeps to this shape.
    """

    #: the loss input kind this branch produces (checked against ``Loss.input_kind``).
    loss_input_kind: str = "pair"
    #: views the branch reads from the batch (``None``: any number, e.g. multi-crop).
    num_views: int | None = 2
    #: run the views through an online module in one concatenated forward (``False``: one
    #: forward per view, so batch-norm statistics are per view).
    concat_views: bool = True
    #: whether the trainer may convert batch norms to SyncBatchNorm across processes.
    sync_batchnorm: bool = True

    def __init__(self, encoder: nn.Module | None = None, criterion: Loss | None = None) -> None:
        super().__init__()
        self._routes: dict[int, ViewRoute] = {}
        if criterion is not None and criterion.input_kind != self.loss_input_kind:
            raise LossMismatchError(
                f"loss {_name(criterion)!r} takes {criterion.input_kind!r} inputs but branch "
                f"{type(self).__name__} produces {self.loss_input_kind!r} outputs", self.loss_input_kind)
        if encoder is not None:
            self.encoder = encoder
        if criterion is not None:
            self.criterion = criterion

    # -- capabilities ------------------------------------------------------------------------

    @property
    def has_teacher(self) -> bool:
        """Whether the branch has a teacher (it overrides ``teacher_features``)."""
        return type(self).teacher_features is not Branch.teacher_features

    @property
    def has_feature_loss(self) -> bool:
        """Whether the branch implements ``loss_from_features``."""
        return type(self).loss_from_features is not Branch.loss_from_features

    @property
    def online_views(self) -> tuple[int, ...]:
        """The views whose online features reach the loss (all ``num_views`` by default)."""
        return tuple(range(self.num_views or 0))

    def check_views(self, views: Any) -> None:
        """Refuse a view generator that does not give the views the branch reads."""
        if views is not None and self.num_views is not None and views.num_views != self.num_views:
            raise IncompatibleComponentsError(
                f"branch {_name(self)!r} needs {self.num_views} views per image; the views give {views.num_views} "
                f"(views {_name(views)!r})")

    # -- the online network, per view ----------------------------------------------------------

    def view_modules(self) -> dict[str, nn.Module]:
        """The online modules each view runs through (encoder and heads), by name.

        A wrapper builds variants of them (own batch norms, masked weights) for a routed view.
        """
        return {"encoder": self.encoder}

    def route_view(self, view: int, route: ViewRoute) -> None:
        """Send view ``view`` through ``route(name, module, x)`` wherever ``per_view`` would
        compute ``module(x)``, for every module of ``view_modules()``.

        Raises:
            IncompatibleComponentsError: the view does not reach the loss through the online network.
        """
        if view not in self.online_views:
            raise IncompatibleComponentsError(
                f"branch {_name(self)!r} runs views {list(self.online_views)} through its online network, "
                f"so view {view} cannot be routed (see `ssl describe branch {_name(self)}` for an option that "
                "changes which views it runs)")
        self._routes[view] = route

    @property
    def routed_views(self) -> tuple[int, ...]:
        """The views a wrapper routed (``route_view``)."""
        return tuple(sorted(self._routes))

    def per_view(self, name: str, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """``view_modules()[name]`` applied to each view's tensor.

        Views without a route go through the module in one concatenated forward
        (``concat_views``) or one forward each; a routed view goes through its route; a
        ``None`` input (a view outside ``online_views``) stays ``None``.
        """
        module = self.view_modules()[name]
        plain = [i for i in range(len(inputs)) if i not in self._routes and inputs[i] is not None]
        out: list[Any] = [None] * len(inputs)
        if self.concat_views and len(plain) > 1:
            sizes = [inputs[i].shape[0] for i in plain]
            for i, part in zip(plain, module(torch.cat([inputs[i] for i in plain])).split(sizes)):
                out[i] = part
        else:
            for i in plain:
                out[i] = module(inputs[i])
        for i, route in self._routes.items():
            if i < len(inputs) and inputs[i] is not None:
                out[i] = route(name, module, inputs[i])
        return out

    def encode(self, views: list[torch.Tensor]) -> list[torch.Tensor | None]:
        """Pooled online-encoder features of each view in ``online_views``; ``None`` for the others
        (asymmetric MoCo's key view is never encoded by the online encoder)."""
        online = set(self.online_views) if self.num_views is not None else None
        return self.per_view("encoder", [v if online is None or i in online else None for i, v in enumerate(views)])

    # -- the loss --------------------------------------------------------------------------------

    def teacher_features(self, batch: Batch) -> list[torch.Tensor | None] | None:
        """The teacher's pooled features of each view, without gradient (``None``: no teacher).

        A teacher is a network whose outputs the loss compares against but does not train
        through (a momentum encoder). A view the teacher does not see is ``None``.
        """
        return None

    def loss_from_features(self, features: list[torch.Tensor],
                           teacher: list[torch.Tensor | None] | None = None) -> BranchOutput:
        """Run the heads and criterion on pooled ``features`` (one per view) and the teacher's."""
        raise NotImplementedError

    def forward(self, batch: Batch) -> BranchOutput:
        """The loss of one step: ``loss_from_features(encode(views), teacher_features(batch))``."""
        views = batch.views if self.num_views is None else batch.views[: self.num_views]
        teacher = self.teacher_features(batch)
        output = self.loss_from_features(self.encode(views), teacher)
        output.teacher = teacher
        return output

    def parameter_groups(self) -> list[dict[str, Any]]:
        """Parameter groups for the main optimiser; a group may set ``fixed_lr: True``."""
        return [{"params": [p for p in self.parameters() if p.requires_grad]}]


class WrapperBranch(Branch):
    """A branch that runs another registered branch, its ``base``, and changes how views reach it.

    Everything of the contract is the base's, delegated: ``encoder`` (trained, evaluated,
    exported), ``criterion``, the capabilities, ``view_modules``, ``route_view``, ``per_view``,
    ``encode``, ``teacher_features``, ``loss_from_features`` and ``forward``. The wrapper adds
    modules of its own (their parameters join the base's groups) and typically routes a view
    with ``self.base.route_view``. The base is a subcomponent, so every lifecycle method
    reaches it without forwarding.
    """

    def __init__(self, base: Branch) -> None:
        super().__init__()
        self.base = base

    def subcomponents(self) -> list[Component]:
        """The base."""
        return [self.base]

    def forward(self, batch: Batch) -> BranchOutput:
        """The base's forward (its views routed by this wrapper)."""
        return self.base(batch)

    def parameter_groups(self) -> list[dict[str, Any]]:
        """The base's groups, plus one group of the wrapper's own trainable parameters."""
        in_base = {id(p) for p in self.base.parameters()}
        own = [p for p in self.parameters() if p.requires_grad and id(p) not in in_base]
        return [*self.base.parameter_groups(), *([{"params": own}] if own else [])]


def _delegated(name: str) -> Callable[..., Any]:
    def call(self: WrapperBranch, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.base, name)(*args, **kwargs)

    call.__name__, call.__doc__ = name, f"The base's ``{name}``."
    return call


for _attribute in ("encoder", "criterion", "loss_input_kind", "num_views", "concat_views", "sync_batchnorm",
                   "has_teacher", "has_feature_loss", "online_views", "routed_views"):
    setattr(WrapperBranch, _attribute, property(lambda self, name=_attribute: getattr(self.base, name),
                                                doc=f"The base's ``{_attribute}``."))
for _method in ("view_modules", "route_view", "per_view", "encode", "teacher_features", "loss_from_features"):
    setattr(WrapperBranch, _method, _delegated(_method))


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
