"""Run by checks.py under ``torchrun --nproc-per-node 2``, or alone: ``torchrun ... train_moco.py OUT``.

One epoch of MoCo through the Trainer on tiny shapes, with ``center-tracker``: a regularizer
whose parameter gets no gradient from the loss and is trained by its own optimiser (DDP must
not fail on it). Every process then saves its model's state to ``OUT/state.rank<r>.safetensors``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from safetensors.torch import save_file
from ssl_core import Trainer, hookimpl, plugins, registry
from ssl_core import Batch, BranchOutput, BuildContext, Regularizer
from ssl_core.nn.distributed import average_gradients
from torch import nn

RUN = {"branch": "moco", "views": "simclr", "epochs": 1, "batch_size": 32, "lr": 0.3, "device": "cpu",
       "regularizer": ["center-tracker"], "callback": ["knn-monitor"],
       "options": {"encoder": {"small-resnet": {"widths": [4, 4, 8, 8]}},
                   "dataset": {"shapes": {"num_train": 128, "num_test": 40, "image_size": 16}},
                   "branch": {"moco": {"out_dim": 16}}, "callback": {"knn-monitor": {"k": 10, "untrained": False}}}}


class CenterTracker(Regularizer):
    """Pulls features towards a centre (detached in the loss) that its own SGD moves to the
    mean feature after each step, with gradients averaged over processes."""

    def __init__(self, config: object, context: BuildContext) -> None:
        super().__init__()
        self.center = nn.Parameter(torch.zeros(context.encoder.feature_dim))
        self.optimizer = torch.optim.SGD([self.center], lr=0.5)
        self._mean: torch.Tensor | None = None

    def forward(self, batch: Batch, output: BranchOutput, branch: nn.Module) -> torch.Tensor:
        features = torch.cat([f for f in output.features if f is not None])  # None: a key-only view
        self._mean = features.detach().mean(dim=0)
        return 0.01 * (features - self.center.detach()).pow(2).mean()

    def on_step_end(self, ctx) -> None:
        # Its own gradient through autograd.grad, as meta-learning regularizers do: DDP sees no
        # gradient for ``center`` and, were it managing it, would fail at the next step.
        self.center.grad, = torch.autograd.grad((self.center - self._mean).pow(2).sum(), self.center)
        average_gradients([self.center])
        self.optimizer.step()
        self.optimizer.zero_grad()

    def extra_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"sgd": self.optimizer}


@hookimpl
def register_regularizers(register) -> None:
    register("center-tracker", CenterTracker)


def main(out: Path) -> None:
    plugins.load_plugins()
    plugins.pm.register(sys.modules[__name__], name="center_tracker")
    registry.clear_cache()
    trainer = Trainer(RUN, output_dir=str(out / "run"))
    trainer.fit()
    acc = trainer.accelerator
    state = acc.unwrap_model(trainer.model).state_dict()
    save_file({k: v.detach().contiguous() for k, v in state.items()}, str(out / f"state.rank{acc.process_index}.safetensors"),
              metadata={"processes": str(acc.num_processes), "ddp": type(trainer.model).__name__})


if __name__ == "__main__":
    main(Path(sys.argv[1]))
