"""The component registry: names to factories and option classes, per kind.

It is filled by calling each plugin's ``register_*`` hook implementation one at a time, so
every component knows the distribution that provided it.
"""

from __future__ import annotations

import difflib
from typing import Any

import attrs

from ssl_core import plugins
from ssl_core.components import BuildContext

#: canonical kind id -> registration hook name.
KINDS: dict[str, str] = {
    "encoder": "register_encoders",
    "views": "register_view_generators",
    "branch": "register_branches",
    "loss": "register_losses",
    "regularizer": "register_regularizers",
    "callback": "register_callbacks",
    "dataset": "register_datasets",
}


@attrs.define
class NoOptions:
    """A component without options."""


@attrs.define
class ComponentSpec:
    """A registered component: its factory, option class and provenance."""

    kind: str
    name: str
    factory: Any
    config: type
    description: str
    plugin: str
    package: str
    version: str
    defaults: dict[str, Any] = attrs.Factory(dict)


class UnknownComponentError(KeyError):
    """A name that no installed plugin registered; the message lists the valid ones."""

    def __str__(self) -> str:
        return str(self.args[0])


class DuplicateComponentError(RuntimeError):
    """Two plugins registered the same name for one kind."""


class ComponentOptionError(ValueError):
    """Options that a component's config class rejects; the message names them."""


_cache: dict[str, dict[str, ComponentSpec]] = {}


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def clear_cache() -> None:
    """Drop the collected registries (after plugins change)."""
    _cache.clear()


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UnknownComponentError(f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")


def components(kind: str) -> dict[str, ComponentSpec]:
    """All registered components of ``kind``, by name."""
    _check_kind(kind)
    if kind in _cache:
        return _cache[kind]
    found: dict[str, ComponentSpec] = {}
    for plugin_name, hook in plugins.hook_implementations(KINDS[kind]):
        info = plugins.plugin_info(plugin_name)

        def register(name, factory, *, config=None, description=None, defaults=None, _info=info, _plugin=plugin_name):
            if name in found:
                other = found[name]
                raise DuplicateComponentError(
                    f"{kind} {name!r} is registered by both {other.package} {other.version} "
                    f"(plugin {other.plugin}) and {_info.package} {_info.version} (plugin {_plugin}); "
                    "uninstall one of them or limit SSL_LOAD_PLUGINS"
                )
            found[name] = ComponentSpec(
                kind=kind,
                name=name,
                factory=factory,
                config=config or NoOptions,
                description=description or _first_line(factory.__doc__),
                plugin=_plugin,
                package=_info.package,
                version=_info.version,
                defaults=dict(defaults or {}),
            )

        try:
            hook(register=register)
        except DuplicateComponentError:
            raise
        except Exception as exc:  # a plugin whose hook raises is skipped, the others stay
            for name in [n for n, spec in found.items() if spec.plugin == plugin_name]:
                del found[name]
            plugins.record_failure(plugin_name, info.package, info.version, exc)
    _cache[kind] = dict(sorted(found.items()))
    return _cache[kind]


def available(kind: str) -> list[str]:
    """The names registered for ``kind``, sorted."""
    return list(components(kind))


def get(kind: str, name: str) -> ComponentSpec:
    """The component ``name`` of ``kind``; an error listing the valid names if unknown."""
    registered = components(kind)
    if name not in registered:
        names = ", ".join(registered) or "none"
        close = difflib.get_close_matches(name, registered, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise UnknownComponentError(
            f"unknown {kind} {name!r}{hint}; installed: {names} (pip install ssl-<name> to add more)"
        )
    return registered[name]


def make_config(kind: str, name: str, options: dict[str, Any] | None = None) -> Any:
    """Build the option object of a component, naming bad options and their valid choices."""
    spec = get(kind, name)
    options = dict(options or {})
    valid = {f.alias: f for f in attrs.fields(spec.config)}
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ComponentOptionError(
            f"unknown option(s) {', '.join(unknown)} for {kind} {name!r}; "
            f"valid options: {', '.join(valid) or 'none'}"
        )
    try:
        return spec.config(**options)
    except (TypeError, ValueError) as exc:
        raise ComponentOptionError(f"bad option for {kind} {name!r}: {exc}") from exc


def create(kind: str, name: str, context: BuildContext | None = None, **options: Any) -> Any:
    """Build the component ``name`` of ``kind`` with ``options`` (its config's fields)."""
    spec = get(kind, name)
    component = spec.factory(make_config(kind, name, options), context or BuildContext())
    try:
        component.ssl_name = name
    except AttributeError:  # objects with __slots__
        pass
    return component


def describe(kind: str, name: str) -> list[dict[str, Any]]:
    """The options of a component: name, type, default and one-line doc each."""
    spec = get(kind, name)
    rows = []
    for field in attrs.fields(spec.config):
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        type_name = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
        rows.append({"name": field.alias, "type": type_name, "default": default, "doc": field.metadata.get("doc", "")})
    return rows
