"""Learning-rate schedule: linear warm-up then cosine decay, a function of the step."""

from __future__ import annotations

import math


def warmup_cosine(step: int, total_steps: int, warmup_steps: int, peak: float, final: float) -> float:
    """Learning rate at ``step`` s (0-based) of S = ``total_steps``, W = ``warmup_steps``.

        s < W:   peak * (s + 1) / W
        s >= W:  final + (peak - final) * (1 + cos(pi * (s - W) / (S - W - 1))) / 2

    so it is ``peak`` at the first step after warm-up and ``final`` at the last step S - 1.
    """
    if step < warmup_steps:
        return peak * (step + 1) / warmup_steps
    span = max(total_steps - warmup_steps - 1, 1)
    progress = min((step - warmup_steps) / span, 1.0)
    return final + 0.5 * (peak - final) * (1.0 + math.cos(math.pi * progress))
