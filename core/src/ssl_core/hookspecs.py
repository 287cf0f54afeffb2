"""The plugin hooks of ssl: their docstrings are the reference documentation.

A plugin is a module (named by an entry point in the group ``ssl``) holding functions
decorated with [`ssl_core.hookimpl`][ssl_core.hookimpl]. Each ``register_*`` hook receives
a ``register`` callback and calls it once per component it provides:

```python
from ssl_core import hookimpl

@hookimpl
def register_losses(register):
    register("my-loss", MyLoss, config=MyLossConfig)
```

``register(name, factory, *, config=None, description=None, options=None, defaults=None, default=False,
paper=None)``:

- ``name``: the component's name, unique within its kind across every installed plugin
  (two plugins registering one name is an error naming both packages).
- ``factory``: called as ``factory(config, context)`` with an instance of ``config`` and a
  [`BuildContext`][ssl_core.BuildContext]; returns the component.
- ``config``: an attrs class of options (defaults, types, validators and a one-line ``doc``
  in each field's metadata); ``ssl describe KIND NAME`` prints it, ``--set`` fills it.
- ``description``: one line for ``ssl plugins``; defaults to the factory's docstring.
- ``options``: option values this name presets, so one class and config registers several
  presets as data (``register("moco-v2", MoCoBranch, config=MoCoConfig, options={"head": "mlp"})``);
  ``ssl describe`` shows them as the defaults.
- ``defaults``: (branches only) a partial run configuration merged under the user's, e.g.
  ``{"views": "simclr", "loss": "nt-xent", "options": {"loss": {"nt-xent": {"temperature": 0.2}}}}``,
  or a function of the branch's given options returning one (a wrapper adopting its base's).
- ``default``: (callbacks only) in every run unless ``--no-callback NAME``.
- ``paper``: the paper the component implements, e.g. ``"Bootstrap Your Own Latent (Grill et
  al., NeurIPS 2020)"``; an exported model's card cites it for the run's branch, base branch
  and regularizers (``ssl describe`` shows it).

Registration hooks only register: they never run training code. What a component does
during a run lives in the lifecycle methods of the component objects the run selected
(see [`Component`][ssl_core.Component]), so an installed but unselected plugin
never acts on a run.
"""

from __future__ import annotations

from typing import Any, Protocol

import pluggy

hookspec = pluggy.HookspecMarker("ssl")
hookimpl = pluggy.HookimplMarker("ssl")


class Register(Protocol):
    """The callback passed to every ``register_*`` hook."""

    def __call__(
        self,
        name: str,
        factory: Any,
        *,
        config: type | None = None,
        description: str | None = None,
        options: dict[str, Any] | None = None,
        defaults: dict[str, Any] | Any = None,
        default: bool = False,
        paper: str | None = None,
    ) -> None:
        """Register one component under ``name``."""


@hookspec
def register_encoders(register: Register) -> None:
    """Register encoders (kind ``encoder``).

    The factory returns an ``nn.Module`` whose ``forward(x)`` maps a normalised image batch
    ``(B, C, H, W)`` to pooled features ``(B, feature_dim)`` and which has an integer attribute
    ``feature_dim``. Its ``state_dict()`` is what ``encoder.safetensors`` holds, so keep the
    key layout of the architecture it mirrors (torchvision for the built-in ResNets).

    Args:
        register: the registration callback.
    """


@hookspec
def register_view_generators(register: Register) -> None:
    """Register view generators (kind ``views``).

    The factory returns a [`ViewGenerator`][ssl_core.ViewGenerator]: a callable
    ``(images, generator) -> list[Tensor]`` taking float images in ``[0, 1]`` of shape
    ``(B, C, H, W)`` on the training device and a seeded ``torch.Generator`` on that device,
    and returning the augmented views, still in ``[0, 1]``. Random parameters are drawn per
    sample from ``generator`` only, so a run is reproducible under its seed.

    Args:
        register: the registration callback.
    """


@hookspec
def register_branches(register: Register) -> None:
    """Register contrast branches (kind ``branch``): the method (SimCLR, MoCo, SDCLR, ...).

    The factory returns a [`Branch`][ssl_core.Branch], built with the run's
    encoder and loss from the context. Pass ``defaults=`` to make ``ssl run --branch NAME``
    alone a sensible run (its views, loss, optimiser and their options).

    Args:
        register: the registration callback.
    """


@hookspec
def register_losses(register: Register) -> None:
    """Register losses (kind ``loss``).

    The factory returns a [`Loss`][ssl_core.Loss] whose ``input_kind`` says which
    branch outputs it fits (``"pair"`` of symmetric embeddings, ``"prediction-target"``, ...);
    a branch refuses a loss of another kind with an error naming the ones that fit.

    Args:
        register: the registration callback.
    """


@hookspec
def register_regularizers(register: Register) -> None:
    """Register regularizers (kind ``regularizer``).

    The factory returns a [`Regularizer`][ssl_core.Regularizer]: given the batch,
    the branch and its [`BranchOutput`][ssl_core.BranchOutput], it returns a term
    added to the loss. It may own parameters with their own optimiser and act before the
    real update of each step (``on_step_start`` before the forward, ``on_after_backward``
    with the step's gradient in hand), as a meta-learning regularizer needs.

    Args:
        register: the registration callback.
    """


@hookspec
def register_callbacks(register: Register) -> None:
    """Register per-epoch callbacks (kind ``callback``), e.g. ``knn-monitor``.

    The factory returns a [`Callback`][ssl_core.Callback]; the trainer calls the
    lifecycle methods of the callbacks a run selected, in order of their ``order``
    attribute (lower first), and nothing else. A run's callbacks are those registered with
    ``default=True`` plus ``--callback NAME`` minus ``--no-callback NAME``. Checkpoints are
    not a callback: the trainer writes them (run fields ``checkpoint_every``, ``keep_checkpoints``).

    Args:
        register: the registration callback.
    """


@hookspec
def register_datasets(register: Register) -> None:
    """Register dataset sources (kind ``dataset``), selected with ``--dataset NAME``.

    The factory returns a [`DatasetSplits`][ssl_core.DatasetSplits]. A value of
    ``--dataset`` that names no registered source is read with HF ``datasets`` (a local
    folder of parquet files or images, a parquet file, or a Hub name).

    Args:
        register: the registration callback.
    """


@hookspec
def register_eval_protocols(register: Register) -> None:
    """Register evaluation protocols of ``ssl eval RUN_DIR --protocol NAME`` (kind ``protocol``).

    The factory returns an [`EvalProtocol`][ssl_core.evaluation.protocols.EvalProtocol]: its ``evaluate(run)``
    gets an [`EvalRun`][ssl_core.evaluation.protocols.EvalRun] (the run's configuration, data, cached features
    and holdout division, with ``probe``, ``knn`` and ``row`` helpers) and returns named
    result rows, each with ``top1`` and ``per_class``; its ``columns`` name the row entries it
    adds to the printed table (the long-tail plugin adds All / Many / Medium / Few / Std).

    Args:
        register: the registration callback.
    """


@hookspec
def register_commands(cli: Any) -> None:
    """Add subcommands to the ``ssl`` command line.

    Args:
        cli: the root ``click.Group``; call ``@cli.command()`` on it.
    """


@hookspec
def after_run(run_dir: Any, summary: dict[str, Any], config: dict[str, Any]) -> None:
    """Do plugin work after a run has ended and its folder is complete (main process only).

    Called once per finished ``ssl run`` / ``Trainer.fit()`` with the run folder (a
    ``pathlib.Path``), the summary and the resolved configuration as plain data. An
    implementation that raises is reported and skipped; the run still succeeds.

    Args:
        run_dir: the finished run folder.
        summary: the contents of ``summary.json``.
        config: the contents of ``config.yaml``.
    """
