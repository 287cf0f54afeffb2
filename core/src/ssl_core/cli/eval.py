"""``ssl eval RUN_DIR --protocol NAME``: score a finished run with a registered protocol."""

from __future__ import annotations

import click

from ssl_core import registry
from ssl_core.cli.tables import print_table
from ssl_core.evaluation.protocols import columns, evaluate_run
from ssl_core.run_folder import RunFolder


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


@click.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--protocol", default="linear", show_default=True,
              help="A registered protocol: linear (probe on the pool), few-shot (probe on 1% of it), knn "
                   "(weighted k-NN against the pool), or one a plugin adds (ssl plugins lists them).")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Device of the feature extraction.")
def eval_command(run_dir: str, protocol: str, device: str) -> None:
    """Evaluate the encoder of RUN_DIR on its dataset: test top-1 (%), per class in the JSON
    written to RUN_DIR/eval-PROTOCOL.json."""
    registry.spec("protocol", protocol)  # an unknown protocol names the installed ones
    result = evaluate_run(run_dir, protocol, device)
    extra = columns(protocol)
    rows = [(name, str(row["train_images"]), row["selection"], _percent(row["validation_top1"]),
             _percent(row["top1"]), *(_percent(row[key]) for key, _ in extra))
            for name, row in result["rows"].items()]
    print_table(["protocol", "train images", "selection", "val top-1", "top-1", *(h for _, h in extra)], rows)
    if "groups" in result:
        groups = ", ".join(f"{name} {classes}" for name, classes in result["groups"].items())
        click.echo(f"\ngroups (classes ranked by {result['group_counts']}): {groups}")
    click.echo(f"written to {RunFolder(run_dir).eval_result(protocol)}")
