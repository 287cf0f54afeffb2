"""Test-suite setup shared by tests/ and plugins/*/tests.

Only this repository's plugins are loaded (SSL_LOAD_PLUGINS), so stray installed plugins
never change a test; nothing touches the network.
"""

import os
import tomllib
from pathlib import Path

ROOT = Path(__file__).parent
REPO_PLUGINS = sorted(
    tomllib.loads(p.read_text())["project"]["name"] for p in ROOT.glob("plugins/*/pyproject.toml")
)
os.environ["SSL_LOAD_PLUGINS"] = ",".join(REPO_PLUGINS)
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ.setdefault("OMP_NUM_THREADS", "2")
