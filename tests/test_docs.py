"""The documentation covers every hook and kind, and mkdocs.yml names only pages that exist."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ssl_core import plugins, registry

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
HOOKS = sorted(name for name in dir(plugins.pm.hook) if name.startswith("register_"))


def _nav_pages(entries) -> list[str]:
    """Every page path in an mkdocs ``nav`` tree."""
    pages: list[str] = []
    for entry in entries:
        if isinstance(entry, str):
            pages.append(entry)
        elif isinstance(entry, dict):
            for value in entry.values():
                pages.extend(_nav_pages(value) if isinstance(value, list) else [value])
    return pages


def test_every_hook_is_found():
    assert set(registry.KINDS.values()) <= set(HOOKS)
    assert "register_commands" in HOOKS


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_page_rendering_its_spec(hook):
    page = DOCS / "hooks" / f"{hook}.md"
    assert page.exists(), f"no docs page for hook {hook}: add {page.relative_to(ROOT)}"
    assert f"::: ssl_core.hookspecs.{hook}" in page.read_text()


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hookspec_documents_its_arguments(hook):
    doc = getattr(plugins.pm.hook, hook).spec.function.__doc__
    assert doc and "Args:" in doc, f"hookspec {hook} needs a docstring with an Args: section"


def test_every_nav_page_exists():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    pages = _nav_pages(config["nav"])
    assert pages
    missing = [page for page in pages if not (DOCS / page).exists()]
    assert not missing, f"pages in mkdocs.yml nav but not in docs/: {missing}"


def test_every_hook_page_is_in_the_nav():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    assert {f"hooks/{hook}.md" for hook in HOOKS} <= set(_nav_pages(config["nav"]))


@pytest.mark.parametrize("kind", list(registry.KINDS))
def test_every_kind_is_in_the_interface_spec(kind):
    assert f"`{kind}`" in (DOCS / "interface.md").read_text()


def test_the_run_field_table_in_usage_matches_the_run_config():
    import attrs

    from ssl_core.config import RunConfig

    text = (DOCS / "usage.md").read_text()
    table = text.split("<!-- run-fields:start -->")[1].split("<!-- run-fields:end -->")[0]
    rows = {}
    for line in table.strip().splitlines()[2:]:
        name, default, doc = (cell.strip() for cell in line.strip("|").split("|"))
        rows[name.strip("`")] = (yaml.safe_load(default.strip("`")), doc)
    fields = attrs.fields(RunConfig)
    assert list(rows) == [f.name for f in fields], "the run-field table lists other fields than RunConfig"
    for field in fields:
        default = field.default.factory() if isinstance(field.default, attrs.Factory) else field.default
        assert rows[field.name] == (default, field.metadata["doc"].replace("|", "/")), field.name
