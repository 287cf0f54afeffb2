"""``ssl plugins``: what is installed, by kind."""

from __future__ import annotations

import json

import click

from ssl_core import plugins, registry
from ssl_core.cli.tables import print_table


@click.command("plugins")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: name, kind, package, version per component; failed plugins; clashing names.")
def plugins_command(as_json: bool) -> None:
    """List the installed components of every kind, plugins that failed to load and clashing names.

    A name two plugins register for one kind is listed twice (once per package) and reported as a clash."""
    rows = [
        {"name": spec.name, "kind": kind, "package": spec.package, "version": spec.version,
         "description": spec.description}
        for kind in registry.KINDS for spec in registry.registrations(kind)
    ]
    failed = [{"plugin": i.name, "package": i.package, "version": i.version, "error": i.error}
              for i in plugins.plugin_infos() if i.error]
    clashes = [{"kind": c.first.kind, "name": c.first.name, "packages": [c.first.package, c.second.package],
                "error": str(c)} for kind in registry.KINDS for c in registry.clashes(kind)]
    if as_json:
        click.echo(json.dumps({"components": rows, "failed": failed, "clashes": clashes}, indent=2))
        return
    print_table(["kind", "name", "package", "version", "description"],
                [(r["kind"], r["name"], r["package"], r["version"], r["description"]) for r in rows])
    for f in failed:
        click.echo(f"\nfailed to load: {f['package']} {f['version']} (plugin {f['plugin']}): {f['error']}", err=True)
    for c in clashes:
        click.echo(f"\nclash: {c['error']}", err=True)
