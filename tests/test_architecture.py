"""The layout's rules, read from the source: no import cycle in the core, plugins use the public API
only, declare the plugins they import, and the composing plugins never name a branch."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import ssl_core

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core" / "src"
PUBLIC = {"ssl_core", "ssl_core.nn"}
PLUGIN_SOURCES = sorted([*ROOT.glob("plugins/*/src"), *ROOT.glob("contrib/*/src")])


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, module: str) -> set[str]:
    """Every module an import statement of ``path`` names: module level, in functions and under
    TYPE_CHECKING alike (``from a import b`` counts ``a`` and, if it is a module, ``a.b``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _core_graph() -> dict[str, set[str]]:
    modules = {_module_name(p, CORE): p for p in CORE.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        targets = {t for t in _imports(path, name) if t in modules and t != name}
        # a module importing its own parent package (``from ssl_core import x``) does not count
        graph[name] = {t for t in targets if not name.startswith(t + ".")}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_core_has_no_import_cycle():
    graph = _core_graph()
    assert len(graph) > 20 and "ssl_core.training.trainer" in graph
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_plugins_and_contrib_import_only_the_public_api():
    offending = []
    for src in PLUGIN_SOURCES:
        for path in src.rglob("*.py"):
            for target in _imports(path, _module_name(path, src)):
                if target.startswith("ssl_core.") and target not in PUBLIC \
                        and target.rpartition(".")[0] not in PUBLIC:
                    offending.append(f"{path.relative_to(ROOT)}: {target}")
    assert not offending, "\n".join(offending)


def test_the_public_api_is_what_all_says():
    assert sorted(ssl_core.__all__) == sorted(set(ssl_core.__all__))
    for name in ssl_core.__all__:
        assert getattr(ssl_core, name) is not None, name
    from ssl_core import nn as toolkit

    assert all(getattr(toolkit, name) for name in toolkit.__all__)


def _distribution(src: Path) -> tuple[str, set[str]]:
    project = tomllib.loads((src.parent / "pyproject.toml").read_text())["project"]
    deps = set()
    for requirement in [*project.get("dependencies", []),
                        *[r for extra in project.get("optional-dependencies", {}).values() for r in extra]]:
        deps.add(requirement.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip())
    return project["name"], deps


def test_no_plugin_imports_a_plugin_it_does_not_declare():
    packages = {}
    for src in PLUGIN_SOURCES:
        name, _ = _distribution(src)
        for package in src.iterdir():
            if (package / "__init__.py").is_file():
                packages[package.name] = name
    offending = []
    for src in PLUGIN_SOURCES:
        name, deps = _distribution(src)
        for path in src.rglob("*.py"):
            for target in _imports(path, _module_name(path, src)):
                top = target.split(".")[0]
                if top in packages and packages[top] != name and packages[top] not in deps:
                    offending.append(f"{path.relative_to(ROOT)} imports {top} ({packages[top]}), not a dependency")
    assert not offending, "\n".join(offending)


def test_the_composing_plugins_never_name_a_branch_they_compose_with():
    for plugin in ("sdclr", "icl_msr"):
        for path in (ROOT / "plugins" / plugin / "src").rglob("*.py"):
            text = path.read_text()
            for name in ("barlow", "moco-v3", "moco_v3", "target_encoder", "key_encoder", "_keys", "SUPPORTED"):
                assert name not in text, f"{path.relative_to(ROOT)} names {name!r}"
