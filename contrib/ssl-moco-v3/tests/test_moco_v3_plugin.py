"""Registration, run defaults, and the public-API-only rule of the plugin's source."""

from __future__ import annotations

import ast
from pathlib import Path

import ssl_core

SRC = Path(__file__).resolve().parents[1] / "src" / "ssl_moco_v3"
PUBLIC = {"ssl_core", "ssl_core.nn"}


def test_branch_and_loss_are_registered_by_this_distribution():
    for kind in ("branch", "loss"):
        found = ssl_core.spec(kind, "moco-v3")
        assert found.package == "ssl-moco-v3"
        assert found.version == "0.2.0"
    rows = {r["name"]: r["default"] for r in ssl_core.describe("branch", "moco-v3")}
    assert rows == {"hidden_dim": 4096, "out_dim": 256, "projector_layers": 2, "pred_hidden_dim": 4096,
                    "base_tau": 0.99, "final_tau": 1.0}
    assert [(r["name"], r["default"]) for r in ssl_core.describe("loss", "moco-v3")] == [("temperature", 0.2)]


def test_run_defaults_are_solo_learns_cifar_recipe():
    defaults = ssl_core.spec("branch", "moco-v3").run_defaults()
    assert defaults == {"views": "byol", "loss": "moco-v3", "optimizer": "lars", "lars_eta": 0.02, "lars_clip": True, "lr": 0.3, "weight_decay": 1e-6,
                        "options": {"loss": {"moco-v3": {"temperature": 0.2}}}}
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
                assert top == "ssl_moco_v3", f"{path.name} imports another plugin, {name}"
