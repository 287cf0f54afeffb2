"""``ssl run``: train one configuration."""

from __future__ import annotations

import click

from ssl_core.cli.tables import print_table


@click.command("run")
@click.option("--branch", help="Contrast branch (the method), e.g. simclr.")
@click.option("--encoder", help="Encoder, e.g. small-resnet, resnet18.")
@click.option("--views", help="View generator (default: the branch's).")
@click.option("--loss", help="Loss (default: the branch's).")
@click.option("--regularizer", multiple=True, help="Regularizer (repeatable).")
@click.option("--callback", multiple=True, help="Callback added to the default ones (repeatable).")
@click.option("--no-callback", multiple=True, help="Default callback to leave out, e.g. knn-monitor (repeatable).")
@click.option("--dataset", help="shapes (built in), a parquet/image folder, a parquet file or a Hub name.")
@click.option("--epochs", type=int)
@click.option("--batch-size", type=int, help="Global batch size.")
@click.option("--lr", type=float, help="Base learning rate per 256 images (peak = lr * batch / 256).")
@click.option("--seed", type=int)
@click.option("--imbalance", type=float, metavar="R",
              help="Train on a long-tailed subset with imbalance ratio R > 1 (see docs: long-tailed data).")
@click.option("--split-seed", type=int, help="Seed of the long-tailed subset's draw (default 0).")
@click.option("--balanced-twin/--long-tail", default=None,
              help="With --imbalance: train on the balanced subset of the same total (default: the long-tailed one).")
@click.option("--output-dir", help="Run folder (default runs/<branch>-<time>).")
@click.option("--mixed-precision", type=click.Choice(["no", "fp16", "bf16"]))
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), help="Training device (default auto).")
@click.option("--data-on-device", type=click.Choice(["auto", "yes", "no"]),
              help="Index an in-memory training split on the device instead of a DataLoader (default auto: when "
                   "it fits).")
@click.option("--compile", "compile_", is_flag=True, default=None,
              help="torch.compile the model's forward (falls back to eager with a message where it fails).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="YAML or TOML file with the same fields.")
@click.option("--set", "sets", multiple=True, metavar="KIND[.NAME].OPTION=VALUE",
              help="Set a component option, e.g. loss.temperature=0.1, or any run field, e.g. "
                   "run.checkpoint_every=5 (repeatable).")
@click.option("--resume", type=click.Path(exists=True, file_okay=False), help="Continue a run folder or checkpoint.")
@click.option("--overwrite", is_flag=True, help="Start over in an existing run folder (its run's files are removed first).")
@click.option("--max-bad-steps", type=int, metavar="K",
              help="Skip up to K steps with a non-finite loss or gradient instead of stopping (default 0).")
@click.option("--init-from", metavar="PATH_OR_REPO",
              help="Start the encoder from shared weights: an exported folder, a run folder or a Hub repo id.")
@click.option("--log-with", multiple=True, metavar="TRACKER",
              help="Log to an experiment tracker of HF Accelerate: tensorboard, wandb, mlflow, aim, comet_ml, ... "
                   "(repeatable; off by default; local logs go to RUN_DIR/trackers).")
@click.option("--run-name", help="The trackers' run name (default: the run folder's name).")
def run_command(config_file, sets, resume, overwrite, regularizer, callback, no_callback, log_with, compile_,
                **fields) -> None:
    """Train a self-supervised model and write config.yaml, metrics.jsonl, checkpoints and
    encoder.safetensors to the output folder."""
    from ssl_core.training.trainer import Trainer

    fields["regularizer"] = list(regularizer) or None
    fields["callback"] = list(callback) or None
    fields["no_callback"] = list(no_callback) or None
    fields["log_with"] = list(log_with) or None
    fields["compile"] = compile_
    trainer = Trainer(config_file, sets=list(sets), resume=resume, overwrite=overwrite, **fields)
    result = trainer.fit()
    if not trainer.accelerator.is_main_process:
        return
    last = result.history[-1] if result.history else {}
    rows = [
        ("branch / encoder", f"{trainer.config.branch} / {trainer.config.encoder}"),
        ("dataset", trainer.config.dataset),
        ("epochs", str(last.get("epoch", 0))),
        ("final loss", f"{last.get('loss', float('nan')):.4f}"),
        ("k-NN top-1 untrained", _percent(result.summary.get("knn_top1_untrained"))),
        ("k-NN top-1 final", _percent(result.summary.get("knn_top1"))),
        ("images/s (last epoch)", str(last.get("images_per_s", ""))),
        ("training wall time", f"{result.summary.get('wall_time_s', 0):.1f} s"),
        ("output", str(result.output_dir)),
    ]
    if trainer.config.log_with:
        rows.append(("trackers", f"{', '.join(trainer.config.log_with)} (tensorboard --logdir {result.output_dir})"
                     if "tensorboard" in trainer.config.log_with else ", ".join(trainer.config.log_with)))
    print_table(["summary", ""], rows)


def _percent(value) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"
