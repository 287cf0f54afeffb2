"""Plugin discovery: the built-in plugin modules plus every entry point in the group ``ssl``.

Each entry point is loaded on its own, so one that fails to import is recorded (and shown
by ``ssl plugins``) while the others still load. ``SSL_LOAD_PLUGINS=a,b`` loads only the
named distributions (``ssl-simclr`` or ``ssl_simclr``); set it empty to load none.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import os
import sys
from typing import Any

import attrs
import pluggy

from ssl_core import hookspecs

#: built-in components register through the same hooks as external plugins.
DEFAULT_PLUGINS = (
    "ssl_core.builtin.encoders",
    "ssl_core.builtin.losses",
    "ssl_core.builtin.regularizers",
    "ssl_core.builtin.callbacks",
    "ssl_core.builtin.datasets",
)
ENTRY_POINT_GROUP = "ssl"
CORE_PACKAGE = "ssl-core"


@attrs.define
class PluginInfo:
    """One loaded (or failed) plugin module and the distribution it came from."""

    name: str
    package: str
    version: str
    error: str | None = None


pm = pluggy.PluginManager("ssl")
pm.add_hookspecs(hookspecs)
_infos: dict[str, PluginInfo] = {}
_loaded = False


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
    for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        package = dist.name if dist is not None else "unknown"
        version = dist.version if dist is not None else "unknown"
        if selected is not None and _normalise(package) not in selected:
            continue
        if pm.has_plugin(entry_point.name) or entry_point.name in _infos:
            continue
        try:
            module = entry_point.load()
            pm.register(module, name=entry_point.name)
            pm.check_pending()  # a misspelt hook name fails here, for this plugin only
        except Exception as exc:  # a broken plugin must not break the others
            if pm.has_plugin(entry_point.name):
                pm.unregister(name=entry_point.name)
            record_failure(entry_point.name, package, version, exc)
            continue
        _infos[entry_point.name] = PluginInfo(entry_point.name, package, version)


def record_failure(plugin_name: str, package: str, version: str, exc: Exception) -> None:
    """Remember (for ``ssl plugins``) and report a plugin that was skipped."""
    error = f"{type(exc).__name__}: {exc}"
    _infos[plugin_name] = PluginInfo(plugin_name, package, version, error)
    print(f"ssl: plugin {package} failed and was skipped ({error})", file=sys.stderr)


def reset_plugins() -> None:
    """Forget every loaded plugin (tests use this to load a different set)."""
    global _loaded
    for plugin in list(pm.get_plugins()):
        pm.unregister(plugin)
    _infos.clear()
    _loaded = False
    from ssl_core import registry

    registry.clear_cache()


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
