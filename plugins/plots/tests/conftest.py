"""Tiny finished runs for the ssl-plots tests (the suite's runs draw nothing: SSL_NO_CALLBACK=plots)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ssl_core import Trainer

TINY = ["encoder.widths=[8, 8, 16, 16]", "dataset.num_train=200", "dataset.num_test=40", "dataset.image_size=16"]


def _tiny_run(out: Path, *extra: str, regularizer: tuple[str, ...] = ("uniformity",)) -> Path:
    """Three epochs of SimCLR on 200 background-biased 16 px shapes; k-NN measured on epochs 2 and 3 only."""
    Trainer(branch="simclr", encoder="small-resnet", epochs=3, batch_size=32, output_dir=str(out), device="cpu",
            regularizer=list(regularizer), sets=[*TINY, "dataset.background_bias=0.8", "callback.knn-monitor.k=20",
                                                 "callback.knn-monitor.every=2", *extra]).fit()
    return out


@pytest.fixture(scope="session")
def shapes_run(tmp_path_factory) -> Path:
    """A finished tiny shapes run with the uniformity regularizer."""
    return _tiny_run(tmp_path_factory.mktemp("plots") / "base")


@pytest.fixture(scope="session")
def make_run():
    """``make_run(out, *sets, regularizer=(...))``: another tiny run like ``shapes_run``."""
    return _tiny_run
