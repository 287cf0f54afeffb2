"""The example plugin, registered by hand for the duration of each test (it is not installed)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import torch

import ssl_core
from ssl_core import Batch, BranchOutput, plugins, registry

SRC = Path(__file__).resolve().parents[1] / "src"


# --8<-- [start:fixture]
@pytest.fixture
def example_plugin():
    """Register ``ssl_example.plugin`` through the plugin manager; unregister it afterwards."""
    if str(SRC) not in sys.path:  # not pip-installed: import from the source tree
        sys.path.insert(0, str(SRC))
    module = importlib.import_module("ssl_example.plugin")
    plugins.load_plugins()  # load the installed plugins first, so they are not loaded mid-test
    installed = plugins.pm.is_registered(module)  # pip-installed and selected by SSL_LOAD_PLUGINS
    if not installed:
        plugins.pm.register(module, name="ssl_example")
    registry.clear_cache()
    try:
        yield module
    finally:
        if not installed:
            plugins.pm.unregister(module)
        registry.clear_cache()
# --8<-- [end:fixture]


def _output(*embeddings: torch.Tensor) -> tuple[Batch, BranchOutput]:
    batch = Batch(views=list(embeddings), image=torch.zeros(2, 3, 4, 4), index=torch.arange(2))
    return batch, BranchOutput(loss=torch.tensor(0.0), features=[], embeddings=list(embeddings))


def test_example_l2_is_registered_with_its_options(example_plugin):
    assert "example-l2" in ssl_core.available("regularizer")
    rows = ssl_core.describe("regularizer", "example-l2")
    assert [(r["name"], r["default"]) for r in rows] == [("weight", 0.01)]
    assert registry.spec("regularizer", "example-l2").plugin in ("ssl_example", "example")


def test_example_l2_is_weight_times_mean_squared_norm_over_views(example_plugin):
    regularizer = ssl_core.create("regularizer", "example-l2", weight=2.0)
    z1 = torch.tensor([[3.0, 4.0], [0.0, 0.0]])  # squared norms 25, 0: mean 12.5
    z2 = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # squared norms 1, 4: mean 2.5
    batch, output = _output(z1, z2)
    term = regularizer(batch, output, None)
    assert term.item() == pytest.approx(2.0 * (12.5 + 2.5) / 2)  # 15.0


def test_example_l2_rejects_a_bad_option(example_plugin):
    with pytest.raises(registry.ComponentOptionError, match="weights"):
        ssl_core.create("regularizer", "example-l2", weights=1.0)

