"""Plain-text tables for the command line."""

from __future__ import annotations

from collections.abc import Sequence

import click


def print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print rows under a header, columns padded to their widest cell."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    click.echo("  ".join(str(h).ljust(w) for h, w in zip(header, widths)).rstrip())
    click.echo(line)
    for row in rows:
        click.echo("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
