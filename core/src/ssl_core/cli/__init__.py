"""The ``ssl`` command line: ``run``, ``eval``, ``export``, ``push``, ``plugins``, ``describe`` and plugin-added commands."""

from __future__ import annotations

import sys

import click

from ssl_core import plugins
from ssl_core.cli.describe import describe_command
from ssl_core.cli.eval import eval_command
from ssl_core.cli.plugins_list import plugins_command
from ssl_core.cli.run import run_command
from ssl_core.cli.share import export_command, push_command
from ssl_core.errors import USER_ERRORS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="ssl-core")
def cli() -> None:
    """ssl: contrastive self-supervised learning with plugins."""


cli.add_command(run_command)
cli.add_command(plugins_command)
cli.add_command(describe_command)
cli.add_command(eval_command)
cli.add_command(export_command)
cli.add_command(push_command)
plugins.load_plugins()
plugins.pm.hook.register_commands(cli=cli)


def main() -> None:
    """Entry point of the ``ssl`` console script: user errors print one line, exit 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except USER_ERRORS as exc:
        message = str(exc)
        if "Original Traceback" in message:  # re-raised from a DataLoader worker: its own message is last
            message = message.rstrip().splitlines()[-1].split(": ", 1)[-1]
        click.echo(f"Error: {message}", err=True)
        sys.exit(2)
