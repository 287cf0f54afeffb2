"""Fixtures shared by the core tests."""

from __future__ import annotations

import copy
import sys

import pytest

from ssl_core import plugins

#: a run small enough for a unit test: tiny encoder, tiny shapes, few steps.
TINY_RUN = {
    "branch": "simclr",
    "encoder": "small-resnet",
    "dataset": "shapes",
    "epochs": 1,
    "batch_size": 32,
    "no_callback": ["knn-monitor"],
    "options": {
        "encoder": {"small-resnet": {"widths": [8, 8, 16, 16]}},
        "dataset": {"shapes": {"num_train": 128, "num_test": 40, "image_size": 16}},
    },
}


@pytest.fixture
def tiny_run(tmp_path) -> dict:
    """A fresh copy of the tiny run configuration, writing into a temporary folder."""
    return {**copy.deepcopy(TINY_RUN), "output_dir": str(tmp_path / "run")}


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A folder on sys.path for throwaway installed plugins; the plugin set is reset after."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))

    def write(dist: str, module: str, source: str, requires: str | None = None) -> None:
        (root / f"{module}.py").write_text(source)
        info = root / f"{module}-0.1.dist-info"
        info.mkdir()
        requirement = f"Requires-Dist: {requires}\n" if requires else ""
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n{requirement}")
        (info / "entry_points.txt").write_text(f"[ssl]\n{module} = {module}\n")

    plugins.reset_plugins()
    yield write
    for name in [m for m in sys.modules if m.startswith("ssl_throwaway")]:
        del sys.modules[name]
    monkeypatch.undo()
    plugins.reset_plugins()
