"""The fast path: device-resident batches, float32 losses under bf16, channels-last and --compile."""

from __future__ import annotations

import pytest
import torch
from ssl_core import Callback, ConfigError, Loss, LossOutput, create, hookimpl
from ssl_core.data.sources import TensorImageDataset
from ssl_core.nn import full_precision
from ssl_core.training import batches as batch_source
from ssl_core.training.trainer import Trainer

SEEN: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]] = []


class Recorder(Callback):
    """Keeps every step's sample indices, first view and labels."""

    def __init__(self, config: object = None, context: object = None) -> None:
        pass

    def on_step_start(self, ctx, batch) -> None:
        SEEN.append((batch.index.clone(), batch.views[0].clone(), batch.label))


class Plugin:
    @hookimpl
    def register_callbacks(self, register) -> None:
        register("fast-path-recorder", Recorder, description="test")


@pytest.fixture
def recorder(add_plugin):
    add_plugin(Plugin(), "fast-path-test")
    SEEN.clear()
    return SEEN


def _steps(run: dict, **fields) -> tuple[Trainer, list]:
    trainer = Trainer({**run, "callback": ["fast-path-recorder"], "epochs": 2, **fields})
    trainer.fit()
    steps = list(SEEN)
    SEEN.clear()
    return trainer, steps


def test_device_resident_batches_are_the_data_loader_batches_under_a_seed(tiny_run, recorder, tmp_path):
    on, on_steps = _steps(tiny_run, data_on_device="yes")
    off, off_steps = _steps({**tiny_run, "output_dir": str(tmp_path / "off")}, data_on_device="no")
    assert on.device_batches is not None and off.device_batches is None
    assert len(on_steps) == len(off_steps) == 2 * on.steps_per_epoch > 2
    for (index, view, label), (index_off, view_off, label_off) in zip(on_steps, off_steps):
        assert torch.equal(index, index_off) and torch.equal(view, view_off) and torch.equal(label, label_off)
    assert on.history[-1]["loss"] == off.history[-1]["loss"]


def test_device_batches_resume_mid_epoch_from_the_same_order():
    images = torch.arange(10, dtype=torch.uint8).reshape(10, 1, 1, 1).expand(10, 3, 2, 2).contiguous()
    data = TensorImageDataset(images, torch.arange(10) % 3)
    batches = list(batch_source.DeviceBatches(data, torch.device("cpu"), 3)([9, 2, 5, 0, 1, 7, 3]))
    assert [b[1].tolist() for b in batches] == [[9, 2, 5], [0, 1, 7]]  # the partial last batch is dropped
    assert [b[2].tolist() for b in batches] == [[0, 2, 2], [0, 1, 1]]
    assert torch.equal(batches[1][0][:, 0, 0, 0], torch.tensor([0, 1, 7], dtype=torch.uint8))


def test_data_on_device_auto_keeps_only_in_memory_splits_and_yes_refuses_the_others():
    held = TensorImageDataset(torch.zeros(4, 3, 2, 2, dtype=torch.uint8))
    on_access = torch.utils.data.TensorDataset(torch.zeros(4))
    cpu = torch.device("cpu")
    assert batch_source.on_device(held, "auto", cpu, "shapes")
    assert not batch_source.on_device(held, "no", cpu, "shapes")
    assert not batch_source.on_device(on_access, "auto", cpu, "data/folder")
    with pytest.raises(ConfigError, match=r"data_on_device yes .*'data/folder'.*dataset.in_memory=yes"):
        batch_source.on_device(on_access, "yes", cpu, "data/folder")


def test_every_loss_runs_in_float32_under_bf16_autocast():
    torch.manual_seed(0)
    z1, z2 = torch.randn(64, 32), torch.randn(64, 32)
    loss = create("loss", "nt-xent")
    reference = loss(z1.bfloat16().float(), z2.bfloat16().float()).loss
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside = loss(z1.bfloat16(), z2.bfloat16()).loss
        unguarded = type(loss).forward.__wrapped__(loss, z1.bfloat16(), z2.bfloat16()).loss  # bf16 similarities
    assert inside.dtype == torch.float32
    torch.testing.assert_close(inside, reference, rtol=1e-6, atol=1e-6)
    assert abs(unguarded.float() - reference) > 1e-4  # the tolerance above would catch bf16 logits

    class Logits(Loss):  # a loss written later gets the same guard without asking
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> LossOutput:
            return LossOutput(loss=(a @ b.T).sum())

    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert Logits()(z1, z2).loss.dtype == torch.float32
        assert (z1 @ z2.T).dtype == torch.bfloat16


def test_full_precision_is_the_function_itself_without_autocast():
    seen = []
    guarded = full_precision(lambda x, xs: seen.append((x.dtype, [t.dtype for t in xs])))
    guarded(torch.zeros(2, dtype=torch.bfloat16), [torch.zeros(2, dtype=torch.float16)])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        guarded(torch.zeros(2, dtype=torch.bfloat16), [torch.zeros(2, dtype=torch.float16)])
    assert seen == [(torch.bfloat16, [torch.float16]), (torch.float32, [torch.float32])]


def test_channels_last_trains_the_same_model_in_the_other_memory_format(tiny_run, tmp_path):
    last = Trainer({**tiny_run, "channels_last": "yes"})
    last.fit()
    plain = Trainer({**tiny_run, "output_dir": str(tmp_path / "plain"), "channels_last": "no"})
    plain.fit()
    conv = next(m for m in last.branch.encoder.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last) and not conv.weight.is_contiguous()
    assert last.history[-1]["loss"] == pytest.approx(plain.history[-1]["loss"], rel=1e-4)


def test_compile_falls_back_to_eager_with_a_message_where_it_fails(tiny_run, monkeypatch, capsys):
    def broken(model, **kwargs):
        def call(*args):
            raise RuntimeError("no compiler here\nmore")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    trainer = Trainer({**tiny_run, "compile": True})
    trainer.fit()
    eager = Trainer({**tiny_run, "output_dir": tiny_run["output_dir"] + "-eager"})
    eager.fit()
    assert "ssl: --compile failed (RuntimeError: no compiler here); training goes on without it" in capsys.readouterr().err
    assert trainer.summary["compiled"] is False
    assert trainer.history[-1]["loss"] == eager.history[-1]["loss"]


def test_compile_runs_a_tiny_model_or_falls_back(tiny_run, capsys):
    # widths 8, not 4: with 4 channels and one CPU thread (OMP_NUM_THREADS=1) torch 2.14's compiled
    # backward aborts the process inside aten.convolution_backward (channels-last 1x1 stride-2 conv)
    tiny_run["options"]["encoder"]["small-resnet"]["widths"] = [8, 8, 8, 8]
    trainer = Trainer({**tiny_run, "compile": True})
    trainer.fit()
    err = capsys.readouterr().err
    assert trainer.summary["compiled"] is ("--compile failed" not in err)
    assert torch.isfinite(torch.tensor(trainer.history[-1]["loss"]))
