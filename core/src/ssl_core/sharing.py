"""Sharing an encoder: ``ssl export`` (a Hub-ready folder), ``ssl push`` and ``load_encoder``.

An exported folder holds ``model.safetensors`` (the encoder alone, in torchvision's key layout,
metadata ``format: pt`` plus its name and options), ``config.json`` (what rebuilds it), the
model card ``README.md``, ``run_config.yaml`` (local paths made relative to the run folder or
set to null), the run's metrics, summary and JSON results, every other file its components
wrote through the run folder (``RunFolder.write_file``: pictures, for instance) and on request
its checkpoints.
Loading reads safetensors only, with ``strict=True``: never a pickle.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import torchvision
import yaml
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch import nn

from ssl_core import registry
from ssl_core.config import dataset_source
from ssl_core.context import BuildContext
from ssl_core.data.sources import local_path
from ssl_core.errors import HubError, RunFolderError
from ssl_core.model_card import model_card
from ssl_core.run_folder import (CHECKPOINTS, ENCODER, EXPORT_CARD, EXPORT_CONFIG, EXPORT_RUN_CONFIG, EXPORT_WEIGHTS,
                                 METRICS, STATE_META, SUMMARY, TENSOR_FORMAT, RunFolder, atomic_write, save_tensors)
from ssl_core.training.model import IMAGENET_MEAN, IMAGENET_STD

#: files that are pickles: refused by name, never opened.
PICKLES = ("pytorch_model.bin", "model.bin", "model.pt", "model.pth", "model.ckpt")


def _metadata(path: Path) -> dict[str, str]:
    try:
        with safe_open(str(path), "pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError) as exc:
        raise RunFolderError(f"{path} is not a readable safetensors file: {exc}") from None


def build_encoder(encoder: dict[str, Any]) -> nn.Module:
    """The registered encoder ``config.json`` describes, freshly initialised."""
    context = BuildContext(image_size=encoder["image_size"], channels=encoder["channels"])
    return registry.create("encoder", encoder["encoder"], context, **encoder["options"])


def _input_size(meta: dict[str, str], config: dict[str, Any]) -> tuple[int, int]:
    """``(image_size, channels)`` of the run: in the encoder's metadata, else from its dataset built again."""
    if "image_size" in meta:
        return int(meta["image_size"]), int(meta["channels"])
    source, implied = dataset_source(config.get("dataset", "shapes"))
    options = {**implied, **config.get("options", {}).get("dataset", {}).get(source, {})}
    data = registry.create("dataset", source, BuildContext(), **options)
    return data.image_size, data.channels


def _torchvision_match(name: str, encoder: nn.Module) -> str | None:
    """``name`` when torchvision's model of that name (classifier ``fc`` aside) has the encoder's keys and shapes."""
    if name not in torchvision.models.list_models(module=torchvision.models):
        return None
    reference = {k: v.shape for k, v in torchvision.models.get_model(name, weights=None).state_dict().items()
                 if not k.startswith("fc.")}
    return name if reference == {k: v.shape for k, v in encoder.state_dict().items()} else None


def encoder_config(folder: RunFolder) -> dict[str, Any]:
    """``config.json`` of a run folder's encoder: everything that rebuilds it and feeds it."""
    meta, config = _metadata(folder.encoder_path), folder.read_config()
    name = meta.get("encoder", config["encoder"])
    options = json.loads(meta["options"]) if "options" in meta else config["options"]["encoder"][name]
    image_size, channels = _input_size(meta, config)
    imagenet = config.get("normalize", "imagenet") == "imagenet" and channels == 3
    described = {"library_name": "ssl-core", "ssl_core_version": version("ssl-core"), "encoder": name,
                 "options": options, "image_size": image_size, "channels": channels,
                 "mean": list(IMAGENET_MEAN) if imagenet else None, "std": list(IMAGENET_STD) if imagenet else None}
    encoder = build_encoder(described)
    return {**described, "feature_dim": encoder.feature_dim, "torchvision_model": _torchvision_match(name, encoder)}


def public_config(config: dict[str, Any], run_dir: Path) -> tuple[dict[str, Any], list[str]]:
    """The run configuration with local paths made relative to ``run_dir`` (``.`` for the run folder
    itself) or set to None when outside it, and the keys so removed."""
    removed: list[str] = []
    root = run_dir.resolve()

    def clean(value: Any, key: str) -> Any:
        if isinstance(value, dict):
            return {k: clean(v, f"{key}.{k}" if key else k) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v, f"{key}[{i}]") for i, v in enumerate(value)]
        if not isinstance(value, str):
            return value
        path = Path(value).expanduser()
        if not path.is_absolute() and not (key in ("output_dir", "init_from") and local_path(value)):
            return value
        path = path.resolve()
        if path == root or root in path.parents:
            return path.relative_to(root).as_posix()
        removed.append(key)
        return None

    return clean(config, ""), removed


def _check_out(out: Path, run_dir: Path, overwrite: bool) -> None:
    if out.resolve() == run_dir.resolve() or run_dir.resolve() in out.resolve().parents:
        raise RunFolderError(f"OUT_DIR {out} is inside the run folder {run_dir}; give a folder outside it")
    if out.exists() and not out.is_dir():
        raise RunFolderError(f"OUT_DIR {out} is a file; give a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise RunFolderError(f"OUT_DIR {out} is not empty; give --overwrite to replace it, or another folder")
        described = out / EXPORT_CONFIG
        if not described.is_file() or json.loads(described.read_text()).get("library_name") != "ssl-core":
            raise RunFolderError(f"OUT_DIR {out} is not empty and holds no ssl export ({EXPORT_CONFIG} of ssl-core); "
                                 "--overwrite replaces only an earlier export: give an empty or new folder")


def export(run_dir: str | Path, out_dir: str | Path, *, include_checkpoints: bool = False, overwrite: bool = False,
           repo_id: str | None = None, license: str = "apache-2.0") -> Path:
    """Write the Hub-ready folder of a finished run (written beside ``out_dir``, then renamed into place)."""
    folder, out = RunFolder(run_dir), Path(out_dir)
    if not (folder.path / ENCODER).is_file():
        raise RunFolderError(f"{folder} holds no {ENCODER}: give the folder of a finished run (ssl run writes it "
                             "when training ends)")
    _check_out(out, folder.path, overwrite)
    encoder = encoder_config(folder)
    config, removed = public_config(folder.read_config(), folder.path)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        save_tensors(tmp / EXPORT_WEIGHTS, folder.read_encoder(), {
            "format": TENSOR_FORMAT, "encoder": encoder["encoder"], "options": json.dumps(encoder["options"])})
        atomic_write(tmp / EXPORT_CONFIG, json.dumps(encoder, indent=2) + "\n")
        note = f"# local paths set to null on export: {', '.join(removed)}\n" if removed else ""
        atomic_write(tmp / EXPORT_RUN_CONFIG, note + yaml.safe_dump(config, sort_keys=False))
        copied = [p for p in (folder.file(METRICS), folder.file(SUMMARY), *folder.written_files()) if p.is_file()]
        for path in copied:
            target = tmp / path.relative_to(folder.path)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, target)
        if include_checkpoints and folder.checkpoints.is_dir():
            shutil.copytree(folder.checkpoints, tmp / CHECKPOINTS)
            for meta_file in (tmp / CHECKPOINTS).glob(f"*/{STATE_META}"):  # their configs hold local paths too
                meta = json.loads(meta_file.read_text())
                meta["config"] = public_config(meta.get("config", {}), folder.path)[0]
                meta_file.write_text(json.dumps(meta, indent=1) + "\n")
        evals = {protocol: json.loads(path.read_text()) for protocol, path in folder.eval_results().items()}
        for protocol, result in evals.items():
            result.pop("run", None)  # the run's local path
            (tmp / folder.eval_result(protocol).name).write_text(json.dumps(result, indent=1) + "\n")
        files = sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if p.is_file()) + [EXPORT_CARD]
        card = model_card(repo_id or out.name, repo_id or out.name, encoder, config, folder.read_json(SUMMARY) or {},
                          evals, sorted(files), license)
        card.save(tmp / EXPORT_CARD)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def listing(folder: Path) -> list[tuple[str, int]]:
    """``(relative path, bytes)`` of every file under ``folder``, sorted."""
    return sorted((p.relative_to(folder).as_posix(), p.stat().st_size) for p in folder.rglob("*") if p.is_file())


# -- the Hub --------------------------------------------------------------------------------------


def _hub_error(exc: Exception, repo_id: str, revision: str | None) -> HubError:
    """One clear message for what huggingface_hub raised."""
    from huggingface_hub.errors import (EntryNotFoundError, HfHubHTTPError, HFValidationError,
                                        LocalEntryNotFoundError, OfflineModeIsEnabled, RepositoryNotFoundError,
                                        RevisionNotFoundError)

    status = getattr(getattr(exc, "response", None), "status_code", None)
    if isinstance(exc, HFValidationError):
        return HubError(f"repo id {repo_id!r} is malformed ({str(exc).splitlines()[0]}); expected OWNER/NAME "
                        "of letters, digits, '-', '_' and '.'")
    if isinstance(exc, OfflineModeIsEnabled):
        return HubError(f"cannot reach the Hub for {repo_id!r}: HF_HUB_OFFLINE is set; unset it (or use "
                        "--dry-run OUT_DIR to write the folder without uploading)")
    if isinstance(exc, LocalEntryNotFoundError):
        return HubError(f"{repo_id!r} (revision {revision or 'main'}) is not in the local Hugging Face cache and the "
                        "Hub cannot be reached (offline, or HF_HUB_OFFLINE is set)")
    if isinstance(exc, RevisionNotFoundError):
        return HubError(f"revision {revision!r} does not exist in {repo_id!r}; create the branch first or leave out "
                        "--revision (main)")
    if isinstance(exc, RepositoryNotFoundError):
        return HubError(f"no model repo {repo_id!r} on the Hub, or it is private and you are not logged in "
                        "(HF_TOKEN, or `hf auth login`)")
    if isinstance(exc, EntryNotFoundError):
        return HubError(f"{repo_id!r} has no {EXPORT_WEIGHTS} and {EXPORT_CONFIG}; ssl-core loads only what "
                        "ssl export writes (safetensors, never a pickle such as pytorch_model.bin)")
    if status in (401, 403):
        return HubError(f"the Hub refused {repo_id!r} (HTTP {status}): not logged in or no write access; set HF_TOKEN "
                        "or run `hf auth login` with a write token")
    if isinstance(exc, HfHubHTTPError):
        return HubError(f"the Hub answered HTTP {status} for {repo_id!r}: {str(exc).splitlines()[0]}")
    return HubError(f"cannot reach the Hub for {repo_id!r} ({type(exc).__name__}: {exc}); check the network")


def _hub_errors() -> tuple[type[Exception], ...]:
    import httpx2
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError, OfflineModeIsEnabled

    return HFValidationError, OfflineModeIsEnabled, EntryNotFoundError, HfHubHTTPError, httpx2.TransportError


def push(run_dir: str | Path, repo_id: str, *, private: bool = False, revision: str | None = None,
         create_pr: bool = False, license: str = "apache-2.0") -> str | None:
    """Export the run and upload it to ``repo_id`` (created if missing); the commit's URL.

    Only the main process uploads (``RANK`` 0 or unset); the token is huggingface_hub's (HF_TOKEN, login)."""
    from huggingface_hub import HfApi, get_token
    from huggingface_hub.utils import validate_repo_id

    if os.environ.get("RANK", "0") != "0":
        return None
    try:
        validate_repo_id(repo_id)
        if "/" not in repo_id:
            raise HubError(f"repo id {repo_id!r} is malformed: expected OWNER/NAME, e.g. your-name/{repo_id}")
        if get_token() is None:
            raise HubError("not logged in to the Hugging Face Hub: set HF_TOKEN or run `hf auth login` (a write token)")
        with tempfile.TemporaryDirectory() as tmp:
            out = export(run_dir, Path(tmp) / "export", repo_id=repo_id, license=license)
            api = HfApi()
            api.create_repo(repo_id, private=private or None, exist_ok=True, repo_type="model")
            commit = api.upload_folder(repo_id=repo_id, folder_path=out, revision=revision, create_pr=create_pr,
                                       repo_type="model", commit_message="Upload encoder exported by ssl-core")
    except _hub_errors() as exc:
        raise _hub_error(exc, repo_id, revision) from None
    return str(getattr(commit, "pr_url", None) or commit)


def _resolve(path_or_repo_id: str | Path, revision: str | None) -> Path:
    """The local folder of an exported model: the path itself, or its Hub snapshot (offline: from the cache)."""
    from huggingface_hub import hf_hub_download

    path = Path(path_or_repo_id).expanduser()
    if path.is_file():
        kind = "a pickle" if path.name in PICKLES or path.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl") else "a file"
        raise RunFolderError(f"{path} is {kind}; give the folder that holds {EXPORT_WEIGHTS} and {EXPORT_CONFIG} "
                             "(ssl export writes it; ssl-core loads only safetensors, never pickles)")
    if path.is_dir() or local_path(str(path_or_repo_id)) is not None:
        if not path.is_dir():
            raise FileNotFoundError(f"no folder at {path}: give an exported folder, a run folder or a Hub repo id")
        return path
    repo_id = str(path_or_repo_id)
    try:
        hf_hub_download(repo_id, EXPORT_CONFIG, revision=revision)
        return Path(hf_hub_download(repo_id, EXPORT_WEIGHTS, revision=revision)).parent
    except _hub_errors() as exc:
        raise _hub_error(exc, repo_id, revision) from None


def load_encoder(path_or_repo_id: str | Path, revision: str | None = None) -> nn.Module:
    """The encoder of an exported folder, a run folder or a Hub repo (``revision``: branch, tag or commit).

    Reads ``model.safetensors`` (a run folder: ``encoder.safetensors``) only, never a pickle, into the
    encoder ``config.json`` describes, with ``strict=True``; a repo is read from the local cache when
    offline. Its plugin must be installed. Returns the module in eval mode."""
    folder = _resolve(path_or_repo_id, revision)
    weights = folder / EXPORT_WEIGHTS if (folder / EXPORT_WEIGHTS).is_file() else folder / ENCODER
    if not weights.is_file():
        pickles = [p.name for p in folder.iterdir() if p.name in PICKLES or p.suffix in (".bin", ".pt", ".pth")]
        found = f"; it holds {', '.join(sorted(pickles))}, a pickle, which ssl-core never loads" if pickles else ""
        raise RunFolderError(f"{folder} has no {EXPORT_WEIGHTS} (nor a run's {ENCODER}){found}; export the run "
                             "with ssl export")
    described = folder / EXPORT_CONFIG
    encoder_info = json.loads(described.read_text()) if described.is_file() else encoder_config(RunFolder(folder))
    encoder = build_encoder(encoder_info)
    try:
        state = load_file(str(weights))
    except (SafetensorError, OSError) as exc:
        raise RunFolderError(f"{weights} is not a readable safetensors file: {exc}") from None
    try:
        encoder.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise RunFolderError(f"{weights} does not fit encoder {encoder_info['encoder']!r} with options "
                             f"{encoder_info['options']}: {' '.join(str(exc).split())[:400]}") from None
    return encoder.eval()
