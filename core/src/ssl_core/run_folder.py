"""The run folder: the one module that knows its file names and reads and writes them.

A run folder holds ``config.yaml`` (the resolved configuration), ``metrics.jsonl`` (one line
per epoch), ``summary.json``, ``encoder.safetensors`` (the encoder alone) and
``checkpoints/epoch-NNNN[-step-SSSSSS]/`` (``state.safetensors`` + ``state.json`` with its
sha256), plus what plugins and ``ssl eval`` add through
[`RunFolder.write_json`][ssl_core.run_folder.RunFolder.write_json] and
[`RunFolder.write_file`][ssl_core.run_folder.RunFolder.write_file] (their names are kept in
``.ssl-files.json``, so ``--overwrite`` removes them and ``ssl export`` copies them). Every
file is written to a temporary name beside it and renamed into place, so a crash never leaves
a half-written file under a final name. JSON is strict: no NaN.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shutil
import warnings
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from ssl_core.config import long_tail_shortcut
from ssl_core.errors import CorruptCheckpointError, RunFolderError

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
ENCODER = "encoder.safetensors"
CHECKPOINTS = "checkpoints"
#: the logs of trackers that write locally (``--log-with tensorboard``), and each tracker's run id.
TRACKERS = "trackers"
TRACKER_RUNS = "tracker-runs.json"
STATE_TENSORS = "state.safetensors"
STATE_META = "state.json"
EVAL_FEATURES = "eval-features.safetensors"
MANIFEST = ".ssl-files.json"
#: the files of an exported model folder (``ssl export``), ready for the Hugging Face Hub.
EXPORT_WEIGHTS = "model.safetensors"
EXPORT_CONFIG = "config.json"
EXPORT_CARD = "README.md"
EXPORT_RUN_CONFIG = "run_config.yaml"
#: the safetensors ``format`` metadata of both encoder files: PyTorch tensors.
TENSOR_FORMAT = "pt"
#: the checkpoint layout this version writes (1: ssl-core 0.1, checkpoints as a callback;
#: 2: no checksum and no step checkpoints).
FORMAT = 3
_CHECKPOINT = re.compile(r"epoch-(\d+)(?:-step-(\d+))?")
_TEMPORARY = re.compile(r"\.(.+)\.(tmp|old)-\d+")


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _check_folder(folder: Path) -> None:
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise RunFolderError(f"output folder {existing} is a file")


def _make_folder(folder: Path) -> None:
    _check_folder(folder)
    folder.mkdir(parents=True, exist_ok=True)


def _non_finite(data: Any, key: str = "") -> list[str]:
    if isinstance(data, float):
        return [] if math.isfinite(data) else [key]
    if isinstance(data, dict):
        items = [(f"{key}.{k}" if key else str(k), v) for k, v in data.items()]
    elif isinstance(data, (list, tuple)):
        items = [(f"{key}[{i}]", v) for i, v in enumerate(data)]
    else:
        return []
    return [bad for sub, value in items for bad in _non_finite(value, sub)]


def _json(path: Path, data: Any, indent: int | None = None, lines: bool = False) -> str:
    """``data`` as strict JSON (one line per item if ``lines``); NaN or infinity raise RunFolderError."""
    try:
        if lines:
            return "".join(json.dumps(row, allow_nan=False) + "\n" for row in data)
        return json.dumps(data, indent=indent, allow_nan=False) + "\n"
    except ValueError:
        keys = ", ".join(_non_finite(data)) or "the top level"
        raise RunFolderError(f"{path}: NaN or infinity is not JSON; non-finite values at {keys}") from None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def atomic_write(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename; returns ``path``."""
    _make_folder(path.parent)
    tmp = _tmp(path)
    with open(tmp, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    """Write ``tensors`` as safetensors at ``path`` atomically (CPU copies, contiguous)."""
    _make_folder(path.parent)
    tmp = _tmp(path)
    save_file({k: v.detach().contiguous().cpu().clone() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def upgrade_config(raw: dict[str, Any]) -> dict[str, Any]:
    """A configuration written by ssl-core 0.1, in this version's fields.

    0.1 made checkpoints a callback: ``checkpoint`` in ``callback`` with its ``every`` and
    ``keep`` options. They become the run fields ``checkpoint_every`` and ``keep_checkpoints``.
    Its long-tail run fields become the ``long-tail`` dataset (ssl-longtail). A resolved
    configuration without ``lars_eta`` (0.1, and 0.2 before the LARS fields) trained with eta
    0.02 unclipped: it keeps those (the trust ratio's denominator is now ``|g| + wd |w|``).
    """
    raw = long_tail_shortcut(raw)
    if "optimizer" in raw and "lars_eta" not in raw:
        raw = {**raw, "lars_eta": 0.02, "lars_clip": False}
    callbacks = raw.get("callback")
    options = {kind: dict(named) for kind, named in (raw.get("options") or {}).items()}
    old = options.get("callback", {}).pop("checkpoint", None)
    if isinstance(callbacks, list) and "checkpoint" in callbacks:
        raw["callback"] = [name for name in callbacks if name != "checkpoint"]
        old = old or {}
    if old is not None:
        raw.setdefault("checkpoint_every", old.get("every", 1))
        raw.setdefault("keep_checkpoints", old.get("keep", 2))
    if options:
        raw["options"] = options
    return raw


class RunFolder:
    """One run's folder: ``RunFolder(path)``; nothing is created until something is written."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __str__(self) -> str:
        return str(self.path)

    def check_writable(self) -> None:
        """Raise RunFolderError if the folder (or its nearest existing parent) is a file."""
        _check_folder(self.path)

    def holds_run(self) -> bool:
        """Whether the folder holds a run: a ``config.yaml`` or a checkpoint."""
        return (self.path / CONFIG).is_file() or bool(self._checkpoints())

    def clear_run(self) -> None:
        """Remove the run's files (configuration, metrics, summary, encoder, checkpoints, tracker logs,
        ``eval-*`` and every file written through ``write_json`` or ``write_file``, with the folders
        they leave empty), keeping the files ssl did not write."""
        self.check_writable()
        for folder in (self.checkpoints, self.path / TRACKERS):
            if folder.is_dir():
                shutil.rmtree(folder)
        written = self._written()
        names = {CONFIG, METRICS, SUMMARY, ENCODER, EVAL_FEATURES, *written}
        for path in [*map(self.file, names), *self.path.glob("eval-*.json"), self.file(MANIFEST)]:
            path.unlink(missing_ok=True)
        for folder in sorted({self.file(name).parent for name in written} - {self.path}, reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()

    def remove_temporaries(self) -> list[Path]:
        """Remove what an interrupted write left (``.NAME.tmp-PID``, ``.NAME.old-PID``) here and in
        ``checkpoints``, and return those paths; an old checkpoint whose replacement never arrived
        is put back instead."""
        removed: list[Path] = []
        folders = {self.path, self.checkpoints, *(self.file(name).parent for name in self._written())}
        for path in [p for folder in sorted(folders) for p in folder.glob(".*")]:
            match = _TEMPORARY.fullmatch(path.name)
            if match and match[2] == "old" and not path.with_name(match[1]).exists():
                os.replace(path, path.with_name(match[1]))
            elif match:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
                removed.append(path)
        return removed

    # -- configuration, metrics, summary ------------------------------------------------------

    def write_config(self, config: dict[str, Any]) -> None:
        """``config.yaml``: the resolved configuration as plain data."""
        atomic_write(self.path / CONFIG, yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        """``config.yaml`` (an exported folder's ``run_config.yaml``) in this version's fields."""
        path = self.path / CONFIG
        if not path.is_file() and (self.path / EXPORT_RUN_CONFIG).is_file():
            path = self.path / EXPORT_RUN_CONFIG
        if not path.is_file():
            raise FileNotFoundError(f"{self.path} is not a run folder (no {CONFIG}; ssl run writes it) nor an "
                                    f"exported model (no {EXPORT_RUN_CONFIG}; ssl export writes it)")
        return upgrade_config(yaml.safe_load(path.read_text()) or {})

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """``metrics.jsonl``: one JSON object per epoch."""
        atomic_write(self.path / METRICS, _json(self.path / METRICS, history, lines=True))

    def read_metrics(self) -> list[dict[str, Any]]:
        """The epochs of ``metrics.jsonl`` (empty if there is none)."""
        path = self.path / METRICS
        return [json.loads(line) for line in path.read_text().splitlines() if line] if path.is_file() else []

    def write_summary(self, summary: dict[str, Any]) -> None:
        """``summary.json``."""
        self.write_json(SUMMARY, summary)

    def write_json(self, name: str, data: Any) -> Path:
        """Any JSON file of the run (``class_counts.json``, ``eval-linear.json``, ...)."""
        return self.write_file(name, _json(self.path / name, data, indent=1))

    def write_file(self, name: str, data: str | bytes) -> Path:
        """Any other file of the run (a picture, ``plots/curves.png``), ``name`` relative to the folder:
        written atomically and recorded, so ``--overwrite`` removes it and ``ssl export`` copies it."""
        if Path(name).is_absolute() or ".." in Path(name).parts or name in (MANIFEST, ""):
            raise ValueError(f"{name!r} is not a file name inside the run folder")
        written = self._written()
        if name not in written:
            atomic_write(self.path / MANIFEST, _json(self.path / MANIFEST, [*written, name]))
        return atomic_write(self.path / name, data)

    def _written(self) -> list[str]:
        return self.read_json(MANIFEST) or []

    def read_json(self, name: str) -> Any | None:
        """A JSON file of the run, or ``None`` if there is none."""
        path = self.path / name
        return json.loads(path.read_text()) if path.is_file() else None

    def eval_result(self, protocol: str) -> Path:
        """``eval-<protocol>.json``, the result of ``ssl eval --protocol PROTOCOL``."""
        return self.path / f"eval-{protocol}.json"

    def eval_results(self) -> dict[str, Path]:
        """The ``eval-<protocol>.json`` files of the run, by protocol."""
        return {p.name[len("eval-"):-len(".json")]: p for p in self.written_files()
                if p.parent == self.path and p.name.startswith("eval-") and p.suffix == ".json"}

    def written_files(self) -> list[Path]:
        """The run's files beyond the summary: ``eval-*.json`` and those written through ``write_json``
        or ``write_file``."""
        named = [self.file(n) for n in self._written() if n != SUMMARY]
        return sorted({p for p in [*named, *self.path.glob("eval-*.json")] if p.is_file()})

    def file(self, name: str) -> Path:
        """The path of a file of the run (for plugins that write other formats)."""
        return self.path / name

    # -- the encoder ----------------------------------------------------------------------------

    @property
    def encoder_path(self) -> Path:
        """``encoder.safetensors`` (an exported folder's ``model.safetensors``)."""
        exported = self.path / EXPORT_WEIGHTS
        return exported if exported.is_file() and not (self.path / ENCODER).is_file() else self.path / ENCODER

    def write_encoder(self, state: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
        """The encoder's ``state_dict`` alone, with ``format: pt``, its registered name and options as metadata."""
        save_tensors(self.path / ENCODER, state, {"format": TENSOR_FORMAT, **metadata})

    def read_encoder(self) -> dict[str, torch.Tensor]:
        """The tensors of ``encoder.safetensors``."""
        if not self.encoder_path.is_file():
            raise FileNotFoundError(f"{self.encoder_path} not found: the run has no exported encoder "
                                    "(ssl run writes it when training ends)")
        return load_file(str(self.encoder_path))

    # -- checkpoints ------------------------------------------------------------------------------

    @property
    def checkpoints(self) -> Path:
        """The ``checkpoints`` folder."""
        return self.path / CHECKPOINTS

    def save_checkpoint(self, epoch: int, tensors: dict[str, torch.Tensor], meta: dict[str, Any],
                        keep: int = 0, step: int = 0) -> Path:
        """Write ``checkpoints/epoch-NNNN`` (``epoch`` epochs done) or, ``step`` steps into the next
        epoch, ``epoch-NNNN-step-SSSSSS`` atomically; then keep the newest ``keep`` (0: all) in
        (epoch, step) order, never removing the one just written."""
        if epoch < 0 or step < 0:
            raise ValueError(f"checkpoint epoch {epoch} and step {step} must be >= 0")
        path = self.checkpoints / (f"epoch-{epoch:04d}" + (f"-step-{step:06d}" if step else ""))
        tmp = _tmp(path)
        shutil.rmtree(tmp, ignore_errors=True)
        _make_folder(tmp)
        try:
            save_tensors(tmp / STATE_TENSORS, tensors)
            meta = {**meta, "format": FORMAT, "sha256": _sha256(tmp / STATE_TENSORS)}
            atomic_write(tmp / STATE_META, _json(path / STATE_META, meta, indent=1))
            if path.exists():  # re-saving the same checkpoint: move the old one aside first
                old = path.with_name(f".{path.name}.old-{os.getpid()}")
                os.replace(path, old)
                os.replace(tmp, path)
                shutil.rmtree(old)
            else:
                os.replace(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if keep:
            for stale in self._checkpoints()[:-keep]:
                if stale != path:
                    shutil.rmtree(stale)
        return path

    def _checkpoints(self) -> list[Path]:
        found = [(tuple(int(n or 0) for n in match.groups()), p) for p in self.checkpoints.glob("epoch-*")
                 if (match := _CHECKPOINT.fullmatch(p.name)) and (p / STATE_META).is_file()]
        return [path for _, path in sorted(found)]

    def latest_checkpoint(self) -> Path:
        """The newest checkpoint that verifies (this folder itself if it is a checkpoint folder),
        with a warning naming each newer one that does not; RunFolderError if none does."""
        found = [self.path] if (self.path / STATE_META).is_file() else self._checkpoints()
        if not found:
            raise FileNotFoundError(f"no checkpoint in {self.path} "
                                    f"(looked for {self.checkpoints}/epoch-*/{STATE_META})")
        bad: list[str] = []
        for path in reversed(found):
            try:
                _verify(path)
            except CorruptCheckpointError as exc:
                bad.append(f"{path.name} ({exc})")
                continue
            for problem in bad:
                warnings.warn(f"skipping checkpoint {problem}; using {path}", UserWarning, stacklevel=2)
            return path
        raise RunFolderError(f"no checkpoint in {self.path} verifies: {'; '.join(bad)}")


def _verify(path: Path) -> dict[str, Any]:
    """The meta of checkpoint folder ``path`` once its files read and its tensors match their sha256."""
    tensors, meta_file = path / STATE_TENSORS, path / STATE_META
    if not meta_file.is_file():
        raise FileNotFoundError(f"{path} is not a checkpoint (no {STATE_META})")
    try:
        meta = json.loads(meta_file.read_text())
    except ValueError as exc:
        raise CorruptCheckpointError(f"{meta_file} is unreadable: {exc}") from None
    if meta.get("format", 1) > FORMAT:
        raise RunFolderError(f"checkpoint {path} has format {meta['format']}, newer than this ssl-core "
                             f"reads ({FORMAT}); upgrade ssl-core")
    try:
        with safe_open(str(tensors), "pt"):  # reads the header: catches a truncated file
            pass
    except (SafetensorError, OSError) as exc:
        raise CorruptCheckpointError(f"{tensors} is unreadable: {exc}") from None
    if meta.get("format", 1) >= 3 and _sha256(tensors) != meta.get("sha256"):
        raise CorruptCheckpointError(f"{tensors} does not match the sha256 in {meta_file}: corrupt")
    return meta


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint folder: ``(tensors, meta)``, the meta's config in this version's fields.

    Raises CorruptCheckpointError (a RunFolderError) naming a file that is unreadable or whose
    tensors do not match their sha256 (checked from format 3 on; older checkpoints have none)."""
    path = Path(path)
    meta = _verify(path)
    meta["config"] = upgrade_config(meta.get("config", {}))
    return load_file(str(path / STATE_TENSORS)), meta


def run_folder_of(checkpoint: Path) -> RunFolder:
    """The run folder a checkpoint folder belongs to (``RUN/checkpoints/epoch-...``)."""
    checkpoint = Path(checkpoint)
    if checkpoint.parent.name == CHECKPOINTS:
        return RunFolder(checkpoint.parent.parent)
    return RunFolder(checkpoint)
