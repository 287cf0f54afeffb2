"""Long-tail metrics: Many / Medium / Few groups and balancedness (SDCLR).

Classes are ranked by their count in the long-tailed pre-training split, most frequent
first, ties broken by class index (the lower index ranks as more frequent). With C classes
Few is the ``floor(C / 3)`` rarest, Medium the next ``floor(C / 3)`` and Many the rest
(4 / 3 / 3 on CIFAR-10). A group's accuracy is the mean of its classes' accuracies, All the
mean over every class, and the balancedness

    Std = sqrt(((Many - m)² + (Medium - m)² + (Few - m)²) / 3),   m = (Many + Medium + Few) / 3

the population standard deviation (ddof 0) of the three group accuracies; lower is more
balanced. With fewer than three classes Medium and Few are empty and Std is undefined (None).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

GROUPS = ("many", "medium", "few")


def class_groups(counts: Sequence[int]) -> dict[str, list[int]]:
    """The class indices of Many, Medium and Few for per-class training ``counts``."""
    ranked = sorted(range(len(counts)), key=lambda c: (-counts[c], c))
    n, third = len(counts), len(counts) // 3
    parts = {"many": ranked[: n - 2 * third], "medium": ranked[n - 2 * third: n - third], "few": ranked[n - third:]}
    return {name: sorted(members) for name, members in parts.items()}


def group_accuracies(per_class: Sequence[float], counts: Sequence[int]) -> dict[str, float | None]:
    """All, Many, Medium, Few (means of per-class accuracies) and Std (ddof 0 over the three groups)."""
    if len(per_class) != len(counts):
        raise ValueError(f"{len(per_class)} per-class accuracies for {len(counts)} class counts")
    accuracies = np.asarray(per_class, dtype=np.float64)
    result: dict[str, float | None] = {"all": float(accuracies.mean())}
    for name, members in class_groups(counts).items():
        result[name] = float(accuracies[members].mean()) if members else None
    groups = [result[name] for name in GROUPS]
    result["std"] = None if None in groups else float(np.std(groups))
    return result
