"""Checkpoints without pickles: tensors in ``state.safetensors``, everything else in ``state.json``.

A checkpoint is a folder ``checkpoints/epoch-NNNN``. It is written into a temporary folder
beside it and renamed into place, so a crash while saving leaves the earlier checkpoints
intact and never a half-written one under a final name.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

TENSORS = "state.safetensors"
META = "state.json"


def flatten_optimizer(prefix: str, state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimiser ``state_dict`` into tensors (keys under ``prefix``) and JSON data."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, entries in state_dict["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"{prefix}.{index}.{key}"] = value
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def unflatten_optimizer(prefix: str, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the optimiser ``state_dict`` written by ``flatten_optimizer``."""
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith(prefix + "."):
            index, key = name[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(index), {})[key] = value
    for index, entries in meta["scalars"].items():
        state.setdefault(int(index), {}).update(entries)
    return {"state": state, "param_groups": meta["param_groups"]}


def rng_state() -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The torch (CPU and CUDA), NumPy and Python random states."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np.asarray(keys, dtype=np.int64))
    meta = {"numpy": [kind, int(pos), int(has_gauss), float(gauss)], "python": random.getstate()}
    return tensors, meta


def set_rng_state(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    """Restore what ``rng_state`` returned."""
    torch.set_rng_state(tensors["rng.torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda[: torch.cuda.device_count()])
    kind, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((kind, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, state, gauss_next = meta["python"]
    random.setstate((version, tuple(state), gauss_next))


def save(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Write a checkpoint folder at ``path`` atomically; returns ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    save_file({k: v.detach().contiguous().cpu().clone() for k, v in tensors.items()}, str(tmp / TENSORS))
    (tmp / META).write_text(json.dumps(meta, indent=1))
    for file in (tmp / TENSORS, tmp / META):
        with open(file, "rb") as handle:
            os.fsync(handle.fileno())
    if path.exists():  # re-saving the same epoch: move the old one aside first
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old)
    else:
        os.replace(tmp, path)
    return path


def load(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read a checkpoint folder: ``(tensors, meta)``."""
    path = Path(path)
    if not (path / META).exists() or not (path / TENSORS).exists():
        raise FileNotFoundError(f"{path} is not a checkpoint (no {TENSORS} and {META})")
    return load_file(str(path / TENSORS)), json.loads((path / META).read_text())


def latest(path: Path) -> Path:
    """The newest complete checkpoint in a run folder (or ``path`` itself if it is one)."""
    path = Path(path)
    if (path / META).exists():
        return path
    found = sorted(p for p in (path / "checkpoints").glob("epoch-*") if (p / META).exists())
    if not found:
        raise FileNotFoundError(f"no checkpoint in {path} (looked for {path}/checkpoints/epoch-*/{META})")
    return found[-1]


def prune(folder: Path, keep: int) -> None:
    """Delete all but the newest ``keep`` checkpoints in ``folder``."""
    found = sorted(p for p in Path(folder).glob("epoch-*") if p.is_dir())
    for old in found[: max(len(found) - keep, 0)]:
        shutil.rmtree(old)
