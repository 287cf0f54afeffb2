"""The model card of an exported encoder: what trained it, its results and how each was measured.

Built with huggingface_hub's ``ModelCardData`` (front matter: library, pipeline, tags, license,
datasets and the results as ``model-index``) and ``ModelCard``. A method's paper is what its
plugin registered (``register(..., paper=...)``); one without is listed with its description alone.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from ssl_core import registry
from ssl_core.data.sources import local_path
from ssl_core.errors import UnknownComponentError

#: how the k-NN monitor's numbers in ``summary.json`` are measured (k and T come from the run).
KNN_MONITOR = ("weighted k-NN (cosine, votes exp(s/T), k {k}, T {t:g}) during training: the whole training split, "
               "un-augmented, as the bank, the test split as queries")


def _describe(kind: str, name: str) -> tuple[str, str]:
    """The registered description and paper of a component (not installed here: said so)."""
    try:
        found = registry.spec(kind, name)
    except UnknownComponentError:
        return "(plugin not installed here)", "-"
    return found.description, found.paper or "-"


def methods(config: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """``(kind, name, description, paper)`` of the run's branch, its base branch (a wrapper's) and regularizers."""
    branch = config["branch"]
    base = config.get("options", {}).get("branch", {}).get(branch, {}).get("base")
    chosen = [("branch", branch), *([("base branch", base)] if isinstance(base, str) else []),
              *(("regularizer", name) for name in config.get("regularizer", []))]
    return [(kind, name, *_describe(kind.split()[-1], name)) for kind, name in chosen]


def _percent(value: float) -> float:
    return round(100 * value, 2)


def results(config: dict[str, Any], summary: dict[str, Any], evals: dict[str, dict[str, Any]]
            ) -> list[dict[str, Any]]:
    """Every result with its protocol: ``protocol``, ``row``, ``metric``, ``value`` (%) and ``how``."""
    found = []
    monitor = config.get("options", {}).get("callback", {}).get("knn-monitor", {})
    how = KNN_MONITOR.format(k=monitor.get("k", 200), t=monitor.get("temperature", 0.1))
    for key, when in (("knn_top1", "after the last epoch"), ("knn_top1_untrained", "before training")):
        if summary.get(key) is not None:
            found.append({"protocol": "knn-monitor", "row": when, "metric": "top-1", "value": _percent(summary[key]),
                          "how": how})
    for protocol, result in sorted(evals.items()):
        description = _describe("protocol", protocol)[0]
        columns = registry.spec("protocol", protocol).factory.columns if protocol in registry.available("protocol") else ()
        for row, values in result.get("rows", {}).items():
            how = (f"{description} {row}: {values.get('train_images')} training images, {values.get('selection')}; "
                   f"{result.get('test_size')} test images")
            if "weight decay" in str(values.get("selection")):
                how += f"; {result.get('probe')}"
            found.append({"protocol": protocol, "row": row, "metric": "top-1", "value": _percent(values["top1"]),
                          "how": how})
            for column, header in columns:
                if isinstance(values.get(column), (int, float)) and column != "all":
                    found.append({"protocol": protocol, "row": row, "metric": header,
                                  "value": _percent(values[column]), "how": how})
    return found


def _dataset(config: dict[str, Any]) -> tuple[str, str | None]:
    """The dataset's name for the card and its Hub id (None for a registered or local one)."""
    name = config.get("dataset")
    if not name:
        return "a local dataset (its path is not published)", None
    return name, (name if name not in registry.available("dataset") and local_path(name) is None else None)


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c).replace("|", "/") for c in row) + " |" for row in rows])


def _usage(source: str, encoder: dict[str, Any]) -> str:
    size, channels = encoder["image_size"], encoder["channels"]
    if encoder["mean"] is None:
        normalise = "features = encoder(images)"
    else:
        normalise = (f"mean = torch.tensor({encoder['mean']}).view(1, -1, 1, 1)\n"
                     f"std = torch.tensor({encoder['std']}).view(1, -1, 1, 1)\n"
                     "with torch.no_grad():\n    features = encoder((images - mean) / std)")
    code = (f"import torch\nfrom ssl_core import load_encoder\n\n"
            f"encoder = load_encoder({source!r}).eval()  # a Hub repo id or a local folder\n"
            f"images = torch.rand(4, {channels}, {size}, {size})  # pixels in [0, 1]\n"
            f"{normalise}\nassert features.shape == (4, {encoder['feature_dim']})")
    text = f"```python\n{code}\n```\n"
    if encoder.get("torchvision_model"):
        arch = encoder["torchvision_model"]
        text += (f"\nThe weights also load into torchvision's `{arch}` (its classifier `fc` replaced by "
                 f"`Identity`), with `strict=True`:\n\n```python\nimport torch, torchvision\n"
                 f"from safetensors.torch import load_file\n\nmodel = torchvision.models.{arch}()\n"
                 f"model.fc = torch.nn.Identity()\nmodel.load_state_dict(load_file(\"model.safetensors\"), strict=True)\n```\n")
    return text


def _pictures(files: list[str]) -> list[str]:
    """Markdown images of the exported pictures (every ``.png``), relative to the exported folder."""
    return [f"![{Path(f).stem}]({f})" for f in files if f.endswith(".png")]


def model_card(name: str, source: str, encoder: dict[str, Any], config: dict[str, Any], summary: dict[str, Any],
               evals: dict[str, dict[str, Any]], files: list[str], license: str = "apache-2.0") -> ModelCard:
    """The card of an exported encoder; ``source`` is what ``load_encoder`` is given in its usage snippet."""
    dataset, hub_dataset = _dataset(config)
    found, pictures = results(config, summary, evals), _pictures(files)
    data = ModelCardData(
        library_name="ssl-core", pipeline_tag="image-feature-extraction", license=license, model_name=name,
        tags=["ssl-core", "self-supervised-learning", config["branch"], *config.get("regularizer", []),
              encoder["encoder"]],
        datasets=[hub_dataset] if hub_dataset else None,
        eval_results=[EvalResult(task_type="image-classification", task_name="classification of frozen features",
                                 dataset_type=hub_dataset or dataset, dataset_name=dataset, dataset_split="test",
                                 metric_type="accuracy", metric_name=f"{r['protocol']} {r['row']} {r['metric']} (%)",
                                 metric_value=r["value"],
                                 metric_config=r["how"]) for r in found] or None,
    )
    method_rows = [[kind, f"`{n}`", description, paper] for kind, n, description, paper in methods(config)]
    training = [["dataset", dataset], ["epochs", config.get("epochs")], ["batch size", config.get("batch_size")],
                ["optimizer", f"{config.get('optimizer')}, lr {config.get('lr')} per 256 images, "
                              f"weight decay {config.get('weight_decay')}"],
                ["encoder", f"`{encoder['encoder']}` {encoder['options']}, {encoder['feature_dim']}-d features, "
                            f"{encoder['channels']} x {encoder['image_size']} px input"],
                ["seed", config.get("seed")], ["ssl-core", encoder["ssl_core_version"]],
                ["training time", f"{summary.get('wall_time_s', '-')} s"]]
    result_rows = [[r["protocol"], r["row"], r["metric"], f"{r['value']:.2f}", r["how"]] for r in found]
    body = "\n\n".join([
        f"# {name}",
        f"A `{encoder['encoder']}` encoder pre-trained without labels with "
        f"[ssl-core](https://pypi.org/project/ssl-core/) ({', '.join(f'`{m[1]}`' for m in methods(config))}) "
        f"on {dataset}. It maps images to pooled {encoder['feature_dim']}-d features.",
        "## Method", _table(["role", "name", "what", "paper"], method_rows),
        "## Training", _table(["", ""], training),
        "## Results",
        "Test-split top-1 accuracy (%) on the training dataset's own test split; each row says how it was "
        "measured." if found else "No evaluation was recorded (run `ssl eval RUN_DIR` before exporting).",
        *([_table(["protocol", "row", "metric", "value", "how it was measured"], result_rows)] if found else []),
        *(["## Plots", "The run's pictures.", "\n\n".join(pictures)]
          if pictures else []),
        "## Use", _usage(source, encoder).rstrip(),
        "## Files", "\n".join(f"- `{f}`" for f in files),
    ])
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}\n")
