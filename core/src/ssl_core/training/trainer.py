"""The trainer: builds the selected components and runs them on HF Accelerate."""

from __future__ import annotations

import contextlib
import itertools
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from accelerate.state import AcceleratorState
from accelerate.utils import ProjectConfiguration, broadcast_object_list, set_seed
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from ssl_core import plugins, registry
from ssl_core.components import Component, walk
from ssl_core.config import RunConfig, deep_merge, read_config_file, resolve, to_plain
from ssl_core.context import Batch, BuildContext, TrainContext
from ssl_core.data.sources import DatasetSplits
from ssl_core.errors import ConfigError, RunFolderError
from ssl_core.evaluation.features import extract_features
from ssl_core.nn.distributed import broadcast_
from ssl_core.run_folder import TRACKERS, RunFolder, load_checkpoint, run_folder_of
from ssl_core.training import checkpoint
from ssl_core.training.batches import Batches, DeviceBatches, loader_batches, on_device
from ssl_core.training.compiled import CompiledForward
from ssl_core.training.guard import FiniteGuard
from ssl_core.training.model import IMAGENET_MEAN, IMAGENET_STD, Normalize, SSLModel
from ssl_core.training.optim import build_optimizer
from ssl_core.training.schedule import warmup_cosine
from ssl_core.training.tracking import check_trackers, start_trackers


@attrs.define
class RunResult:
    """What a finished run returns: its folder, per-epoch metrics and summary."""

    output_dir: Path
    history: list[dict[str, Any]]
    summary: dict[str, Any]


#: run fields a resumed run may change; every other field and option is the checkpoint's.
RESUMABLE = ("epochs", "output_dir", "device", "num_workers", "callback", "no_callback", "checkpoint_every",
             "keep_checkpoints", "checkpoint_every_steps", "max_bad_steps", "log_every_steps", "log_with", "run_name",
             "data_on_device", "channels_last", "compile", "options.callback")


def _seed_for(*parts: int) -> int:
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(1)[0])


def _differences(old: Any, new: Any, path: str = "") -> list[str]:
    """``path: old -> new`` for every leaf where two plain configurations differ."""
    if isinstance(old, dict) and isinstance(new, dict):
        return [d for key in {**old, **new} for d in _differences(old.get(key), new.get(key), f"{path}{key}.")]
    return [] if old == new else [f"{path.rstrip('.')}: {old!r} -> {new!r}"]


class Trainer:
    """Runs one configuration; the Python equivalent of ``ssl run``.

    ``Trainer(branch="simclr", epochs=1, sets=["loss.temperature=0.1"]).fit()`` takes the
    same fields as the command line (and as a ``--config`` file). ``config`` may be a
    [`RunConfig`][ssl_core.config.RunConfig], a dict or a YAML/TOML path; ``resume`` a run
    folder or checkpoint folder to continue (its saved configuration is the base, and the
    run goes on writing into that run folder).
    """

    def __init__(self, config: RunConfig | dict | str | Path | None = None, *, sets: list[str] | tuple = (),
                 resume: str | Path | None = None, overwrite: bool = False, **fields: Any) -> None:
        raw: dict[str, Any] = {}
        if resume and overwrite:
            raise ConfigError("--resume continues a run and --overwrite starts it over; give one of them")
        self.overwrite = overwrite
        self.resume_from = RunFolder(resume).latest_checkpoint() if resume else None
        self._resume_meta: dict[str, Any] | None = None
        if self.resume_from is not None:
            self._resume_tensors, self._resume_meta = load_checkpoint(self.resume_from)
            raw = {**self._resume_meta["config"], "output_dir": str(run_folder_of(self.resume_from))}
        if isinstance(config, RunConfig):
            config = to_plain(config)
        elif isinstance(config, (str, Path)):
            config = read_config_file(config)
        raw = deep_merge(raw, config or {})
        raw = deep_merge(raw, {k: v for k, v in fields.items() if v is not None})
        self.config = resolve(raw, sets)
        if self._resume_meta is not None:
            self._check_resume(self._resume_meta)
        self.summary: dict[str, Any] = {}
        self.history: list[dict[str, Any]] = []
        self._stop_signal: int | None = None

    def _check_resume(self, meta: dict[str, Any]) -> None:
        """Refuse a resume that changes what the checkpoint was trained with, or has nothing to do."""
        saved = to_plain(resolve({**meta["config"], "output_dir": self.config.output_dir}))
        changed = [d for d in _differences(saved, to_plain(self.config)) if not d.startswith(RESUMABLE)]
        if changed:
            raise ConfigError(f"cannot change on resume: {'; '.join(changed)} (checkpoint {self.resume_from}); "
                              f"a resumed run may change only {', '.join(RESUMABLE)}")
        done, epochs = meta["epoch"], self.config.epochs
        if epochs < done or (epochs == done and not meta.get("step")):
            raise ConfigError(f"run {run_folder_of(self.resume_from)} already trained {done} epochs, so "
                              f"epochs {epochs} leaves nothing to do; give --epochs N with N > {done} to train on")

    # -- building ---------------------------------------------------------------------------

    def _create(self, kind: str, name: str, context: BuildContext) -> Any:
        return registry.build(kind, name, self.config.component_options(kind, name), context)

    def _build_data(self) -> DatasetSplits:
        """The dataset; the JSON files it asks for (a subset's class counts) go into the run folder."""
        data = self._create("dataset", self.config.selected("dataset")[0], BuildContext())
        if self.accelerator.is_main_process:
            for name, content in data.run_files.items():
                self.folder.write_json(name, content)
        return data

    def _build_components(self, data: DatasetSplits, steps_per_epoch: int) -> None:
        cfg = self.config
        context = BuildContext(image_size=data.image_size, channels=data.channels, num_train=len(data.train),
                               num_classes=data.num_classes, batch_size=cfg.batch_size,
                               steps_per_epoch=steps_per_epoch, epochs=cfg.epochs)
        context.encoder = self._create("encoder", cfg.encoder, context)
        if cfg.init_from and self.resume_from is None:  # a resumed run's checkpoint holds the weights
            self._init_encoder(context.encoder)
        self._input = {"image_size": str(data.image_size), "channels": str(data.channels)}
        context.loss = self._create("loss", cfg.loss, context)
        self.views = context.views = self._create("views", cfg.views, context)
        self.branch = context.branch = self._create("branch", cfg.branch, context)
        regularizers = {name: self._create("regularizer", name, context) for name in cfg.regularizer}
        self.callbacks = sorted((self._create("callback", n, context) for n in cfg.callback), key=lambda c: c.order)
        self.model = SSLModel(self.branch, regularizers)
        top: list[Component] = [self.views, context.loss, self.branch, *regularizers.values(), *self.callbacks]
        self.components = [c for component in top for c in walk(component)]

    def _init_encoder(self, encoder: nn.Module) -> None:
        """Copy the shared weights of ``init_from`` into the run's freshly built encoder."""
        from ssl_core.sharing import load_encoder

        shared = load_encoder(self.config.init_from)
        try:
            encoder.load_state_dict(shared.state_dict(), strict=True)
        except RuntimeError as exc:
            raise ConfigError(f"--init-from {self.config.init_from}: its weights ({shared.ssl_name}) do not fit this "
                              f"run's encoder {self.config.encoder!r} with its options; give the same --encoder and "
                              f"options: {str(exc).splitlines()[0]} ...") from None

    def _output_dir(self) -> Path:
        if self.config.output_dir is None:
            base = name = f"runs/{self.config.branch}-{datetime.now():%Y%m%d-%H%M%S}"
            for n in itertools.count(2):  # two runs started in the same second get -2, -3, ...
                if not RunFolder(name).holds_run():
                    break
                name = f"{base}-{n}"
            chosen = [name]
            if self.accelerator.num_processes > 1:  # the main process's clock names the folder
                broadcast_object_list(chosen)
            self.config.output_dir = chosen[0]
        if not self.config.output_dir:
            raise ConfigError("output_dir is empty; give a folder, or leave it out for runs/<branch>-<time>")
        return Path(self.config.output_dir)

    def _prepare_folder(self) -> None:
        """Refuse a folder holding another run (unless resuming it or ``overwrite``); tidy a killed run's files."""
        self.folder.check_writable()
        continued = self.resume_from is not None and run_folder_of(self.resume_from).path.resolve() == \
            self.folder.path.resolve()
        if not continued and self.folder.holds_run() and not self.overwrite:
            raise RunFolderError(f"{self.folder} holds a run (config.yaml or checkpoints); continue it with "
                                 f"--resume {self.folder}, start it over with --overwrite, or choose another "
                                 "--output-dir")
        if self.accelerator.is_main_process:
            self.folder.remove_temporaries()
            if not continued and self.overwrite:
                self.folder.clear_run()
        self.accelerator.wait_for_everyone()

    # -- evaluation helper for callbacks (TrainContext.features) --------------------------------

    def encoder_features(self, dataset) -> tuple[torch.Tensor, torch.Tensor]:
        """Pooled features of the encoder on an un-augmented dataset, in eval mode."""
        return extract_features(self.branch.encoder, dataset, self.normalize, self.accelerator.device,
                                num_workers=self.config.num_workers)

    # -- checkpoints ---------------------------------------------------------------------------

    def _optimizers(self) -> dict[str, torch.optim.Optimizer]:
        found = {"main": self.optimizer}
        for component in self.components:
            for name, opt in component.extra_optimizers().items():
                found[f"{getattr(component, 'ssl_name', type(component).__name__)}.{name}"] = opt
        return found

    def save_checkpoint(self, ctx: TrainContext, step: int = 0, partial: dict[str, Any] | None = None) -> Path | None:
        """Write the checkpoint of the epochs done, ``step`` steps into the next one (main process only).

        ``partial`` is the unfinished epoch's state (its summed metrics and seconds)."""
        self.guard.check(ctx.steps_per_epoch)
        self.accelerator.wait_for_everyone()
        if not self.accelerator.is_main_process:
            return None
        model = self.accelerator.unwrap_model(self.model)
        tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
        meta: dict[str, Any] = {"epoch": ctx.epoch, "global_step": ctx.global_step, "step": step,
                                "partial": partial, "config": to_plain(self.config), "history": self.history,
                                "summary": self.summary, "optimizers": {}}
        for name, opt in self._optimizers().items():
            opt_tensors, opt_meta = checkpoint.flatten_optimizer(f"optimizer.{name}", opt.state_dict())
            tensors.update(opt_tensors)
            meta["optimizers"][name] = opt_meta
        rng_tensors, meta["rng"] = checkpoint.rng_state()
        tensors.update(rng_tensors)
        return self.folder.save_checkpoint(ctx.epoch, tensors, meta, keep=self.config.keep_checkpoints, step=step)

    def _load_checkpoint(self, ctx: TrainContext) -> None:
        tensors, meta = self._resume_tensors, self._resume_meta
        model = self.accelerator.unwrap_model(self.model)
        state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        try:
            model.load_state_dict(state)
        except RuntimeError as exc:
            old = meta.get("format", 1) < 2
            raise RunFolderError(
                f"checkpoint {self.resume_from} does not fit the model this version builds"
                + (" (it was written by ssl-core 0.1, whose wrapper branches stored other module names)" if old else "")
                + f": {str(exc).splitlines()[0]} ...") from None
        optimizers = self._optimizers()
        for name, opt_meta in meta["optimizers"].items():
            if name not in optimizers:
                raise ConfigError(f"checkpoint {self.resume_from} has optimizer {name!r} that this run does not build")
            optimizers[name].load_state_dict(checkpoint.unflatten_optimizer(f"optimizer.{name}", tensors, opt_meta))
        checkpoint.set_rng_state(tensors, meta["rng"])
        ctx.epoch, ctx.global_step = meta["epoch"], meta["global_step"]
        self._resume_step, self._resume_partial = meta.get("step", 0), meta.get("partial")
        self.history = meta["history"]
        self.summary.clear()
        self.summary.update(meta["summary"])

    def _save_encoder(self) -> None:
        self.guard.check(self.steps_per_epoch)
        encoder = self.accelerator.unwrap_model(self.model).branch.encoder
        options = to_plain(self.config)["options"]["encoder"][self.config.encoder]
        self.folder.write_encoder(encoder.state_dict(), {"encoder": self.config.encoder, "options": json.dumps(options),
                                                         **self._input})

    # -- the loop ------------------------------------------------------------------------------

    def _make_batch(self, images: torch.Tensor, index: torch.Tensor, labels: torch.Tensor | None, step: int) -> Batch:
        device = self.accelerator.device
        x = images.to(device, non_blocking=True).float().div_(255)
        generator = torch.Generator(device=device)
        generator.manual_seed(_seed_for(self.config.seed, step, self.accelerator.process_index))
        views = self.views(x, generator)
        size = views[0].shape[-2:]
        image = x if x.shape[-2:] == size else F.interpolate(x, size=tuple(size), mode="bilinear",
                                                             antialias=True, align_corners=False)
        views, image = [self.normalize(v) for v in views], self.normalize(image)
        if self.channels_last:
            views = [v.contiguous(memory_format=torch.channels_last) for v in views]
            image = image.contiguous(memory_format=torch.channels_last)
        return Batch(views=views, image=image, index=index.to(device, non_blocking=True),
                     label=None if labels is None else labels.to(device, non_blocking=True))

    def _sampler(self, data: DatasetSplits) -> DistributedSampler:
        cfg, acc = self.config, self.accelerator
        if cfg.batch_size % acc.num_processes:
            raise ConfigError(f"batch size {cfg.batch_size} is not divisible by the {acc.num_processes} processes")
        if cfg.batch_size > len(data.train):
            raise ConfigError(f"batch size {cfg.batch_size} exceeds the {len(data.train)} training images; "
                              f"use --batch-size {len(data.train)} or less")
        return DistributedSampler(data.train, num_replicas=acc.num_processes, rank=acc.process_index,
                                  shuffle=True, seed=cfg.seed, drop_last=True)

    def _batches(self, data: DatasetSplits, sampler: DistributedSampler, start: int) -> Batches:
        """The epoch's batches from step ``start`` on: indexed on the device, or through a DataLoader."""
        per_process = self.per_process_batch
        order = list(sampler)[start * per_process:]
        if self.device_batches is not None:
            return self.device_batches(order)
        return loader_batches(data.train, order, per_process, self.config.num_workers,
                              pin_memory=self.accelerator.device.type == "cuda")

    def _accelerator(self) -> Accelerator:
        device = self.config.device
        if device == "cuda" and not torch.cuda.is_available():
            raise ConfigError("device 'cuda' was asked for but no CUDA device is available; use --device cpu")
        if device == "mps" and not torch.backends.mps.is_available():
            raise ConfigError("device 'mps' was asked for but MPS is not available")
        # The accelerator state is a process-wide singleton: forget the previous run's precision
        # (the distributed set-up, in PartialState, is kept), so one process can run many trainers.
        AcceleratorState._reset_state()
        # Without cpu=True, accelerate runs processes started by torchrun on a machine without a
        # GPU as independent single-process runs.
        cpu = device == "cpu" or (device == "auto" and not (torch.cuda.is_available()
                                                            or torch.backends.mps.is_available()))
        check_trackers(self.config.log_with)
        # the trackers' folder is set once the run folder is known (start_trackers)
        return Accelerator(cpu=cpu, mixed_precision=self.config.mixed_precision, log_with=self.config.log_with or None,
                           project_config=ProjectConfiguration(logging_dir=TRACKERS))

    def fit(self) -> RunResult:
        """Train for the configured epochs (continuing a checkpoint when resuming).

        SIGINT (Ctrl-C) or SIGTERM during an epoch writes a checkpoint at the current step,
        then stops (``--resume`` continues mid-epoch); a second one stops at once."""
        cfg = self.config
        self.accelerator = acc = self._accelerator()
        set_seed(cfg.seed)
        self.output_dir = self._output_dir()
        self.folder = RunFolder(self.output_dir)
        self._prepare_folder()
        data = self._build_data()
        sampler = self._sampler(data)
        self.per_process_batch = per_process = cfg.batch_size // acc.num_processes
        self.steps_per_epoch = steps = len(sampler) // per_process
        self.device_batches = DeviceBatches(data.train, acc.device, per_process) if on_device(
            data.train, cfg.data_on_device, acc.device, cfg.dataset) else None
        self._build_components(data, steps)
        mean, std = (IMAGENET_MEAN, IMAGENET_STD) if cfg.normalize == "imagenet" and data.channels == 3 else (None, None)
        self.normalize = Normalize(mean, std).to(acc.device)
        if acc.device.type == "cuda" and acc.num_processes > 1 and self.branch.sync_batchnorm:
            self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model)
        groups = self.branch.parameter_groups() + [g for r in self.model.regularizers.values()
                                                   for g in r.parameter_groups()]
        if acc.num_processes > 1:
            self._keep_own_parameters_out_of_ddp(groups)
        self.peak_lr = cfg.lr * cfg.batch_size / 256
        self.optimizer = build_optimizer(cfg.optimizer, groups, self.peak_lr, cfg.momentum, cfg.weight_decay,
                                         lars_eta=cfg.lars_eta, lars_clip=cfg.lars_clip)
        self.channels_last = cfg.channels_last == "yes" or (cfg.channels_last == "auto" and acc.device.type == "cuda")
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.model, self.optimizer = acc.prepare(self.model, self.optimizer)
        self.forward = CompiledForward(self.model) if cfg.compile else self.model
        self.views = self.views.to(acc.device) if isinstance(self.views, nn.Module) else self.views
        ctx = TrainContext(accelerator=acc, model=self.model, branch=acc.unwrap_model(self.model).branch, data=data,
                           batch_size=cfg.batch_size, epochs=cfg.epochs, steps_per_epoch=steps,
                           total_steps=steps * cfg.epochs, features=self.encoder_features, summary=self.summary)
        self._resume_step, self._resume_partial = 0, None
        if self.resume_from is not None:
            self._load_checkpoint(ctx)
        if acc.is_main_process:
            self.folder.write_config(to_plain(cfg))
            self.folder.write_metrics(self.history)
        if cfg.log_with:
            start_trackers(acc, self.folder, cfg.log_with, cfg.run_name or self.output_dir.name, to_plain(cfg))
        try:
            self._train(ctx, data, sampler)
        finally:
            if cfg.log_with:
                acc.end_training()
        return RunResult(self.output_dir, self.history, self.summary)

    def _train(self, ctx: TrainContext, data: DatasetSplits, sampler: DistributedSampler) -> None:
        """The epochs, then the encoder, the summary and the ``after_run`` hooks."""
        cfg, acc, steps = self.config, self.accelerator, self.steps_per_epoch
        warmup = round(cfg.warmup_epochs * steps)
        self.guard = FiniteGuard(acc.device, cfg.max_bad_steps, lambda step: warmup_cosine(
            step, ctx.total_steps, warmup, self.peak_lr, self.peak_lr * cfg.final_lr_ratio),
            lambda flag: acc.reduce(flag, reduction="sum"))
        self._clock = (time.perf_counter(), self.summary.get("wall_time_s", 0.0))
        for component in self.components:
            component.on_fit_start(ctx)
        with self._stop_on_signals():
            while ctx.epoch < cfg.epochs:
                start, self._resume_step = self._resume_step, 0
                sampler.set_epoch(ctx.epoch)
                self._train_epoch(ctx, self._batches(data, sampler, start), warmup, start)
                if ctx.epoch % cfg.checkpoint_every == 0 or ctx.epoch == cfg.epochs:
                    self.save_checkpoint(ctx)
        for component in self.components:
            component.on_fit_end(ctx)
        if cfg.compile:
            self.summary["compiled"] = self.forward.active
        acc.wait_for_everyone()
        self._update_wall_time()
        if acc.is_main_process:
            self._save_encoder()
            self.folder.write_summary(self.summary)
            self._after_run()

    def _after_run(self) -> None:
        """The ``after_run`` hook of every plugin; one that raises is reported and skipped."""
        plugins.load_plugins()
        config = to_plain(self.config)
        for plugin_name, hook in plugins.hook_implementations("after_run"):
            try:
                hook(run_dir=self.output_dir, summary=dict(self.summary), config=config)
            except Exception as exc:  # plugin work after a run must not fail the run
                info = plugins.plugin_info(plugin_name)
                print(f"ssl: after_run of {info.package} failed ({type(exc).__name__}: {exc})", file=sys.stderr)

    def _keep_own_parameters_out_of_ddp(self, groups: list[dict[str, Any]]) -> None:
        """Leave the trainable parameters outside the main optimiser's groups (those a component
        trains with its own optimiser) out of DDP, after copying process 0's values to all.

        DDP expects each parameter it manages to get its gradient from the step's loss: one that
        gets none fails the next step, and a component's own backward would trigger DDP's
        gradient hooks outside the step. The component keeps such parameters in sync itself
        (``ssl_core.nn.distributed.average_gradients`` before its optimiser steps).
        """
        optimised = {id(p) for group in groups for p in group["params"]}
        own = {name: p for name, p in self.model.named_parameters() if p.requires_grad and id(p) not in optimised}
        for parameter in own.values():
            broadcast_(parameter.data)
        if own:
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(self.model, list(own))

    def _update_wall_time(self) -> None:
        """Training wall time so far, summed over resumed sessions."""
        started, before = self._clock
        self.summary["wall_time_s"] = round(before + time.perf_counter() - started, 2)

    @contextlib.contextmanager
    def _stop_on_signals(self) -> Iterator[None]:
        """While training, SIGINT and SIGTERM ask the loop to checkpoint and stop (a second one: at once)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def ask(signum: int, frame: Any) -> None:
            if self._stop_signal is not None:
                raise KeyboardInterrupt
            self._stop_signal = signum

        previous = {sig: signal.signal(sig, ask) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop_requested(self, synced: bool) -> bool:
        """Whether a signal asked to stop; with several processes, agreed on where they sync anyway."""
        if self.accelerator.num_processes == 1:
            return self._stop_signal is not None
        if not synced:
            return False
        flag = torch.tensor(float(self._stop_signal is not None), device=self.accelerator.device)
        return bool(self.accelerator.reduce(flag, reduction="sum") > 0)

    def _train_step(self, ctx: TrainContext, batch: Batch, guarded: list[torch.Tensor] | None
                    ) -> tuple[dict[str, torch.Tensor], bool]:
        """Forward, backward and optimiser step on ``batch``: the loss terms, and whether the step
        was taken (a bad step is skipped under ``--max-bad-steps``)."""
        for component in self.components:
            component.on_step_start(ctx, batch)
        with self.accelerator.autocast():
            loss, logs = self.forward(batch)
        self.accelerator.backward(loss)
        terms = {"loss": loss.detach(), **logs}
        if self.guard.observe(ctx.global_step, terms, guarded):
            self.optimizer.zero_grad(set_to_none=True)
            self.summary.setdefault("skipped_bad_steps", []).append(ctx.global_step)
            return terms, False
        for component in self.components:
            component.on_after_backward(ctx, batch)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        for component in self.components:
            component.on_step_end(ctx)
        return terms, True

    def _train_epoch(self, ctx: TrainContext, batches: Batches, warmup: int, start: int = 0) -> None:
        """One epoch, from step ``start`` on (a mid-epoch resume); commits metrics at its end."""
        cfg, acc = self.config, self.accelerator
        ctx.metrics = {}
        for component in self.components:
            component.on_epoch_start(ctx)
        partial = self._resume_partial or {"sums": {}, "seconds": 0.0, "counted": 0}
        self._resume_partial = None
        sums = {k: torch.tensor(v, device=acc.device) for k, v in partial["sums"].items()}
        counted = partial["counted"]  # steps whose metrics are summed (a skipped bad step is not)
        started = time.perf_counter() - partial["seconds"]
        guarded = None if acc.scaler is not None else [p for g in self.optimizer.param_groups for p in g["params"]]
        with tqdm(total=ctx.steps_per_epoch, initial=start, desc=f"epoch {ctx.epoch + 1}/{cfg.epochs}", unit="step",
                  disable=not acc.is_main_process, dynamic_ncols=True) as bar:
            for i, (images, index, labels) in enumerate(batches, start):
                ctx.lr = warmup_cosine(ctx.global_step, ctx.total_steps, warmup, self.peak_lr,
                                       self.peak_lr * cfg.final_lr_ratio)
                for group in self.optimizer.param_groups:
                    if not group.get("fixed_lr"):
                        group["lr"] = ctx.lr
                terms, stepped = self._train_step(ctx, self._make_batch(images, index, labels, ctx.global_step), guarded)
                if stepped:
                    counted += 1
                    for key, value in terms.items():
                        sums[key] = sums.get(key, 0.0) + value.float()
                ctx.global_step += 1
                bar.update(1)
                synced = i % cfg.log_every_steps == 0 or i + 1 == ctx.steps_per_epoch
                if synced:
                    rate = (i + 1 - start) * cfg.batch_size / (time.perf_counter() - started)
                    bar.set_postfix(loss=f"{terms['loss'].item():.4f}", img_s=f"{rate:.0f}")
                    self.guard.check(ctx.steps_per_epoch)
                    if cfg.log_with:
                        acc.log({**{f"train/{k}": v.item() for k, v in terms.items()}, "train/lr": ctx.lr,
                                 "train/images_per_s": rate}, step=ctx.global_step)
                last = i + 1 == ctx.steps_per_epoch
                every = cfg.checkpoint_every_steps
                if not last and (self._stop_requested(synced) or (every and ctx.global_step % every == 0)):
                    state = {"sums": {k: float(v) for k, v in sums.items()}, "seconds": time.perf_counter() - started,
                             "counted": counted}
                    saved = self.save_checkpoint(ctx, step=i + 1, partial=state)
                    if self._stop_signal is not None:
                        where = f" to {saved}" if saved else ""
                        print(f"ssl: stopped at step {i + 1} of epoch {ctx.epoch + 1}; checkpoint written{where}; "
                              f"continue with: ssl run --resume {self.folder}", file=sys.stderr)
                        raise KeyboardInterrupt
        self.guard.check(ctx.steps_per_epoch)
        seconds = time.perf_counter() - started
        means = {k: acc.reduce(v / max(counted, 1), reduction="mean").item() for k, v in sums.items()}
        ctx.epoch += 1
        ctx.metrics.update({"epoch": ctx.epoch, **{k: round(v, 6) for k, v in means.items()}, "lr": ctx.lr,
                            "images_per_s": round((ctx.steps_per_epoch - start) * cfg.batch_size / seconds, 1),
                            "epoch_time_s": round(seconds, 2)})
        self.history.append(ctx.metrics)  # callbacks may still add to it (k-NN); the checkpoint saves it
        self._update_wall_time()
        for component in self.components:
            component.on_epoch_end(ctx)
        if acc.is_main_process:
            self.folder.write_metrics(self.history)
        if cfg.log_with:
            acc.log({f"epoch/{k}": v for k, v in ctx.metrics.items() if isinstance(v, int | float)},
                    step=ctx.global_step)
        if ctx.epoch < cfg.epochs and self._stop_requested(True):
            self.save_checkpoint(ctx)
            print(f"ssl: stopped after epoch {ctx.epoch}; continue with: ssl run --resume {self.folder}",
                  file=sys.stderr)
            raise KeyboardInterrupt
