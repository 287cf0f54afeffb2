"""Registers the ``plot`` command and the ``plots`` callback, and draws at the end of a run that selected it."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from ssl_core import Register, hookimpl

from ssl_plots.callback import TSNE_POINTS, PlotsCallback, PlotsConfig
from ssl_plots.command import plot_command

NAME = "plots"


@hookimpl
def register_commands(cli: click.Group) -> None:
    """Add ``ssl plot``."""
    cli.add_command(plot_command)


@hookimpl
def register_callbacks(register: Register) -> None:
    """Register ``plots``, in every run by default (``--no-callback plots`` leaves it out)."""
    register(NAME, PlotsCallback, config=PlotsConfig, default=True)


@hookimpl
def after_run(run_dir: Path, summary: dict[str, Any], config: dict[str, Any]) -> None:
    """Draw the finished run's pictures when its callbacks include ``plots``; a failure is one line, never the run's."""
    if NAME not in config.get("callback", []):
        return
    from ssl_plots.draw import plot_run  # matplotlib and scikit-learn load only when drawing

    points = config.get("options", {}).get("callback", {}).get(NAME, {}).get("tsne_points", TSNE_POINTS)
    try:
        report = plot_run(run_dir, tsne_points=points)
    except Exception as exc:  # the run is complete; its pictures must not fail it
        print(f"plots: drawing the pictures of {run_dir} failed ({type(exc).__name__}: {exc}); the run itself is "
              f"complete (draw again with `ssl plot {run_dir}`)", file=sys.stderr)
        return
    for note in report.notes:
        print(f"plots: note: {note}")
    print(f"plots: wrote {', '.join(p.name for p in report.pictures)} to {report.folder}")
