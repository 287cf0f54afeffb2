"""SwAV's swapped-prediction loss and the Sinkhorn-Knopp codes it predicts."""

from __future__ import annotations

import attrs
import torch
import torch.distributed as dist
from attrs import validators as v
from ssl_core import BuildContext, Loss, LossOutput, option, positive
from ssl_core.nn import world_size


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, iterations: int = 3, epsilon: float = 0.05) -> torch.Tensor:
    """Soft codes ``(B, K)`` for the prototype ``scores`` ``(B, K)`` by Sinkhorn-Knopp.

    Q = exp(scores / epsilon), then ``iterations`` times: scale the prototypes (columns) to a
    common total, then each sample's code (row) to sum 1. Q approaches uniform marginals: each
    code sums to 1 and each prototype takes B/K of the batch. This is SwAV's B * Q^T; its
    targets 1/K per prototype and 1/B per sample are global scales the next step removes.

    When distributed, the max and the per-prototype sums are reduced over processes, so the
    codes are those of the global batch; call it on every process.
    """
    if iterations < 1:
        raise ValueError(f"sinkhorn needs at least 1 iteration, got {iterations}")
    scores = scores.float()
    distributed = world_size() > 1
    top = scores.max()  # exp(scores - top) is exp(scores) up to a scale the first prototype step removes
    if distributed:
        dist.all_reduce(top, op=dist.ReduceOp.MAX)
    codes = torch.exp((scores - top) / epsilon)
    for _ in range(iterations):
        per_prototype = codes.sum(dim=0, keepdim=True)
        if distributed:
            dist.all_reduce(per_prototype)
        codes /= per_prototype
        codes /= codes.sum(dim=1, keepdim=True)
    return codes


@attrs.define
class SwAVConfig:
    """Options of ``swav``."""

    temperature: float = option(0.1, "softmax temperature T of the predictions", validator=positive, converter=float)
    sinkhorn_iterations: int = option(3, "Sinkhorn-Knopp iterations", validator=v.ge(1))
    epsilon: float = option(0.05, "Sinkhorn entropy regularisation (smaller: sharper codes)",
                            validator=positive, converter=float)
    num_global: int = option(2, "number of global crops (the first ones); codes come from these", validator=v.ge(1))


class SwAVLoss(Loss):
    """Swapped prediction (Caron et al., 2020): each crop predicts the codes of the global crops.

    With s_c the prototype scores of crop c (n_crops of them, the first G global), codes
    q_g = sinkhorn(s_g) (with the queue's scores appended before Sinkhorn when given) and
    p_c = softmax(s_c / T) per sample:

        L = mean_{g < G} mean_{c != g} mean_i ( -sum_k q_g[i, k] log p_c[i, k] )
    """

    input_kind = "prototype-scores"

    def __init__(self, config: SwAVConfig, context: BuildContext | None = None) -> None:
        super().__init__()
        self.temperature = config.temperature
        self.iterations = config.sinkhorn_iterations
        self.epsilon = config.epsilon
        self.num_global = config.num_global

    def forward(self, scores: list[torch.Tensor], queue_scores: list[torch.Tensor] | None = None) -> LossOutput:
        if len(scores) < max(2, self.num_global):
            raise ValueError(f"swav needs at least 2 crops and the {self.num_global} global ones, got {len(scores)}")
        if queue_scores is not None and len(queue_scores) != self.num_global:
            raise ValueError(f"swav takes queue scores for the {self.num_global} global crops, got {len(queue_scores)}")
        log_probs = [torch.log_softmax(s.float() / self.temperature, dim=1) for s in scores]
        per_global = []
        for g in range(self.num_global):
            n = scores[g].shape[0]
            assign = scores[g] if queue_scores is None else torch.cat([scores[g], queue_scores[g]])
            codes = sinkhorn(assign, self.iterations, self.epsilon)[:n]
            per_crop = [-(codes * log_probs[c]).sum(dim=1).mean() for c in range(len(scores)) if c != g]
            per_global.append(torch.stack(per_crop).mean())
        return LossOutput(loss=torch.stack(per_global).mean())
