"""What every picture shares: headless figures (matplotlib's object API, Agg) and how they are saved."""

from __future__ import annotations

import io
import re

from matplotlib.figure import Figure

#: pixels per inch of the saved PNGs.
DPI = 120
#: the folder of a run that holds its pictures.
PLOTS = "plots"


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches, laid out to fit its labels; never shown on a screen."""
    return Figure(figsize=(width, height), layout="constrained")


def png(figure: Figure) -> bytes:
    """``figure`` as the bytes of a PNG."""
    buffer = io.BytesIO()
    figure.savefig(buffer, dpi=DPI, format="png")
    return buffer.getvalue()


def percent(values: list[float | None]) -> list[float]:
    """Fractions as percentages; a missing value becomes NaN (matplotlib leaves a gap)."""
    return [float("nan") if v is None else 100 * v for v in values]


def run_label(config: dict, name: str) -> str:
    """A run's method in a legend: ``branch + regularizer ...``, e.g. ``simclr + icl-msr``."""
    return " + ".join([str(config.get("branch", name)), *config.get("regularizer", [])])


def safe_name(name: str) -> str:
    """``name`` reduced to characters safe in a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "other"
