"""Puts this folder on ``sys.path`` so the tests (run with --import-mode=importlib) and the
2-process script share ``barlow_twins_tiny``."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
