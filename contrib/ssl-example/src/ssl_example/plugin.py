"""The ``ssl`` plugin of ssl-example: registers the ``example-l2`` regularizer."""

# --8<-- [start:plugin]
from __future__ import annotations

import attrs
import torch
from ssl_core import Batch, Branch, BranchOutput, BuildContext, Register, Regularizer, hookimpl, option


@attrs.define
class ExampleL2Config:
    """Options of ``example-l2``."""

    weight: float = option(0.01, "weight of the term in the total loss", converter=float)


class ExampleL2(Regularizer):
    """Mean squared L2 norm of the embeddings, averaged over views, times ``weight``."""

    def __init__(self, config: ExampleL2Config, context: BuildContext) -> None:
        super().__init__()
        self.weight = config.weight

    def forward(self, batch: Batch, output: BranchOutput, branch: Branch) -> torch.Tensor:
        terms = [z.float().pow(2).sum(dim=1).mean() for z in output.embeddings]
        return self.weight * torch.stack(terms).mean()


@hookimpl
def register_regularizers(register: Register) -> None:
    """Register the regularizers of this package."""
    register("example-l2", ExampleL2, config=ExampleL2Config)
# --8<-- [end:plugin]
