"""Building the base branch the pruned competitor joins, through the registry."""

from __future__ import annotations

from typing import Any

from ssl_core import registry
from ssl_core.components import Branch, BuildContext, IncompatibleComponentsError
from ssl_core.registry import ComponentOptionError

from ssl_sdclr.config import SUPPORTED_BASES, SDCLRConfig

#: the distribution that provides each base.
PACKAGES = {"simclr": "ssl-simclr", "byol": "ssl-byol", "simsiam": "ssl-simsiam", "moco": "ssl-moco",
            "moco-v2": "ssl-moco"}

#: base options set unless the user gives them: the official SDCLR head (3 linear layers, BN after
#: the output) for SimCLR, and MoCo's symmetric loss (else view 2, the pruned one, reaches no loss).
BASE_DEFAULTS: dict[str, dict[str, Any]] = {
    "simclr": {"head_layers": 3, "last_bn": True},
    "moco": {"symmetric": True},
    "moco-v2": {"symmetric": True},
}


def base_options(config: SDCLRConfig) -> dict[str, Any]:
    """The base's options: ``BASE_DEFAULTS`` under ``config.base_options``."""
    options = {**BASE_DEFAULTS.get(config.base, {}), **config.base_options}
    if config.base in ("moco", "moco-v2") and not options["symmetric"]:
        raise IncompatibleComponentsError(
            f"sdclr-pruned with base {config.base!r} needs base_options symmetric: true; with an asymmetric "
            "loss only the dense view 1 is a query and the pruned view 2 would reach no loss")
    return options


def base_recipe(base: str) -> str:
    """The base branch's registered run defaults, as configuration fields (for error messages)."""
    defaults = registry.get("branch", base).defaults
    fields = [f"{key}: {value}" for key, value in defaults.items() if key != "options"]
    for kind, named in defaults.get("options", {}).items():
        for name, options in named.items():
            fields += [f"options.{kind}.{name}.{key}: {value}" for key, value in options.items()]
    return ", ".join(fields)


def build_base(config: SDCLRConfig, context: BuildContext) -> Branch:
    """The base branch ``config.base`` built with the run's encoder, loss and views.

    Raises:
        IncompatibleComponentsError: the base is unsupported or not installed, or it refuses the
            run's loss or views (the message then gives the base's own run defaults).
    """
    installed = registry.available("branch")
    usable = [name for name in SUPPORTED_BASES if name in installed]
    if config.base not in SUPPORTED_BASES:
        raise IncompatibleComponentsError(
            f"sdclr-pruned: unsupported base {config.base!r}; valid bases: {', '.join(SUPPORTED_BASES)} "
            f"(installed: {', '.join(usable) or 'none'})")
    if config.base not in installed:
        raise IncompatibleComponentsError(
            f"sdclr-pruned: base {config.base!r} is not installed (pip install {PACKAGES[config.base]}); "
            f"installed bases: {', '.join(usable) or 'none'}")
    options = base_options(config)
    try:
        return registry.create("branch", config.base, context, **options)
    except ComponentOptionError as exc:
        raise ComponentOptionError(f"sdclr-pruned base_options: {exc}") from exc
    except IncompatibleComponentsError as exc:
        raise IncompatibleComponentsError(
            f"sdclr-pruned with base {config.base!r}: {exc}. The base's own run defaults are "
            f"{{{base_recipe(config.base)}}}; set them in a --config file or with --loss/--views/--set") from exc
