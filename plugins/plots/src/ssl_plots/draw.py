"""Draw every picture of a run folder into ``RUN_DIR/plots/``: what ``ssl plot`` and the ``plots`` callback do.

Pictures are written through the run folder (``RunFolder.write_file``): atomically, and recorded
so that ``ssl run --overwrite`` removes them with the rest of the run and ``ssl export`` copies them."""

from __future__ import annotations

from pathlib import Path

import attrs
from matplotlib.figure import Figure
from ssl_core import EvalRun, load_run

from ssl_plots.backgrounds import PROTOCOL, backgrounds_figure
from ssl_plots.callback import TSNE_POINTS
from ssl_plots.curves import curves_figure
from ssl_plots.figures import PLOTS, png, run_label, safe_name
from ssl_plots.per_class import long_tail_groups, per_class_figure, per_class_series
from ssl_plots.tsne import encoded_maps, tsne_figure


@attrs.define
class Report:
    """What was drawn into ``run``'s folder: each written PNG with its figure (for reading the plotted
    data back), and notes."""

    run: EvalRun
    pictures: dict[Path, Figure] = attrs.Factory(dict)
    notes: list[str] = attrs.Factory(list)

    @property
    def folder(self) -> Path:
        """``RUN_DIR/plots``."""
        return self.run.folder.file(PLOTS)

    def write(self, figure: Figure, name: str) -> None:
        self.pictures[self.run.folder.write_file(f"{PLOTS}/{name}", png(figure))] = figure


def _background_bias(run: EvalRun) -> float:
    """The ``background_bias`` of a run on ``shapes`` (0 for any other data)."""
    if run.config.get("dataset") != "shapes":
        return 0.0
    return float(run.config.get("options", {}).get("dataset", {}).get("shapes", {}).get("background_bias", 0.0))


def _labels(run: EvalRun, other: EvalRun | None) -> tuple[str, str]:
    """The legend labels of the two runs: their methods, with the folder names when the methods agree."""
    label = run_label(run.config, run.folder.path.name)
    if other is None:
        return label, ""
    other_label = run_label(other.config, other.folder.path.name)
    if other_label == label:
        return f"{label} ({run.folder.path.name})", f"{other_label} ({other.folder.path.name})"
    return label, other_label


def plot_run(run_dir: str | Path, compare: str | Path | None = None, *, tsne_points: int = TSNE_POINTS,
             device: str = "auto") -> Report:
    """Write ``curves.png``, ``per_class.png``, ``tsne.png`` and (after ``ssl eval --protocol background``)
    ``backgrounds.png``; with ``compare``, also ``curves-vs-OTHER.png`` and ``backgrounds-vs-OTHER.png``."""
    run = load_run(run_dir, device, labels=False)
    other = load_run(compare, device, labels=False) if compare is not None else None
    label, other_label = _labels(run, other)
    report, evals = Report(run), run.eval_results()
    report.write(curves_figure([(label, run.metrics, run.summary)]), "curves.png")

    untrained, trained, labels, count = encoded_maps(run, tsne_points)
    if labels is None:
        report.notes.append(f"dataset {run.config.get('dataset')!r} has no labels: the t-SNE map is uncoloured and "
                            "there are no per-class bars")
    report.write(tsne_figure(untrained, trained, labels, run.data.class_names,
                             f"t-SNE of {count} test images' features ({label}, seed {run.config.get('seed')})"),
                 "tsne.png")

    if run.num_classes is not None:
        series = per_class_series(run.summary, evals)
        if series:
            names = run.data.class_names or [str(c) for c in range(run.num_classes)]
            report.write(per_class_figure(series, names, long_tail_groups(run.config, evals, run.num_classes)),
                         "per_class.png")
        else:
            report.notes.append(f"no per-class accuracy to draw: train with the knn-monitor callback or run "
                                f"`ssl eval {run.folder}`")

    if PROTOCOL in evals:
        report.write(backgrounds_figure({label: evals[PROTOCOL]}), "backgrounds.png")
    elif _background_bias(run) > 0:
        report.notes.append(f"run `ssl eval {run.folder} --protocol background` to draw backgrounds.png")

    if other is not None:
        suffix = f"-vs-{safe_name(other.folder.path.name)}.png"
        report.write(curves_figure([(label, run.metrics, run.summary), (other_label, other.metrics, other.summary)]),
                     f"curves{suffix}")
        other_evals = other.eval_results()
        if PROTOCOL in evals and PROTOCOL in other_evals:
            report.write(backgrounds_figure({label: evals[PROTOCOL], other_label: other_evals[PROTOCOL]}),
                         f"backgrounds{suffix}")
        else:
            missing = [str(r.folder) for r, e in ((run, evals), (other, other_evals)) if PROTOCOL not in e]
            report.notes.append(f"no background comparison: run `ssl eval RUN_DIR --protocol background` on "
                                f"{' and '.join(missing)}")
    return report
