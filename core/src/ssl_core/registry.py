"""The component registry: names to factories and option classes, per kind.

It is filled by calling each plugin's ``register_*`` hook implementation one at a time, so
every component knows the distribution that provided it. A name registered by two plugins is
kept as a clash: using that kind is an error naming both packages, while ``ssl plugins`` lists
every registration and the clash.
"""

from __future__ import annotations

import difflib
from typing import Any

import attrs

from ssl_core import plugins
from ssl_core.context import BuildContext
from ssl_core.errors import ComponentOptionError, DuplicateComponentError, LossMismatchError, UnknownComponentError

#: canonical kind id -> registration hook name.
KINDS: dict[str, str] = {
    "encoder": "register_encoders",
    "views": "register_view_generators",
    "branch": "register_branches",
    "loss": "register_losses",
    "regularizer": "register_regularizers",
    "callback": "register_callbacks",
    "dataset": "register_datasets",
    "protocol": "register_eval_protocols",
}


@attrs.define
class NoOptions:
    """A component without options."""


@attrs.define
class ComponentSpec:
    """A registered component: its factory, option class, presets and provenance.

    Attributes:
        options: option values this registration presets (a preset of a shared config class).
        defaults: (branches) the run defaults merged under the user's configuration; a
            callable gets the branch's given options and returns them.
        default: (callbacks) in every run unless ``--no-callback NAME``.
        paper: the paper the component implements, as model cards cite it (None: not a paper's).
    """

    kind: str
    name: str
    factory: Any
    config: type
    description: str
    plugin: str
    package: str
    version: str
    options: dict[str, Any] = attrs.Factory(dict)
    defaults: Any = attrs.Factory(dict)
    default: bool = False
    paper: str | None = None

    def run_defaults(self, options: dict[str, Any] | None = None) -> dict[str, Any]:
        """The run defaults for this component given its (user-given) ``options``."""
        return dict(self.defaults(dict(options or {})) if callable(self.defaults) else self.defaults)


#: the first-party packages that provide components other plugins name in their defaults.
PROVIDERS = {
    **{("loss", n): "ssl-losses" for n in ("nt-xent", "info-nce", "neg-cosine", "normalized-mse",
                                           "margin-contrastive", "triplet")},
    ("regularizer", "uniformity"): "ssl-losses",
    ("dataset", "shapes"): "ssl-shapes",
}


@attrs.define
class Clash:
    """Two registrations of one name for one kind."""

    first: ComponentSpec
    second: ComponentSpec

    def __str__(self) -> str:
        a, b = self.first, self.second
        return (f"{a.kind} {a.name!r} is registered by both {a.package} {a.version} (plugin {a.plugin}) "
                f"and {b.package} {b.version} (plugin {b.plugin}); uninstall one of them or limit SSL_LOAD_PLUGINS")


#: kind -> every registration, in plugin order.
_cache: dict[str, list[ComponentSpec]] = {}
_generation = -1


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0] if lines else ""


def clear_cache() -> None:
    """Collect the registries again on next use (after registering a plugin module by hand)."""
    global _generation
    _generation = -1


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise UnknownComponentError(f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")


def registrations(kind: str) -> list[ComponentSpec]:
    """Every registration of ``kind``, sorted by name: a name two plugins register appears twice."""
    global _generation
    _check_kind(kind)
    if _generation != plugins.generation():  # the plugin set changed: collect again
        _cache.clear()
        _generation = plugins.generation()
    if kind not in _cache:
        _cache[kind] = sorted(_collect(kind), key=lambda s: s.name)  # stable: plugin order within a name
    return _cache[kind]


def clashes(kind: str) -> list[Clash]:
    """The names of ``kind`` registered more than once: each later registration with the first."""
    first: dict[str, ComponentSpec] = {}
    return [Clash(first[s.name], s) for s in registrations(kind) if first.setdefault(s.name, s) is not s]


def components(kind: str) -> dict[str, ComponentSpec]:
    """All registered components of ``kind``, by name; an error naming both packages of a clash."""
    if found := clashes(kind):
        raise DuplicateComponentError("; ".join(map(str, found)) + " (`ssl plugins` lists every registration)")
    return {s.name: s for s in registrations(kind)}


def _collect(kind: str) -> list[ComponentSpec]:
    """Call each plugin's hook for ``kind``; a plugin whose hook raises is recorded and skipped."""
    found: list[ComponentSpec] = []
    for plugin_name, hook in plugins.hook_implementations(KINDS[kind]):
        info = plugins.plugin_info(plugin_name)
        mine: list[ComponentSpec] = []

        def register(name, factory, *, config=None, description=None, options=None, defaults=None, default=False,
                     paper=None, _info=info, _mine=mine):
            _mine.append(ComponentSpec(
                kind=kind,
                name=name,
                factory=factory,
                config=config or NoOptions,
                description=description or _first_line(factory.__doc__),
                plugin=_info.name,
                package=_info.package,
                version=_info.version,
                options=dict(options or {}),
                defaults=defaults if callable(defaults) else dict(defaults or {}),
                default=bool(default),
                paper=paper,
            ))

        try:
            hook(register=register)
        except Exception as exc:  # a plugin whose hook raises is skipped, the others stay
            plugins.record_failure(plugin_name, info, exc)
            continue
        found += mine
    return found


def available(kind: str) -> list[str]:
    """The names registered for ``kind``, sorted."""
    return list(components(kind))


def spec(kind: str, name: str) -> ComponentSpec:
    """The component ``name`` of ``kind``; an error listing the valid names if unknown."""
    registered = components(kind)
    if name not in registered:
        names = ", ".join(registered) or "none"
        close = difflib.get_close_matches(name, registered, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        install = PROVIDERS.get((kind, name), "ssl-<name>")
        raise UnknownComponentError(
            f"unknown {kind} {name!r}{hint}; installed: {names} (pip install {install} to add "
            f"{'it' if (kind, name) in PROVIDERS else 'more'})")
    return registered[name]


def make_config(kind: str, name: str, options: dict[str, Any] | None = None) -> Any:
    """Build the option object of a component, naming bad options and their valid choices."""
    found = spec(kind, name)
    options = {**found.options, **(options or {})}
    valid = {f.alias: f for f in attrs.fields(found.config)}
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ComponentOptionError(
            f"unknown option(s) {', '.join(unknown)} for {kind} {name!r}; "
            f"valid options: {', '.join(valid) or 'none'}"
        )
    try:
        return found.config(**options)
    except (TypeError, ValueError) as exc:
        raise ComponentOptionError(f"bad option for {kind} {name!r}: {exc}") from exc


def create(kind: str, name: str, context: BuildContext | None = None, **options: Any) -> Any:
    """Build the component ``name`` of ``kind`` with ``options`` (its config's fields)."""
    return build(kind, name, make_config(kind, name, options), context)


def build(kind: str, name: str, config: Any, context: BuildContext | None = None) -> Any:
    """Build the component ``name`` of ``kind`` from its option object ``config``."""
    try:
        component = spec(kind, name).factory(config, context or BuildContext())
    except LossMismatchError as exc:
        if exc.completed:
            raise
        fitting = [n for n, s in components("loss").items() if getattr(s.factory, "input_kind", None) == exc.input_kind]
        raise LossMismatchError(f"{exc}; losses that fit: {', '.join(fitting) or 'none installed'}",
                                exc.input_kind, completed=True) from None
    try:
        component.ssl_name = name
    except AttributeError:  # objects with __slots__
        pass
    if kind == "branch" and context is not None:
        component.check_views(context.views)
    return component


def describe(kind: str, name: str) -> list[dict[str, Any]]:
    """The options of a component: name, type, default and one-line doc each."""
    found = spec(kind, name)
    rows = []
    for field in attrs.fields(found.config):
        default = field.default
        if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
            default = default.factory()
        default = found.options.get(field.alias, default)
        type_name = field.type if isinstance(field.type, str) else getattr(field.type, "__name__", str(field.type))
        rows.append({"name": field.alias, "type": type_name, "default": default, "doc": field.metadata.get("doc", "")})
    return rows
