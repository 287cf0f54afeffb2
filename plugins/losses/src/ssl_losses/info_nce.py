"""InfoNCE with explicit negatives (a queue of keys), the MoCo loss."""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F
from ssl_core import BuildContext, Loss, LossOutput, option, positive


@attrs.define
class InfoNCEConfig:
    """Options of ``info-nce``."""

    temperature: float = option(0.2, "softmax temperature T", validator=positive, converter=float)


class InfoNCELoss(Loss):
    """InfoNCE of each query against its key and a queue of negative keys (MoCo).

    With q, k and the queue rows n_1..n_K L2-normalised:

        l_i = -log( exp(q_i . k_i / T) / (exp(q_i . k_i / T) + sum_j exp(q_i . n_j / T)) ),
        L = mean_i l_i

    ``positive_log_prob`` is -l_i per query. The caller detaches the key and the queue and
    enqueues after the step; the loss never modifies the queue.
    """

    input_kind = "query-key-queue"

    def __init__(self, config: InfoNCEConfig, context: BuildContext | None = None) -> None:
        super().__init__()
        self.temperature = config.temperature

    def forward(self, query: torch.Tensor, key: torch.Tensor, queue: torch.Tensor) -> LossOutput:
        q = F.normalize(query.float(), dim=1)
        k = F.normalize(key.float(), dim=1)
        negatives = F.normalize(queue.float(), dim=1)
        logits = torch.cat([(q * k).sum(dim=1, keepdim=True), q @ negatives.T], dim=1) / self.temperature
        positive_log_prob = torch.log_softmax(logits, dim=1)[:, 0]
        return LossOutput(loss=-positive_log_prob.mean(), positive_log_prob=positive_log_prob)
