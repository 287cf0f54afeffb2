"""``ssl describe KIND NAME``: a component's options, defaults and docs."""

from __future__ import annotations

import click

from ssl_core import registry
from ssl_core.cli.tables import print_table


@click.command("describe")
@click.argument("kind")
@click.argument("name")
def describe_command(kind: str, name: str) -> None:
    """Print the options of component NAME of KIND (encoder, views, branch, loss, regularizer,
    callback, dataset)."""
    spec = registry.spec(kind, name)
    click.echo(f"{kind} {name}: {spec.description}")
    click.echo(f"from {spec.package} {spec.version} (plugin {spec.plugin})")
    click.echo(f"paper: {spec.paper}\n" if spec.paper else "")
    rows = [(r["name"], r["type"], repr(r["default"]), r["doc"]) for r in registry.describe(kind, name)]
    if rows:
        print_table(["option", "type", "default", "doc"], rows)
    else:
        click.echo("no options")
    if spec.defaults:
        click.echo(f"\nrun defaults this {kind} brings: {spec.defaults}")
