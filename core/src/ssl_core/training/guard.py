"""The NaN guard: a finiteness flag of each step's loss terms and gradients, kept on the device.

``observe`` only queues device work (no host sync); the trainer reads the flag with ``check``
where it synchronises anyway (the progress bar's loss read, every epoch's metrics) and before
every checkpoint, metrics or encoder write, so nothing non-finite reaches the run folder.
With ``max_bad_steps`` above 0, ``observe`` reads the flag every step (one host sync) so a
bad step can be skipped instead.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ssl_core.errors import NonFiniteError

GRADIENT = "gradient"


class FiniteGuard:
    """Tracks the first step whose loss terms or gradient norm are not finite.

    ``lr_at(step)`` gives the message's learning rate; ``reduce`` sums a flag over processes
    (so with ``max_bad_steps`` every process skips the same steps).
    """

    def __init__(self, device: torch.device, max_bad_steps: int, lr_at: Callable[[int], float],
                 reduce: Callable[[torch.Tensor], torch.Tensor]) -> None:
        self.max_bad_steps, self.lr_at, self.reduce = max_bad_steps, lr_at, reduce
        self.first_step = torch.full((), -1, dtype=torch.long, device=device)
        self.first_terms: torch.Tensor | None = None
        self.names: list[str] = []
        self.skipped: list[int] = []

    def observe(self, step: int, terms: dict[str, torch.Tensor], parameters: list[torch.Tensor] | None) -> bool:
        """Record step ``step``; ``parameters`` (``None``: skip the gradient check, as under fp16
        grad scaling) hold its gradients. Returns whether to skip the step (only with
        ``max_bad_steps`` above 0: then the flag is read at once)."""
        values = [t.detach().float().reshape(()) for t in terms.values()]
        names = list(terms)
        grads = [p.grad for p in parameters or () if p.grad is not None]
        if grads:
            values.append(torch.nn.utils.get_total_norm(grads, foreach=True).float())
            names.append(GRADIENT)
        bad = ~torch.isfinite(torch.stack(values))
        if self.first_terms is None:
            self.first_terms, self.names = torch.zeros_like(bad), names
        first = (self.first_step < 0) & bad.any()
        self.first_step = torch.where(first, step, self.first_step)
        self.first_terms = torch.where(first, bad, self.first_terms)
        if self.max_bad_steps == 0 or not bool(self.reduce(bad.any().float()) > 0):  # skipped by every process
            return False
        self.skipped.append(step)
        self.first_step.fill_(-1)
        if len(self.skipped) > self.max_bad_steps:
            self._raise(step, bad, f"more than --max-bad-steps {self.max_bad_steps} bad steps (steps {self.skipped})")
        return True

    def check(self, steps_per_epoch: int) -> None:
        """Raise ``NonFiniteError`` if a step since the last check was not finite (reads the flag)."""
        step = int(self.first_step)
        if step >= 0:
            self._raise(step, self.first_terms, f"epoch {step // steps_per_epoch + 1}")

    def _raise(self, step: int, bad: torch.Tensor, where: str) -> None:
        terms = [name for name, flag in zip(self.names, bad.tolist()) if flag]
        raise NonFiniteError(
            f"non-finite {', '.join(terms)} at step {step} ({where}, lr {self.lr_at(step):.4g}); the run stopped "
            "and wrote nothing non-finite: its newest checkpoint is the last good one. Lower the lr (--lr), "
            "check the loss and regularizer options, use bf16 instead of fp16, or allow skipping a few bad steps "
            "with --max-bad-steps K")
