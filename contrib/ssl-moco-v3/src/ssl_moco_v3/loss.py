"""MoCo v3's contrastive loss: each query against the keys of the whole (global) batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from ssl_core import BuildContext, Loss, LossOutput
from ssl_core.nn import gather, rank

from ssl_moco_v3.config import MoCoV3LossConfig


class MoCoV3Loss(Loss):
    """MoCo v3's contrastive loss (Chen, Xie and He, 2021): InfoNCE on in-batch keys, times 2T.

    ``ctr(q, k)``, with q (the local queries, ``(B, d)``) and k (the keys gathered over every
    process, ``(W B, d)``) L2-normalised and y_i = i + rank * B the index of query i's own key:

        ctr(q, k) = 2T * mean_i -log( exp(q_i . k_{y_i} / T) / sum_j exp(q_i . k_j / T) )
                  = 2T * CrossEntropy(q k^T / T, y)

    ``positive_log_prob`` is ``log softmax(q k^T / T)[i, y_i]`` per query (without the 2T).
    The keys are gathered without gradient: they are the teacher's, a constant of the step.
    """

    input_kind = "query-key"

    def __init__(self, config: MoCoV3LossConfig, context: BuildContext | None = None) -> None:
        super().__init__()
        self.temperature = config.temperature

    def forward(self, query: torch.Tensor, key: torch.Tensor) -> LossOutput:
        q = F.normalize(query.float(), dim=1)
        keys = gather(F.normalize(key.float(), dim=1))
        logits = q @ keys.T / self.temperature
        labels = torch.arange(q.shape[0], device=q.device) + rank() * q.shape[0]
        positive_log_prob = torch.log_softmax(logits, dim=1).gather(1, labels[:, None]).squeeze(1)
        return LossOutput(loss=-2 * self.temperature * positive_log_prob.mean(), positive_log_prob=positive_log_prob)
