"""The run folder: the one module that knows its file names and reads and writes them.

A run folder holds ``config.yaml`` (the resolved configuration), ``metrics.jsonl`` (one line
per epoch), ``summary.json``, ``encoder.safetensors`` (the encoder alone) and
``checkpoints/epoch-NNNN/`` (``state.safetensors`` + ``state.json``), plus what plugins and
``ssl eval`` add through [`RunFolder.write_json`][ssl_core.run_folder.RunFolder.write_json].
Every file is written to a temporary name beside it and renamed into place, so a crash
never leaves a half-written file under a final name.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors.torch import load_file, save_file

from ssl_core.config import long_tail_shortcut
from ssl_core.errors import RunFolderError

CONFIG = "config.yaml"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
ENCODER = "encoder.safetensors"
CHECKPOINTS = "checkpoints"
STATE_TENSORS = "state.safetensors"
STATE_META = "state.json"
EVAL_FEATURES = "eval-features.safetensors"
#: the checkpoint layout this version writes (1: ssl-core 0.1, checkpoints as a callback).
FORMAT = 2


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def atomic_write(path: Path, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename; returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    with open(tmp, "wb") as handle:
        handle.write(data.encode() if isinstance(data, str) else data)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def save_tensors(path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    """Write ``tensors`` as safetensors at ``path`` atomically (CPU copies, contiguous)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    save_file({k: v.detach().contiguous().cpu().clone() for k, v in tensors.items()}, str(tmp), metadata=metadata)
    os.replace(tmp, path)
    return path


def upgrade_config(raw: dict[str, Any]) -> dict[str, Any]:
    """A configuration written by ssl-core 0.1, in this version's fields.

    0.1 made checkpoints a callback: ``checkpoint`` in ``callback`` with its ``every`` and
    ``keep`` options. They become the run fields ``checkpoint_every`` and ``keep_checkpoints``.
    Its long-tail run fields become the ``long-tail`` dataset (ssl-longtail).
    """
    raw = long_tail_shortcut(raw)
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

    # -- configuration, metrics, summary ------------------------------------------------------

    def write_config(self, config: dict[str, Any]) -> None:
        """``config.yaml``: the resolved configuration as plain data."""
        atomic_write(self.path / CONFIG, yaml.safe_dump(config, sort_keys=False))

    def read_config(self) -> dict[str, Any]:
        """``config.yaml`` in this version's fields."""
        path = self.path / CONFIG
        if not path.is_file():
            raise FileNotFoundError(f"{self.path} is not a run folder (no {CONFIG}; ssl run writes it)")
        return upgrade_config(yaml.safe_load(path.read_text()) or {})

    def write_metrics(self, history: list[dict[str, Any]]) -> None:
        """``metrics.jsonl``: one JSON object per epoch."""
        atomic_write(self.path / METRICS, "".join(json.dumps(row) + "\n" for row in history))

    def read_metrics(self) -> list[dict[str, Any]]:
        """The epochs of ``metrics.jsonl`` (empty if there is none)."""
        path = self.path / METRICS
        return [json.loads(line) for line in path.read_text().splitlines() if line] if path.is_file() else []

    def write_summary(self, summary: dict[str, Any]) -> None:
        """``summary.json``."""
        self.write_json(SUMMARY, summary)

    def write_json(self, name: str, data: Any) -> Path:
        """Any JSON file of the run (``class_counts.json``, ``eval-linear.json``, ...)."""
        return atomic_write(self.path / name, json.dumps(data, indent=1) + "\n")

    def read_json(self, name: str) -> Any | None:
        """A JSON file of the run, or ``None`` if there is none."""
        path = self.path / name
        return json.loads(path.read_text()) if path.is_file() else None

    def eval_result(self, protocol: str) -> Path:
        """``eval-<protocol>.json``, the result of ``ssl eval --protocol PROTOCOL``."""
        return self.path / f"eval-{protocol}.json"

    def file(self, name: str) -> Path:
        """The path of a file of the run (for plugins that write other formats)."""
        return self.path / name

    # -- the encoder ----------------------------------------------------------------------------

    @property
    def encoder_path(self) -> Path:
        """``encoder.safetensors``."""
        return self.path / ENCODER

    def write_encoder(self, state: dict[str, torch.Tensor], metadata: dict[str, str]) -> None:
        """The encoder's ``state_dict`` alone, with its registered name and options as metadata."""
        save_tensors(self.encoder_path, state, metadata)

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
                        keep: int = 0) -> Path:
        """Write ``checkpoints/epoch-NNNN`` atomically, then keep the newest ``keep`` (0: all)."""
        path = self.checkpoints / f"epoch-{epoch:04d}"
        tmp = _tmp(path)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_tensors(tmp / STATE_TENSORS, tensors)
        atomic_write(tmp / STATE_META, json.dumps({**meta, "format": FORMAT}, indent=1))
        if path.exists():  # re-saving the same epoch: move the old one aside first
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
        if keep:
            for stale in self._checkpoints()[:-keep]:
                shutil.rmtree(stale)
        return path

    def _checkpoints(self) -> list[Path]:
        return sorted(p for p in self.checkpoints.glob("epoch-*") if (p / STATE_META).is_file())

    def latest_checkpoint(self) -> Path:
        """The newest complete checkpoint (this folder itself if it is a checkpoint folder)."""
        if (self.path / STATE_META).is_file():
            return self.path
        found = self._checkpoints()
        if not found:
            raise FileNotFoundError(f"no checkpoint in {self.path} "
                                    f"(looked for {self.checkpoints}/epoch-*/{STATE_META})")
        return found[-1]


def load_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint folder: ``(tensors, meta)``, the meta's config in this version's fields."""
    path = Path(path)
    if not (path / STATE_META).is_file() or not (path / STATE_TENSORS).is_file():
        raise FileNotFoundError(f"{path} is not a checkpoint (no {STATE_TENSORS} and {STATE_META})")
    meta = json.loads((path / STATE_META).read_text())
    if meta.get("format", 1) > FORMAT:
        raise RunFolderError(f"checkpoint {path} has format {meta['format']}, newer than this ssl-core "
                             f"reads ({FORMAT}); upgrade ssl-core")
    meta["config"] = upgrade_config(meta.get("config", {}))
    return load_file(str(path / STATE_TENSORS)), meta


def run_folder_of(checkpoint: Path) -> RunFolder:
    """The run folder a checkpoint folder belongs to (``RUN/checkpoints/epoch-NNNN``)."""
    checkpoint = Path(checkpoint)
    if checkpoint.parent.name == CHECKPOINTS:
        return RunFolder(checkpoint.parent.parent)
    return RunFolder(checkpoint)
