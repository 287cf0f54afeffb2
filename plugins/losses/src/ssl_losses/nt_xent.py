"""NT-Xent (normalised temperature-scaled cross-entropy), the SimCLR loss."""

from __future__ import annotations

import attrs
import torch
import torch.nn.functional as F
from ssl_core import BuildContext, Loss, LossOutput, option, positive
from ssl_core.nn import gather_with_grad, rank


@attrs.define
class NTXentConfig:
    """Options of ``nt-xent``."""

    temperature: float = option(0.2, "softmax temperature T", validator=positive, converter=float)
    gather: bool = option(True, "use the other processes' embeddings as negatives (global batch)")


class NTXentLoss(Loss):
    """InfoNCE over the 2N embeddings of N pairs, with 2(N-1) in-batch negatives per anchor.

    With w = normalise([z1; z2]) and p(a) the other view of anchor a:

        l_a = -log( exp(w_a . w_p(a) / T) / sum_{k != a} exp(w_a . w_k / T) ),   L = mean_a l_a

    ``positive_log_prob`` is -l_a per anchor (z1's anchors first, then z2's).

    Across processes, the local anchors are contrasted with the gathered global batch (the
    gather keeps gradients), which gives the same loss and gradients as one process.
    """

    input_kind = "pair"

    def __init__(self, config: NTXentConfig, context: BuildContext | None = None) -> None:
        super().__init__()
        self.temperature = config.temperature
        self.gather = config.gather

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> LossOutput:
        n = z1.shape[0]
        local = F.normalize(torch.cat([z1, z2]).float(), dim=1)
        if self.gather:
            keys = torch.cat([gather_with_grad(F.normalize(z.float(), dim=1)) for z in (z1, z2)])
            offset = rank() * n
        else:
            keys, offset = local, 0
        total = keys.shape[0] // 2
        logits = local @ keys.T / self.temperature
        rows = torch.arange(2 * n, device=z1.device)
        own = torch.cat([rows[:n] + offset, rows[:n] + offset + total])
        positive_index = torch.cat([own[n:], own[:n]])
        logits = logits.masked_fill(F.one_hot(own, keys.shape[0]).bool(), float("-inf"))
        log_prob = torch.log_softmax(logits, dim=1)
        positive_log_prob = log_prob[rows, positive_index]
        return LossOutput(loss=-positive_log_prob.mean(), positive_log_prob=positive_log_prob)
