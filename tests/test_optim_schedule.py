"""The learning-rate schedule and LARS against hand computations."""

from __future__ import annotations

import math

import pytest
import torch

from ssl_core.training.optim import LARS, build_optimizer
from ssl_core.training.schedule import warmup_cosine


def test_warmup_cosine_hits_its_endpoints_and_midpoint():
    lrs = [warmup_cosine(s, 110, 10, 1.0, 0.1) for s in range(110)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)  # linear warm-up to the peak
    assert lrs[10] == pytest.approx(1.0) and lrs[-1] == pytest.approx(0.1)
    assert warmup_cosine(10 + 99 // 2, 110, 10, 1.0, 0.1) == pytest.approx(0.1 + 0.9 * (1 + math.cos(math.pi * 49 / 99)) / 2)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))  # non-increasing after warm-up


def _lars_step(lr: float, **lars: object) -> tuple[torch.Tensor, torch.Tensor]:
    w = torch.nn.Parameter(torch.tensor([[3.0, 4.0]]))  # |w| = 5
    b = torch.nn.Parameter(torch.tensor([1.0]))
    w.grad, b.grad = torch.tensor([[0.0, 1.0]]), torch.tensor([2.0])  # |g| = 1
    opt = build_optimizer("lars", [{"params": [w, b]}], lr=lr, momentum=0.9, weight_decay=0.5, **lars)
    assert isinstance(opt, LARS)
    opt.step()
    return w.detach(), b.detach()


#: the gradient with weight decay, g + wd * w, and |g| + wd * |w| = 1 + 0.5 * 5.
DECAYED, DENOMINATOR = torch.tensor([[1.5, 3.0]]), 3.5


@pytest.mark.parametrize(("eta", "lr"), [(0.001, 0.1), (0.02, 0.1), (0.02, 1.0)])
def test_lars_step_by_hand(eta, lr):
    """Unclipped (the LARS and SimCLR papers): the step is lr * eta * |w| / (|g| + wd |w|) * (g + wd w)."""
    w, b = _lars_step(lr, lars_eta=eta)
    trust = eta * 5.0 / DENOMINATOR
    torch.testing.assert_close(w, torch.tensor([[3.0, 4.0]]) - lr * trust * DECAYED)
    torch.testing.assert_close(b, torch.tensor([1.0 - lr * 2.0]))  # 1-D: no trust ratio, no decay


@pytest.mark.parametrize(("lr", "local"), [(0.01, 0.01), (1.0, 0.02 * 5.0 / 3.5)])
def test_clipped_lars_takes_the_smaller_of_trust_and_lr(lr, local):
    """LARC / solo-learn's clip_lr: the local lr is min(eta |w| / (|g| + wd |w|), lr)."""
    w, _ = _lars_step(lr, lars_eta=0.02, lars_clip=True)
    torch.testing.assert_close(w, torch.tensor([[3.0, 4.0]]) - local * DECAYED)


def test_lars_defaults_are_the_papers_and_presets_cite_their_recipes():
    from ssl_core.config import resolve

    assert (resolve({}).lars_eta, resolve({}).lars_clip) == (0.001, False)
    for branch, eta, clip in (("byol", 0.02, True), ("swav", 0.02, True), ("simclr-v2", 0.001, False)):
        config = resolve({"branch": branch})
        assert (config.optimizer, config.lars_eta, config.lars_clip) == ("lars", eta, clip), branch


def test_optimizer_choices_and_fixed_lr_groups_are_kept():
    p = torch.nn.Parameter(torch.zeros(2))
    opt = build_optimizer("sgd", [{"params": [p], "fixed_lr": True}], 0.5, 0.9, 0.0)
    assert opt.param_groups[0]["fixed_lr"] and opt.param_groups[0]["lr"] == 0.5
    assert isinstance(build_optimizer("adamw", [{"params": [p]}], 0.1, 0.9, 0.0), torch.optim.AdamW)
    with pytest.raises(ValueError, match="unknown optimizer 'adam'"):
        build_optimizer("adam", [{"params": [p]}], 0.1, 0.9, 0.0)
