"""The base branch the pruned competitor joins: any registered 2-view branch, built through the registry."""

from __future__ import annotations

from typing import Any

from ssl_core import (
    Branch,
    BuildContext,
    ComponentOptionError,
    IncompatibleComponentsError,
    UnknownComponentError,
    available,
    create,
    spec,
)

from ssl_sdclr.config import OFFICIAL_BASE, OFFICIAL_BASE_OPTIONS, SDCLRConfig

#: the official SDCLR views (CIFAR recipe at 64 px or less) and NT-Xent with T 0.2.
OFFICIAL_DEFAULTS = {
    "views": "sdclr",
    "loss": "nt-xent",
    "options": {"loss": {"nt-xent": {"temperature": 0.2}}},
}


def base_options(config: SDCLRConfig) -> dict[str, Any]:
    """The base's options: the official head for the official base, under ``config.base_options``."""
    preset = OFFICIAL_BASE_OPTIONS if config.base == OFFICIAL_BASE else {}
    return {**preset, **config.base_options}


def run_defaults(options: dict[str, Any]) -> dict[str, Any]:
    """The run defaults of ``sdclr-pruned`` given its options: the official recipe for the official
    base, else the base's own registered run defaults (its views, loss, optimiser)."""
    base = options.get("base", OFFICIAL_BASE)
    if base == OFFICIAL_BASE:
        return OFFICIAL_DEFAULTS
    try:
        return spec("branch", base).run_defaults(options.get("base_options", {}))
    except UnknownComponentError:
        return OFFICIAL_DEFAULTS  # building the branch names the missing base


def base_recipe(base: str) -> str:
    """The base branch's registered run defaults, as configuration fields (for error messages)."""
    defaults = spec("branch", base).run_defaults()
    fields = [f"{key}: {value}" for key, value in defaults.items() if key != "options"]
    for kind, named in defaults.get("options", {}).items():
        for name, options in named.items():
            fields += [f"options.{kind}.{name}.{key}: {value}" for key, value in options.items()]
    return ", ".join(fields)


def build_base(config: SDCLRConfig, context: BuildContext) -> Branch:
    """The base branch ``config.base`` built with the run's encoder, loss and views.

    Raises:
        IncompatibleComponentsError: the base is not installed, is a wrapper or not a 2-view
            branch, or refuses the run's loss or views (the message then gives the base's own
            run defaults).
    """
    if config.base not in available("branch"):
        raise IncompatibleComponentsError(
            f"sdclr-pruned: base {config.base!r} is not installed (pip install ssl-{config.base}, or the package "
            f"that registers it); installed branches: {', '.join(available('branch'))}")
    if config.base == "sdclr-pruned":
        raise IncompatibleComponentsError("sdclr-pruned cannot be its own base; choose a 2-view branch")
    try:
        base = create("branch", config.base, context, **base_options(config))
    except ComponentOptionError as exc:
        raise ComponentOptionError(f"sdclr-pruned base_options: {exc}") from exc
    except IncompatibleComponentsError as exc:
        raise IncompatibleComponentsError(
            f"sdclr-pruned with base {config.base!r}: {exc}. The base's own run defaults are "
            f"{{{base_recipe(config.base)}}}; set them in a --config file or with --loss/--views/--set") from exc
    if base.num_views != 2:
        raise IncompatibleComponentsError(
            f"sdclr-pruned needs a base that reads 2 views (dense and pruned); branch {config.base!r} reads "
            f"{'any number of' if base.num_views is None else base.num_views} views")
    return base
