"""``ssl export RUN_DIR OUT_DIR`` and ``ssl push RUN_DIR REPO_ID``: share a trained encoder."""

from __future__ import annotations

from pathlib import Path

import click

from ssl_core.cli.tables import print_table

_LICENSE = click.option("--license", "license_", default="apache-2.0", show_default=True,
                        help="License of the weights in the model card (a Hub license id).")


def _list(folder: Path) -> None:
    from ssl_core.sharing import listing

    files = listing(folder)
    print_table(["file", "bytes"], [(name, f"{size:,}") for name, size in files])
    click.echo(f"{len(files)} files, {sum(size for _, size in files):,} bytes in {folder}")


@click.command("export")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("out_dir", type=click.Path())
@click.option("--include-checkpoints", is_flag=True, help="Also copy the run's checkpoints.")
@click.option("--overwrite", is_flag=True, help="Replace OUT_DIR if it holds an earlier export.")
@_LICENSE
def export_command(run_dir: str, out_dir: str, include_checkpoints: bool, overwrite: bool, license_: str) -> None:
    """Write a Hub-ready folder of the run in RUN_DIR to OUT_DIR (no network): model.safetensors,
    config.json, the model card README.md, run_config.yaml, metrics and results."""
    from ssl_core.sharing import export

    _list(export(run_dir, out_dir, include_checkpoints=include_checkpoints, overwrite=overwrite, license=license_))


@click.command("push")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.argument("repo_id")
@click.option("--private", is_flag=True, help="Create the repo private (an existing repo keeps its visibility).")
@click.option("--revision", metavar="R", help="Branch to upload to (it must exist; default main).")
@click.option("--create-pr", is_flag=True, help="Open a pull request instead of committing to the branch.")
@click.option("--dry-run", "dry_run", metavar="OUT_DIR", type=click.Path(),
              help="Only export to OUT_DIR and list what would be uploaded, with sizes.")
@_LICENSE
def push_command(run_dir: str, repo_id: str, private: bool, revision: str | None, create_pr: bool,
                 dry_run: str | None, license_: str) -> None:
    """Export the run in RUN_DIR and upload it to the Hub model repo REPO_ID (created if missing);
    the token is huggingface_hub's (HF_TOKEN or `hf auth login`)."""
    from ssl_core.sharing import export, push

    if dry_run:
        _list(export(run_dir, dry_run, repo_id=repo_id, license=license_))
        click.echo(f"dry run: nothing uploaded; ssl push without --dry-run uploads these files to {repo_id}")
        return
    url = push(run_dir, repo_id, private=private, revision=revision, create_pr=create_pr, license=license_)
    if url:
        click.echo(f"uploaded to {url}")
