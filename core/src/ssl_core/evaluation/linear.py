"""Linear probe on frozen features: multinomial logistic regression, full-batch L-BFGS.

Features are standardised with the training set's mean and standard deviation
(``x̂ = (x - μ) / σ``, σ clamped at 1e-6 so constant features stay 0), then

    W, b = argmin  (1/n) Σ_i -log softmax(W x̂_i + b)[y_i]  +  (λ / 2) ||W||²

(the bias is not decayed), in float64 from a zero start, by ``torch.optim.LBFGS``
(strong-Wolfe line search, lr 1, at most ``max_iter`` iterations). The weight decay λ is
chosen on a validation split: the value of ``WEIGHT_DECAYS`` with the best validation top-1
(ties: the largest λ).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import torch
import torch.nn.functional as F

WEIGHT_DECAYS = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
"""The weight decays tried by :func:`select_linear_probe`."""
MAX_ITER = 100


@attrs.frozen
class LinearProbe:
    """A fitted probe: standardisation ``(mean, std)`` and the classifier ``(weight (d, C), bias (C,))``."""

    mean: torch.Tensor
    std: torch.Tensor
    weight: torch.Tensor
    bias: torch.Tensor

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Class scores ``x̂ W + b`` of ``features`` (N, d), float64."""
        return ((features.double() - self.mean) / self.std) @ self.weight + self.bias

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """The predicted class of each row of ``features``."""
        return self.logits(features).argmax(1)


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int, weight_decay: float,
                     max_iter: int = MAX_ITER) -> LinearProbe:
    """Fit the probe of the module doc on ``features`` (N, d) and ``labels`` (N,)."""
    x = features.double()
    mean, std = x.mean(0), x.std(0, correction=0).clamp_min(1e-6)
    x = (x - mean) / std
    labels = labels.long()
    weight = torch.zeros(x.shape[1], num_classes, dtype=torch.float64, requires_grad=True)
    bias = torch.zeros(num_classes, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight, bias], lr=1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(x @ weight + bias, labels) + weight_decay / 2 * weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        optimizer.step(closure)
    return LinearProbe(mean, std, weight.detach(), bias.detach())


def accuracy(predicted: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1: the fraction of predictions equal to the labels."""
    return (predicted == labels).double().mean().item()


@attrs.frozen
class ProbeSelection:
    """The probe with the chosen weight decay, and the validation top-1 of every value tried."""

    probe: LinearProbe
    weight_decay: float
    validation_top1: dict[float, float]


def select_linear_probe(train: torch.Tensor, train_labels: torch.Tensor, validation: torch.Tensor,
                        validation_labels: torch.Tensor, num_classes: int,
                        weight_decays: Sequence[float] = WEIGHT_DECAYS, max_iter: int = MAX_ITER) -> ProbeSelection:
    """Fit one probe per weight decay on ``train``; keep the best on ``validation`` (ties: the largest decay)."""
    if not weight_decays:
        raise ValueError("select_linear_probe needs at least one weight decay")
    probes = {wd: fit_linear_probe(train, train_labels, num_classes, wd, max_iter) for wd in weight_decays}
    scores = {wd: accuracy(probe.predict(validation), validation_labels) for wd, probe in probes.items()}
    best = max(scores, key=lambda wd: (scores[wd], wd))
    return ProbeSelection(probes[best], best, scores)
