"""L_msr: the backdoor adjustment over the n strata, and its average-of-log bound."""

from __future__ import annotations

import math

import torch
from ssl_core import BranchOutput


def stratum_score(output: BranchOutput) -> torch.Tensor:
    """log P_t: the per-anchor positive log-probabilities of a contrastive base, else ``-L_t``
    (the base loss on the re-weighted features, one value for the batch)."""
    return output.positive_log_prob if output.positive_log_prob is not None else -output.loss


def backdoor_loss(scores: list[torch.Tensor], adjustment: str) -> torch.Tensor:
    """L_msr from the log-probabilities ``scores[t]`` of the n strata (uniform prior 1/n).

        log-of-average:  L_msr = -mean_i log( (1/n) sum_t P_t(i) )
        average-of-log:  L_msr = -mean_i (1/n) sum_t log P_t(i)     (Jensen: an upper bound)
    """
    stacked = torch.stack(scores)
    stacked = stacked.to(torch.promote_types(stacked.dtype, torch.float32))
    if adjustment == "log-of-average":
        return -(torch.logsumexp(stacked, dim=0) - math.log(len(scores))).mean()
    if adjustment == "average-of-log":
        return -stacked.mean()
    raise ValueError(f"unknown adjustment {adjustment!r}; valid: log-of-average, average-of-log")
