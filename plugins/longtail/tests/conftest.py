"""A tiny run for the long-tail tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def tiny_run(tmp_path) -> dict:
    """SimCLR on tiny shapes with a tiny encoder, one epoch, writing into a temporary folder."""
    return {"branch": "simclr", "epochs": 1, "batch_size": 32, "output_dir": str(tmp_path / "run"),
            "options": {"encoder": {"small-resnet": {"widths": [8, 8, 16, 16]}},
                        "dataset": {"shapes": {"num_train": 128, "num_test": 40, "image_size": 16}}}}
