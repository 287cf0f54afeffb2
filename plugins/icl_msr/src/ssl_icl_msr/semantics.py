"""f_msr, the meta semantic network, and the uniformity loss on its outputs."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def conv_body(channels: int, widths: tuple[int, ...]) -> nn.Sequential:
    """Stride-2 3x3 convolutions with ReLU (one per width), then a global average pool."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Conv2d(channels, width, 3, stride=2, padding=1), nn.ReLU()]
        channels = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def mlp_body(in_dim: int, widths: tuple[int, ...]) -> nn.Sequential:
    """Linear layers with ReLU, one per width."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(in_dim, width), nn.ReLU()]
        in_dim = width
    return nn.Sequential(*layers)


class MetaSemantics(nn.Module):
    """f_msr: ``A_s = [a_1 ... a_n]``, ``n`` non-negative channel-weight vectors of size ``c`` per image.

        logits = W body(x) + b   (reshaped to (B, n, c)),   a_t = sigmoid(logits_t)
        (``softmax``: a_t = c * softmax(logits_t) over the c channels, so the weights average 1)

    ``body`` maps the input to ``(B, body_dim)``; without a body the logits are one learned
    ``(n, c)`` matrix shared by every image (initialised at ``N(0, 0.1^2)``, so the a_t differ).
    """

    def __init__(self, body: nn.Module | None, body_dim: int, num_semantics: int, channels: int,
                 activation: str) -> None:
        super().__init__()
        self.num_semantics, self.channels, self.activation = num_semantics, channels, activation
        self.body = body
        if body is None:
            self.logits = nn.Parameter(0.1 * torch.randn(num_semantics, channels))
        else:
            self.out = nn.Linear(body_dim, num_semantics * channels)

    def forward(self, x: torch.Tensor | None, batch_size: int) -> torch.Tensor:
        """``A_s`` of shape ``(batch_size, n, c)``; ``x`` is ignored (may be None) without a body."""
        if self.body is None:
            logits = self.logits.expand(batch_size, -1, -1)
        else:
            logits = self.out(self.body(x)).view(-1, self.num_semantics, self.channels)
        if self.activation == "softmax":
            return self.channels * torch.softmax(logits, dim=-1)
        return torch.sigmoid(logits)


def uniformity(semantics: torch.Tensor, t: float) -> torch.Tensor:
    """L_uni of each image's ``n`` vectors (L2-normalised), averaged over the batch.

        L_uni = mean_b log( 2 / (n (n - 1)) * sum_{i<j} exp(2t a_i.a_j - 2t) )

    For unit vectors ``2t a_i.a_j - 2t = -t |a_i - a_j|^2`` (Wang and Isola's Gaussian
    potential). Zero when ``n = 1`` (no pairs). ``semantics`` is ``(B, n, c)``.
    """
    n = semantics.shape[1]
    if n < 2:
        return semantics.sum() * 0
    a = F.normalize(semantics.to(torch.promote_types(semantics.dtype, torch.float32)), dim=-1)
    i, j = torch.triu_indices(n, n, offset=1, device=a.device)
    kernel = 2 * t * (a[:, i] * a[:, j]).sum(dim=-1) - 2 * t
    return (torch.logsumexp(kernel, dim=1) - math.log(i.numel())).mean()
