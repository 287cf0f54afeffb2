"""The run configuration: one attrs class, filled from defaults, the branch, a file and flags.

Precedence, lowest first: the core defaults below, the selected branch's run defaults, the
``--config`` file (YAML or TOML, the same field names), the command-line flags, and
``--set KIND.OPTION=VALUE`` / ``--set KIND.NAME.OPTION=VALUE`` / ``--set run.FIELD=VALUE``.
Component options live in ``options[kind][name]``. [`resolve`][ssl_core.config.resolve] is
the one place where names, the dataset source, the branch's defaults and every component's
options are resolved: afterwards ``options[kind][name]`` holds each selected component's
validated option object, which the trainer builds the component from.
"""

from __future__ import annotations

import copy
import os
import tomllib
from pathlib import Path
from typing import Any

import attrs
import yaml

from ssl_core import registry
from ssl_core.data.sources import local_path
from ssl_core.errors import ConfigError
from ssl_core.options import in_range, non_negative, one_of, option, positive

#: selection fields holding one component name, and the ones holding a list of names.
SINGLE_KINDS = ("encoder", "views", "branch", "loss", "dataset")
LIST_KINDS = ("regularizer", "callback")
#: the kinds a run selects (``--set KIND...`` and ``options`` keys), and the run's own fields.
RUN_KINDS = (*SINGLE_KINDS, *LIST_KINDS)
RUN = "run"
#: run fields of ssl-core 0.1, now shortcuts for the options of ssl-longtail's dataset ``long-tail``.
LONG_TAIL_SHORTCUTS = ("imbalance", "split_seed", "balanced_twin")


def _names(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    return list(value)


@attrs.define
class RunConfig:
    """Everything a run needs; ``config.yaml`` in the output folder is this, fully resolved."""

    branch: str = option("simclr", "contrast branch (the method)")
    encoder: str = option("small-resnet", "encoder")
    views: str | None = option(None, "view generator (None: the branch's default)")
    loss: str | None = option(None, "loss (None: the branch's default)")
    regularizer: list = option([], "regularizers added to the loss", converter=_names)
    callback: list = option([], "callbacks added to the default ones (after resolution: every callback of the run)",
                            converter=_names)
    no_callback: list = option([], "default callbacks to leave out", converter=_names)
    dataset: str = option("shapes", "a registered dataset, or a path / Hub name read with HF datasets")
    epochs: int = option(15, "training epochs", validator=positive)
    batch_size: int = option(128, "global batch size (split over processes; at least 2)", validator=in_range(
        2, why=" (a batch of one has no negatives for a contrastive loss and no batch-norm statistics)"))
    optimizer: str = option("sgd", "sgd (momentum), lars or adamw", validator=one_of("sgd", "lars", "adamw"))
    lr: float = option(0.3, "base learning rate per 256 images: the peak is lr * batch_size / 256",
                       validator=positive, converter=float)
    momentum: float = option(0.9, "momentum (sgd, lars) or beta1 (adamw)", converter=float)
    lars_eta: float = option(0.001, "LARS trust coefficient eta: a weight's local lr is "
                                    "eta * norm(w) / (norm(g) + wd * norm(w))", validator=positive, converter=float)
    lars_clip: bool = option(False, "clip the LARS local lr at the global lr (LARC, solo-learn's clip_lr)")
    weight_decay: float = option(5e-4, "weight decay", validator=non_negative, converter=float)
    warmup_epochs: float = option(1.0, "linear warm-up length in epochs", validator=non_negative, converter=float)
    final_lr_ratio: float = option(0.0, "cosine end value as a fraction of lr", validator=non_negative, converter=float)
    mixed_precision: str = option("no", "no, fp16 or bf16", validator=one_of("no", "fp16", "bf16"))
    device: str = option("auto", "auto, cpu, cuda or mps", validator=one_of("auto", "cpu", "cuda", "mps"))
    data_on_device: str = option("auto", "index a training split held in memory on the device, without DataLoader: "
                                         "auto (when it fits), yes or no", validator=one_of("auto", "yes", "no"))
    channels_last: str = option("auto", "channels-last memory format of the model and views: auto (on CUDA), yes "
                                        "or no", validator=one_of("auto", "yes", "no"))
    compile: bool = option(False, "torch.compile the model's forward (training goes on without it where it fails)")
    normalize: str = option("imagenet", "input normalisation: imagenet mean/std or none",
                            validator=one_of("imagenet", "none"))
    seed: int = option(0, "seed of initialisation, data order and augmentation",
                       validator=in_range(0, 2**32 - 1))
    num_workers: int = option(0, "data-loading worker processes", validator=non_negative)
    checkpoint_every: int = option(1, "write a checkpoint every N epochs (and after the last)", validator=positive)
    keep_checkpoints: int = option(2, "newest checkpoints kept (0: keep all)", validator=non_negative)
    checkpoint_every_steps: int = option(0, "also write a checkpoint every N steps within an epoch (0: off)",
                                         validator=non_negative)
    max_bad_steps: int = option(0, "steps with a non-finite loss or gradient that may be skipped before the run "
                                   "stops (above 0 costs one host sync per step)", validator=non_negative)
    log_every_steps: int = option(10, "progress-bar update, tracker step log and non-finite check every N steps",
                                  validator=positive)
    log_with: list = option([], "experiment trackers of HF Accelerate (tensorboard, wandb, mlflow, ...)",
                            converter=_names)
    run_name: str | None = option(None, "the trackers' run name (None: the output folder's name)")
    init_from: str | None = option(None, "start the encoder from shared weights: an exported folder, a run folder "
                                         "or a Hub repo id (see ssl export, ssl push)")
    output_dir: str | None = option(None, "output folder (None: runs/<branch>-<time>)")
    options: dict = option({}, "component options, by kind, then component name, then option")

    def selected(self, kind: str) -> list[str]:
        """The registered component names selected for ``kind`` (the dataset's source for ``dataset``)."""
        if kind == "dataset":
            return [dataset_source(self.dataset)[0]]
        value = getattr(self, kind)
        return list(value) if kind in LIST_KINDS else [value]

    def component_options(self, kind: str, name: str) -> Any:
        """The resolved option object of the selected component ``name`` of ``kind``."""
        return self.options[kind][name]


def _default(field: str) -> Any:
    default = attrs.fields_dict(RunConfig)[field].default
    return default.factory() if isinstance(default, attrs.Factory) else default  # type: ignore[arg-type]


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML parse error on one line: the problem and where it is."""
    mark = getattr(exc, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    return f"{getattr(exc, 'problem', None) or ' '.join(str(exc).split())}{where}"


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (``.yaml``/``.yml``) or TOML (``.toml``) run configuration: a mapping of run fields."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no config file at {path}")
    if path.suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"config file {path} must end in .yaml, .yml or .toml")
    try:
        data = tomllib.loads(path.read_text()) if path.suffix == ".toml" else yaml.safe_load(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"config file {path} is not valid YAML: {_yaml_problem(exc)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        fields = ", ".join(f.name for f in attrs.fields(RunConfig))
        raise ConfigError(f"config file {path} holds a {type(data).__name__} at the top level; it must be a mapping "
                          f"of run fields to values (valid fields: {fields})")
    return data


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``update``, merging nested dicts."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def dataset_source(name: str) -> tuple[str, dict[str, Any]]:
    """The registered dataset for ``--dataset NAME``, else ``hf`` with ``path`` NAME: absolute when
    NAME is a local path (which must exist), else a Hub name."""
    if name in registry.available("dataset") or ("dataset", name) in registry.PROVIDERS:
        registry.spec("dataset", name)  # a first-party dataset whose plugin is missing: say which to install
        return name, {}
    valid = (f"registered datasets: {', '.join(sorted(registry.available('dataset')))}; or a parquet or image "
             "folder, a .parquet file or a Hub name (owner/name)")
    if not name:
        raise ConfigError(f"--dataset is empty; valid: {valid}")
    path = local_path(name)
    if path is None:
        return "hf", {"path": name}
    if not path.exists():
        raise ConfigError(f"--dataset {name!r}: no file or folder at {path}; valid: {valid}")
    return "hf", {"path": str(path)}


def _parse_set(assignment: str) -> tuple[list[str], Any]:
    key, sep, text = assignment.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) not in (2, 3):
        raise ConfigError(f"--set {assignment!r}: expected KIND.OPTION=VALUE, KIND.NAME.OPTION=VALUE or "
                          "run.FIELD=VALUE")
    if parts[0] not in (RUN, *RUN_KINDS):
        raise ConfigError(f"--set {assignment!r}: unknown kind {parts[0]!r}; valid: {RUN}, {', '.join(RUN_KINDS)}")
    if parts[0] == RUN and len(parts) != 2:
        raise ConfigError(f"--set {assignment!r}: expected run.FIELD=VALUE")
    try:
        return parts, yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {assignment!r}: the value {text!r} is not valid YAML ({_yaml_problem(exc)}); "
                          "quote text with special characters, write lists as [a, b]") from None


def apply_set(raw: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one ``KIND.OPTION=VALUE``, ``KIND.NAME.OPTION=VALUE`` or ``run.FIELD=VALUE`` (VALUE parsed as YAML)."""
    parts, value = _parse_set(assignment)
    kind = parts[0]
    if kind == RUN:
        _check_fields({parts[1]}, f"--set {assignment!r}: ")
        return {**raw, parts[1]: value}
    if len(parts) == 3:
        name, field = parts[1], parts[2]
    else:
        field = parts[1]
        selected = _names(raw[kind] if kind in raw else _default(kind))
        if kind == "dataset" and selected:
            selected = [dataset_source(selected[0])[0]]
        if kind == "callback":
            selected = _callbacks(raw)
        if len(selected) != 1:
            raise ConfigError(
                f"--set {assignment!r}: {len(selected)} {kind} components are selected "
                f"({', '.join(selected) or 'none'}); write {kind}.NAME.{field}=VALUE"
            )
        name = selected[0]
    return deep_merge(raw, {"options": {kind: {name: {field: value}}}})


def _check_fields(fields: set[str], prefix: str = "") -> None:
    known = {f.name for f in attrs.fields(RunConfig)}
    unknown = sorted(fields - known)
    if unknown:
        raise ConfigError(f"{prefix}unknown config field(s) {', '.join(unknown)}; valid fields: {', '.join(sorted(known))}")


def _callbacks(raw: dict[str, Any]) -> list[str]:
    """The run's callbacks: the registered defaults plus ``callback`` minus ``no_callback``."""
    registered = registry.components("callback")
    extra, left_out = _names(raw.get("callback") or []), _names(raw.get("no_callback") or [])
    # SSL_NO_CALLBACK (a comma list) leaves callbacks out of every run, e.g. a test suite's; names
    # not installed are ignored, as the variable applies to every environment alike
    left_out += [n for n in os.environ.get("SSL_NO_CALLBACK", "").split(",") if n in registered and n not in extra]
    for name in [*extra, *left_out]:
        if name == "checkpoint":
            raise ConfigError("'checkpoint' is no longer a callback: the trainer writes checkpoints; set the run "
                              "fields checkpoint_every and keep_checkpoints (e.g. --set run.checkpoint_every=5)")
        if name not in registered:
            registry.spec("callback", name)  # the error lists the valid names
    defaults = [name for name, found in registered.items() if found.default]
    chosen = defaults + [name for name in extra if name not in defaults]
    return [name for name in chosen if name not in left_out]


def long_tail_shortcut(raw: dict[str, Any]) -> dict[str, Any]:
    """``imbalance``, ``split_seed`` and ``balanced_twin`` as the ``long-tail`` dataset of
    ssl-longtail drawing from the selected dataset: given as run fields (``--imbalance``,
    ``--split-seed``, ``--balanced-twin``, configurations of ssl-core 0.1) or as options of a
    dataset that has no such option (``--set dataset.imbalance=R``)."""
    options = {kind: dict(by_name) for kind, by_name in (raw.get("options") or {}).items()}
    mentioned = set(raw).union(*map(set, options.get("dataset", {}).values())) & set(LONG_TAIL_SHORTCUTS)
    if not mentioned:
        return raw
    source = raw.get("dataset", _default("dataset"))
    named = dataset_source(source)[0]
    source_options = dict(options.get("dataset", {}).get(named, {}))
    if set(source_options) & set(LONG_TAIL_SHORTCUTS):
        own = {f.alias for f in attrs.fields(registry.spec("dataset", named).config)}
        for key in (k for k in LONG_TAIL_SHORTCUTS if k in source_options and k not in own):
            value = source_options.pop(key)
            if raw.get(key) not in (None, value):
                raise ConfigError(f"{key} is given twice ({raw[key]} and dataset.{key}={value}); give it once")
            raw = {**raw, key: value}
        options["dataset"][named] = source_options
        raw = {**raw, "options": options}
    given = {key: raw[key] for key in LONG_TAIL_SHORTCUTS if raw.get(key) is not None}
    raw = {key: value for key, value in raw.items() if key not in LONG_TAIL_SHORTCUTS}
    if not given:
        return raw
    if given.get("imbalance") in (None, 1, 1.0):
        if given.get("balanced_twin"):
            raise ConfigError("balanced_twin needs an imbalance R > 1 (the twin has the long-tailed subset's total)")
        return raw
    options.setdefault("dataset", {}).pop(named, None)
    options["dataset"]["long-tail"] = {"source": source, "source_options": source_options, **given}
    return {**raw, "dataset": "long-tail", "options": options}


def resolve(raw: dict[str, Any], sets: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Merge core defaults, branch defaults, ``raw`` and ``sets``; build every component's options."""
    _check_fields(set(raw) - set(LONG_TAIL_SHORTCUTS))
    early = [a.split(".", 1)[0].strip() in (RUN, "branch") for a in sets]
    for assignment in (a for a, first in zip(sets, early) if first):  # they may change the branch's defaults
        raw = apply_set(raw, assignment)
    branch = raw.get("branch", _default("branch"))
    found = registry.spec("branch", branch)
    defaults = found.run_defaults(raw.get("options", {}).get("branch", {}).get(branch, {}))
    merged = deep_merge(defaults, raw)
    for assignment in (a for a, first in zip(sets, early) if not first):
        merged = apply_set(merged, assignment)
    if isinstance(merged.get("dataset"), str):  # a local path, absolute: the run folder works from anywhere
        merged["dataset"] = dataset_source(merged["dataset"])[1].get("path", merged["dataset"])
    merged = long_tail_shortcut(merged)
    merged["callback"] = _callbacks(merged)
    try:
        config = RunConfig(**merged)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"bad run configuration: {exc}") from exc
    for kind in ("views", "loss"):
        if getattr(config, kind) is None:
            raise ConfigError(f"branch {config.branch!r} sets no default {kind}; choose one with --{kind}")
    config.options = _resolved_options(config, defaults.get("options", {}))
    return config


def _resolved_options(config: RunConfig, branch_defaults: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every selected component's option object, defaults filled in and validated. Options the
    branch's defaults give for components the run does not select (its default loss when
    another is chosen) are dropped; any other option for an unselected component is an error."""
    given = config.options
    for kind in given:
        if kind not in RUN_KINDS:
            raise ConfigError(f"options for unknown kind {kind!r}; valid kinds: {', '.join(RUN_KINDS)}")
    resolved: dict[str, dict[str, Any]] = {}
    for kind in RUN_KINDS:
        names = config.selected(kind)
        sources = {config.dataset: dataset_source(config.dataset)} if kind == "dataset" else {n: (n, {}) for n in names}
        strays = set(given.get(kind, {})) - {source for source, _ in sources.values()}
        for stray in strays - set(branch_defaults.get(kind, {})):
            raise ConfigError(
                f"options given for {kind} {stray!r}, which this run does not select "
                f"(selected: {', '.join(names) or 'none'})"
            )
        for source, implied in sources.values():
            options = {**implied, **given.get(kind, {}).get(source, {})}
            resolved.setdefault(kind, {})[source] = registry.make_config(kind, source, options)
    return resolved


def to_plain(config: RunConfig) -> dict[str, Any]:
    """The configuration as plain YAML/JSON-ready data (tuples become lists)."""

    def plain(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: plain(x) for k, x in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(x) for x in value]
        return value

    return plain(attrs.asdict(config, recurse=True))
