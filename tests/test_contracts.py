"""The contracts later plugins rely on: a pure, functionally evaluable step and owned state."""

from __future__ import annotations

import torch
from torch.func import functional_call

from ssl_core import Batch, Branch, BuildContext, WrapperBranch, create
from ssl_core.training.model import SSLModel
from ssl_core.training.trainer import Trainer


def _model_and_batch():
    torch.manual_seed(0)
    context = BuildContext(image_size=16)
    context.encoder = create("encoder", "small-resnet", context, widths=(4, 4, 8, 8))
    context.loss = create("loss", "nt-xent", context)
    context.views = create("views", "simclr", context)
    branch = create("branch", "simclr", context, hidden_dim=16, out_dim=8)
    model = SSLModel(branch, {"uniformity": create("regularizer", "uniformity", context)}).train()
    images = torch.rand(6, 3, 16, 16)
    views = context.views(images, torch.Generator().manual_seed(1))
    return model, Batch(views=views, image=images, index=torch.arange(6))


def test_the_step_evaluates_functionally_without_touching_the_real_model():
    model, batch = _model_and_batch()
    real = {k: v.clone() for k, v in model.state_dict().items()}
    substitutes = {**{k: v.detach().clone().requires_grad_() for k, v in model.named_parameters()},
                   **{k: v.clone() for k, v in model.named_buffers()}}
    loss, _ = functional_call(model, substitutes, (batch,))
    grads = torch.autograd.grad(loss, [substitutes[k] for k, _ in model.named_parameters()])
    assert all(torch.equal(model.state_dict()[k], v) for k, v in real.items())  # params and BN stats intact
    assert any(g.abs().sum() > 0 for g in grads)
    direct, _ = model(batch)  # the same step on the real model gives the same loss
    torch.testing.assert_close(direct, loss)


def test_bf16_mixed_precision_runs_on_cpu(tiny_run):
    tiny_run["mixed_precision"] = "bf16"
    result = Trainer(tiny_run).fit()
    assert torch.isfinite(torch.tensor(result.history[-1]["loss"]))


class _OwnedStateRegularizer(torch.nn.Module):
    """A regularizer with its own parameter, optimiser and buffer, stepped in on_step_start."""

    def __init__(self, config, context):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(1))
        self.register_buffer("calls", torch.zeros(1))
        self.optimizer = torch.optim.Adam([self.scale], lr=0.1)

    # the Component lifecycle, written out because this test class is not a Regularizer subclass
    def on_fit_start(self, ctx): ...
    def on_epoch_start(self, ctx): ...
    def on_after_backward(self, ctx, batch): ...
    def on_step_end(self, ctx): ...
    def on_epoch_end(self, ctx): ...
    def on_fit_end(self, ctx): ...

    def on_step_start(self, ctx, batch):
        self.calls += 1
        self.optimizer.zero_grad()
        (self.scale - 3.0).pow(2).sum().backward()
        self.optimizer.step()

    def extra_optimizers(self):
        return {"meta": self.optimizer}

    def parameter_groups(self):
        return []

    def forward(self, batch, output, branch):
        return 0.0 * self.scale.sum()


def test_components_own_optimizers_and_state_that_checkpoints_keep(tiny_run, add_plugin):
    from ssl_core import hookimpl
    from ssl_core.run_folder import RunFolder, load_checkpoint

    class Plugin:
        @hookimpl
        def register_regularizers(self, register):
            register("owned-state", _OwnedStateRegularizer, description="test")

    add_plugin(Plugin(), "owned-state-test")
    tiny_run.update(regularizer=["owned-state"], no_callback=["knn-monitor"])
    trainer = Trainer(tiny_run)
    trainer.fit()
    tensors, meta = load_checkpoint(RunFolder(trainer.output_dir).latest_checkpoint())
    assert tensors["model.regularizers.owned-state.calls"].item() == 3  # one per step, 3 steps
    assert "owned-state.meta" in meta["optimizers"]
    assert any(k.startswith("optimizer.owned-state.meta.0.exp_avg") for k in tensors)
    resumed = Trainer(resume=trainer.output_dir, epochs=2)
    resumed.fit()
    reg = resumed.model.regularizers["owned-state"]
    assert reg.calls.item() == 6 and reg.optimizer.state_dict()["state"][0]["step"].item() == 6


class _Wrapper(WrapperBranch):
    """A wrapper that only wraps: ``simclr`` as its base, one own parameter."""

    def __init__(self, config, context):
        super().__init__(create("branch", "simclr", context, hidden_dim=8, out_dim=8))
        self.scale = torch.nn.Parameter(torch.ones(()))


def test_every_lifecycle_method_reaches_a_wrappers_base_without_forwarding(tiny_run, monkeypatch, add_plugin):
    from ssl_core import hookimpl

    calls = []
    for method in ("on_fit_start", "on_epoch_start", "on_step_start", "on_after_backward", "on_step_end",
                   "on_epoch_end", "on_fit_end"):  # the base class's no-ops, recorded for the base only
        def record(self, *args, _method=method):
            if not isinstance(self, _Wrapper) and isinstance(self, Branch):
                calls.append(_method)
        monkeypatch.setattr(Branch, method, record)

    class Plugin:
        @hookimpl
        def register_branches(self, register):
            register("test-wrapper", _Wrapper, defaults={"views": "simclr", "loss": "nt-xent"})

    add_plugin(Plugin(), "wrapper-test")
    tiny_run.update(branch="test-wrapper", no_callback=["knn-monitor"])
    trainer = Trainer(tiny_run)
    trainer.fit()
    assert trainer.branch.base in trainer.components
    assert calls.count("on_after_backward") == calls.count("on_step_end") == 3 == calls.count("on_step_start")
    assert {"on_fit_start", "on_epoch_start", "on_epoch_end", "on_fit_end"} <= set(calls)
    groups = trainer.branch.parameter_groups()
    assert any(p is trainer.branch.scale for g in groups for p in g["params"])  # the wrapper's own group
    assert trainer.branch.encoder is trainer.branch.base.encoder
