"""``ssl eval RUN_DIR --protocol linear|few-shot|knn|long-tail``: score a finished run."""

from __future__ import annotations

import click

from ssl_core.cli.tables import print_table
from ssl_core.evaluation.protocols import PROTOCOLS, evaluate_run


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}"


@click.command("eval")
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--protocol", type=click.Choice(PROTOCOLS), default="long-tail", show_default=True,
              help="linear: full-shot probe on the pool; few-shot: probe on the 1% subset; knn: weighted k-NN "
                   "against the pool; long-tail: linear and few-shot.")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
              help="Device of the feature extraction.")
def eval_command(run_dir: str, protocol: str, device: str) -> None:
    """Evaluate the encoder of RUN_DIR on its dataset and split: test accuracy (%) per class
    averaged as All, Many, Medium, Few and their Std; writes RUN_DIR/eval-PROTOCOL.json."""
    result = evaluate_run(run_dir, protocol, device)
    rows = [(name, str(row["train_images"]), row["selection"], _percent(row["validation_top1"]),
             *(_percent(row[key]) for key in ("all", "many", "medium", "few", "std")))
            for name, row in result["rows"].items()]
    print_table(["protocol", "train images", "selection", "val top-1", "All", "Many", "Medium", "Few", "Std"], rows)
    groups = ", ".join(f"{name} {classes}" for name, classes in result["groups"].items())
    click.echo(f"\ngroups (classes ranked by {result['group_counts']}): {groups}")
    click.echo(f"written to {run_dir}/eval-{protocol}.json")
