"""Test-suite setup shared by tests/ and plugins/*/tests.

Only this repository's plugins are loaded (SSL_LOAD_PLUGINS: plugins/* and the contrib
packages in CONTRIB_PLUGINS), so stray installed plugins never change a test; the ``plots``
callback is left out of every run (SSL_NO_CALLBACK); nothing touches the network.
"""

import os
import tomllib
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).parent
#: contrib distributions the development setup installs and the suite loads (ssl-example stays opt-in).
CONTRIB_PLUGINS = ("ssl-barlow-twins", "ssl-moco-v3")
REPO_PLUGINS = sorted(
    [tomllib.loads(p.read_text())["project"]["name"] for p in ROOT.glob("plugins/*/pyproject.toml")]
    + list(CONTRIB_PLUGINS)
)
os.environ["SSL_LOAD_PLUGINS"] = ",".join(REPO_PLUGINS)
# the suite's tiny runs draw no plots (ssl-plots' default callback); its own tests turn it back on
os.environ["SSL_NO_CALLBACK"] = "plots"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's tests on one thread: tiny convolutions run several times faster on one
    thread than on two busy cores, where the second thread mostly waits."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def add_plugin():
    """``add_plugin(plugin, name)``: the repository's plugins plus ``plugin`` (an object with hook
    implementations, e.g. registering a test callback) for this test only."""
    from ssl_core import plugins, registry

    added = []

    def add(plugin: object, name: str) -> None:
        plugins.load_plugins()
        plugins.pm.register(plugin, name=name)
        registry.clear_cache()
        added.append(name)

    yield add
    for name in added:
        plugins.pm.unregister(name=name)
    registry.clear_cache()
