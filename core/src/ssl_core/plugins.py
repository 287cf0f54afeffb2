"""Plugin discovery: the built-in plugin modules plus every entry point in the group ``ssl``.

Each entry point is loaded on its own, so one that fails to import is recorded (and shown
by ``ssl plugins``) while the others still load; one that calls ``sys.exit`` is recorded the
same way. An entry point is known by its distribution and name (registered as ``dist:name``),
so two distributions may use one entry-point name. ``SSL_LOAD_PLUGINS=a,b`` loads only the
named distributions (``ssl-simclr`` or ``ssl_simclr``; a name not installed is reported); set
it empty to load none.

A plugin whose distribution requires an ssl-core version other than the installed one, or
that imports an internal module, is refused with a message naming the contract change.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import os
import sys
from typing import Any

import attrs
import pluggy
from packaging.requirements import InvalidRequirement, Requirement
from packaging.version import Version

from ssl_core import hookspecs

#: built-in components register through the same hooks as external plugins.
DEFAULT_PLUGINS = (
    "ssl_core.builtin.encoders",
    "ssl_core.builtin.callbacks",
    "ssl_core.builtin.datasets",
    "ssl_core.builtin.protocols",
)
ENTRY_POINT_GROUP = "ssl"
CORE_PACKAGE = "ssl-core"
#: what changed in the plugin contract, by the ssl-core version that changed it.
CONTRACT_CHANGES = {
    "0.2": "the 0.2 contract makes teacher state explicit (Branch.teacher_features and "
           "loss_from_features(features, teacher)), adds WrapperBranch, makes TrainContext plain data "
           "(no trainer or config), makes checkpoints the trainer's job and exports the whole API from "
           "ssl_core and ssl_core.nn (other modules are internal)",
}


@attrs.define
class PluginInfo:
    """One loaded (or failed) plugin module: its entry-point name and the distribution it came from."""

    name: str
    package: str
    version: str
    error: str | None = None


pm = pluggy.PluginManager("ssl")
pm.add_hookspecs(hookspecs)
_infos: dict[str, PluginInfo] = {}
_loaded = False
_generation = 0


def generation() -> int:
    """A number that changes whenever the set of loaded plugins is reset."""
    return _generation


def _normalise(dist_name: str) -> str:
    return dist_name.lower().replace("_", "-")


def _selected_distributions() -> set[str] | None:
    value = os.environ.get("SSL_LOAD_PLUGINS")
    if value is None:
        return None
    return {_normalise(v.strip()) for v in value.split(",") if v.strip()}


def _core_version() -> str:
    try:
        return metadata.version(CORE_PACKAGE)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def load_plugins() -> None:
    """Register the built-ins and load the entry points (once per process)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module_name in DEFAULT_PLUGINS:
        module = importlib.import_module(module_name)
        pm.register(module, name=module_name)
        _infos[module_name] = PluginInfo(module_name, CORE_PACKAGE, _core_version())
    selected = _selected_distributions()
    installed: set[str] = set()
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        package = dist.name if dist is not None else "unknown"
        version = dist.version if dist is not None else "unknown"
        installed.add(_normalise(package))
        if selected is not None and _normalise(package) not in selected:
            continue
        key = f"{package}:{entry_point.name}"  # two distributions may use one entry-point name
        info = PluginInfo(entry_point.name, package, version)
        try:
            _check_contract(dist)
            module = entry_point.load()
            pm.register(module, name=key)
            pm.check_pending()  # a misspelt hook name fails here, for this plugin only
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a broken plugin (even one calling sys.exit) must not break the others
            if pm.has_plugin(key):
                pm.unregister(name=key)
            record_failure(key, info, _explained(exc))
            continue
        _infos[key] = info
    if unknown := sorted((selected or set()) - installed - {CORE_PACKAGE}):
        print(f"ssl: SSL_LOAD_PLUGINS names {', '.join(unknown)}: no installed distribution has an entry point "
              f"in group {ENTRY_POINT_GROUP!r}; installed plugin distributions: {', '.join(sorted(installed))}",
              file=sys.stderr)


class ContractError(RuntimeError):
    """A plugin written for another version of the plugin contract."""


class PluginExitError(RuntimeError):
    """A plugin that called ``sys.exit`` while it was imported."""


def _check_contract(dist: metadata.Distribution | None) -> None:
    """Refuse a distribution whose ssl-core requirement excludes the installed core."""
    core = Version(_core_version()) if _core_version() != "0+unknown" else None
    for text in (dist.requires or []) if dist is not None and core is not None else []:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            continue
        if requirement.name.lower() != CORE_PACKAGE or requirement.marker is not None:
            continue
        if not requirement.specifier.contains(core, prereleases=True):
            changes = "; ".join(c for v, c in CONTRACT_CHANGES.items()
                                if Version(v) <= core and not requirement.specifier.contains(Version(v)))
            raise ContractError(f"{dist.name} requires {text} but ssl-core {core} is installed"
                                + (f" ({changes}); upgrade the plugin" if changes else ""))


def _explained(exc: BaseException) -> BaseException:
    """An import of an internal module, explained as the contract change it is; a ``sys.exit``, as such."""
    if isinstance(exc, SystemExit):
        return PluginExitError(f"it called sys.exit with code {exc.code!r} while being imported")
    name = getattr(exc, "name", None) or ""
    if isinstance(exc, ImportError) and name.startswith("ssl_core.") and not name.startswith("ssl_core.nn"):
        return ContractError(f"it imports {name}, which is not part of the plugin contract since ssl-core 0.2 "
                             f"({CONTRACT_CHANGES['0.2']}); import from ssl_core or ssl_core.nn")
    return exc


def record_failure(plugin_name: str, info: PluginInfo, exc: BaseException) -> None:
    """Remember (for ``ssl plugins``) and report a plugin that was skipped; ``plugin_name`` is its name in ``pm``."""
    error = f"{type(exc).__name__}: {exc}"
    _infos[plugin_name] = attrs.evolve(info, error=error)
    print(f"ssl: plugin {info.package} failed and was skipped ({error})", file=sys.stderr)


def reset_plugins() -> None:
    """Forget every loaded plugin (tests use this to load a different set)."""
    global _loaded, _generation
    for plugin in list(pm.get_plugins()):
        pm.unregister(plugin)
    _infos.clear()
    _loaded = False
    _generation += 1


def plugin_info(plugin_name: str) -> PluginInfo:
    """The distribution a registered plugin came from."""
    info = _infos.get(plugin_name)
    if info is None:  # registered by hand (tests, notebooks)
        return PluginInfo(plugin_name, plugin_name, "unknown")
    return info


def plugin_infos() -> list[PluginInfo]:
    """Every plugin seen, including the ones that failed to load."""
    load_plugins()
    return list(_infos.values())


def hook_implementations(hook_name: str) -> list[tuple[str, Any]]:
    """``(plugin_name, function)`` for each implementation of a hook."""
    load_plugins()
    caller = getattr(pm.hook, hook_name)
    return [(impl.plugin_name, impl.function) for impl in caller.get_hookimpls()]
