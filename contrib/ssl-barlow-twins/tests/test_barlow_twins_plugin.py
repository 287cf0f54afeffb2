"""Registration, run defaults, and the public-API-only rule of the plugin's source."""

from __future__ import annotations

import ast
from pathlib import Path

import ssl_core

SRC = Path(__file__).resolve().parents[1] / "src" / "ssl_barlow_twins"
PUBLIC = {"ssl_core", "ssl_core.nn"}


def test_branch_and_loss_are_registered_by_this_distribution():
    for kind in ("branch", "loss"):
        found = ssl_core.spec(kind, "barlow-twins")
        assert found.package == "ssl-barlow-twins"
        assert found.version == "0.2.0"
    rows = {r["name"]: r["default"] for r in ssl_core.describe("branch", "barlow-twins")}
    assert rows == {"hidden_dim": 2048, "out_dim": 2048, "layers": 3}
    rows = {r["name"]: r["default"] for r in ssl_core.describe("loss", "barlow-twins")}
    assert rows == {"lambd": 5e-3, "scale": 1.0, "eps": 1e-5, "gather": True}


def test_run_defaults_are_solo_learns_cifar_recipe():
    defaults = ssl_core.spec("branch", "barlow-twins").run_defaults()
    assert defaults == {"views": "byol", "loss": "barlow-twins", "optimizer": "lars", "lars_eta": 0.02, "lars_clip": True, "lr": 0.3,
                        "weight_decay": 1e-4, "options": {"loss": {"barlow-twins": {"scale": 0.1}}}}
    assert defaults["views"] in ssl_core.available("views")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_the_source_imports_only_the_public_api_and_no_other_plugin():
    modules = sorted(SRC.glob("*.py"))
    assert {p.name for p in modules} >= {"__init__.py", "branch.py", "loss.py", "config.py", "plugin.py"}
    for path in modules:
        for name in _imports(path):
            top = name.split(".")[0]
            if top == "ssl_core":
                assert name in PUBLIC, f"{path.name} imports {name}, an internal module of ssl_core"
            elif top.startswith("ssl_"):
                assert top == "ssl_barlow_twins", f"{path.name} imports another plugin, {name}"
