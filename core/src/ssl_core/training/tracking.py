"""Experiment trackers (``--log-with``) through HF Accelerate's trackers.

Accelerate owns the tracker integrations (``init_trackers``, ``log``, ``end_training``); this
module checks the names, flattens the configuration into hyper-parameters, names the run,
and keeps each tracker's run id in the run folder so a resumed run continues the same
tracker run where the tracker can (wandb, mlflow; tensorboard appends to the same folder).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from ssl_core.errors import ConfigError
from ssl_core.run_folder import TRACKER_RUNS, TRACKERS

#: the project name every tracker gets (wandb's project, mlflow's experiment, tensorboard's sub-folder).
PROJECT = "ssl"
#: the package each tracker needs, where it differs from the tracker's name.
_PACKAGES = {"comet_ml": "comet-ml"}


def check_trackers(names: list[str]) -> None:
    """Refuse a tracker Accelerate does not know, or one whose package is not installed."""
    from accelerate.tracking import LOGGER_TYPE_TO_CLASS, get_available_trackers

    available = {str(t) for t in get_available_trackers()}
    for name in names:
        if name not in LOGGER_TYPE_TO_CLASS:
            raise ConfigError(f"--log-with {name!r}: unknown tracker; valid: {', '.join(sorted(LOGGER_TYPE_TO_CLASS))}")
        if name not in available and not (name == "tensorboard" and importlib.util.find_spec("tensorboardX")):
            package = _PACKAGES.get(name, name)
            raise ConfigError(f"--log-with {name!r}: the tracker's package is not installed; "
                              f"pip install {package} (or leave --log-with {name} out)")


def hyperparameters(config: dict[str, Any], prefix: str = "") -> dict[str, bool | int | float | str]:
    """The resolved configuration as flat ``a.b.c`` keys with scalar values (lists and ``None`` as text)."""
    flat: dict[str, bool | int | float | str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(hyperparameters(value, f"{name}."))
        elif isinstance(value, bool | int | float | str):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def _init_kwargs(names: list[str], run_name: str, ids: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each tracker's keyword arguments: the run name, and the saved run id to continue."""
    kwargs: dict[str, dict[str, Any]] = {}
    if "wandb" in names:
        kwargs["wandb"] = {"name": run_name, **({"id": ids["wandb"], "resume": "allow"} if "wandb" in ids else {})}
    if "mlflow" in names:
        kwargs["mlflow"] = {"run_name": run_name, **({"run_id": ids["mlflow"]} if "mlflow" in ids else {})}
    return kwargs


def _run_ids(trackers: list[Any]) -> dict[str, str]:
    """The run id of each tracker that has one (for a resumed run to continue it)."""
    ids = {}
    for tracker in trackers:
        run = getattr(tracker, "tracker", None)
        run_id = getattr(run, "id", None) or getattr(getattr(run, "info", None), "run_id", None)
        if isinstance(run_id, str):
            ids[tracker.name] = run_id
    return ids


def start_trackers(accelerator: Any, folder: Any, names: list[str], run_name: str, config: dict[str, Any]) -> None:
    """``init_trackers`` with the configuration as hyper-parameters; logs of local trackers go to
    ``RUN_DIR/trackers``, and the run ids are written to ``RUN_DIR/tracker-runs.json``."""
    accelerator.project_configuration.logging_dir = str(Path(folder.path).resolve() / TRACKERS)
    ids = (folder.read_json(TRACKER_RUNS) or {}) if accelerator.is_main_process else {}
    accelerator.init_trackers(PROJECT, config=hyperparameters(config), init_kwargs=_init_kwargs(names, run_name, ids))
    if accelerator.is_main_process and (found := _run_ids(accelerator.trackers)):
        folder.write_json(TRACKER_RUNS, {**ids, **found})
