"""``ssl plot RUN_DIR [--compare OTHER_RUN_DIR]``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from ssl_plots.callback import TSNE_POINTS

if TYPE_CHECKING:
    from ssl_plots.draw import Report


def echo_report(report: Report) -> None:
    """Print the notes, then each PNG written."""
    for note in report.notes:
        click.echo(f"note: {note}")
    for path in report.pictures:
        click.echo(f"wrote {path}")


@click.command("plot")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--compare", type=click.Path(exists=True, file_okay=False), metavar="OTHER_RUN_DIR",
              help="Also draw this run's curves and background accuracies beside RUN_DIR's (e.g. the base method "
                   "against the same run with --regularizer icl-msr).")
@click.option("--tsne-points", type=click.IntRange(min=10), default=TSNE_POINTS, show_default=True,
              help="Test images on the t-SNE map (a seeded sample).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Device of the feature extraction for the t-SNE map.")
def plot_command(run_dir: str, compare: str | None, tsne_points: int, device: str) -> None:
    """Draw the pictures of RUN_DIR into RUN_DIR/plots/ (PNG): curves, per-class accuracy, a t-SNE map and,
    after `ssl eval RUN_DIR --protocol background`, the background accuracies."""
    from ssl_plots.draw import plot_run  # matplotlib and scikit-learn load only when drawing

    echo_report(plot_run(run_dir, compare, tsne_points=tsne_points, device=device))
