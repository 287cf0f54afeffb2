"""The Barlow Twins branch: one encoder and projector for both views, no teacher."""

from __future__ import annotations

import torch
from ssl_core import Branch, BranchOutput, BuildContext
from ssl_core.nn import ProjectionHead
from torch import nn

from ssl_barlow_twins.config import BarlowTwinsConfig


# --8<-- [start:branch]
class BarlowTwinsBranch(Branch):
    """Barlow Twins (Zbontar et al., 2021): make the views' cross-correlation the identity.

        z_i = g(f(x_i)),   L = crit(z_1, z_2)

    ``g`` is a ``layers``-deep projector (Linear-BN-ReLU, ..., Linear) of width
    ``hidden_dim`` to ``out_dim``; ``crit`` is the ``barlow-twins`` loss by default
    (``sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2``). Both views run through the same
    online network, one forward per view (each view's batch-norm statistics are its own, as
    in the paper's code). There is no teacher.
    """

    loss_input_kind = "pair"
    concat_views = False

    def __init__(self, config: BarlowTwinsConfig, context: BuildContext) -> None:
        super().__init__(context.encoder, context.loss)
        self.projector = ProjectionHead(self.encoder.feature_dim, config.hidden_dim, config.out_dim, config.layers)

    def view_modules(self) -> dict[str, nn.Module]:
        """The encoder and the projector (a wrapper may route a view through variants of them)."""
        return {"encoder": self.encoder, "projector": self.projector}

    def loss_from_features(self, features: list[torch.Tensor],
                           teacher: list[torch.Tensor | None] | None = None) -> BranchOutput:
        """The projector on each view's pooled features, then the criterion (no teacher)."""
        z1, z2 = self.per_view("projector", features)
        out = self.criterion(z1, z2)
        return BranchOutput(loss=out.loss, features=features, embeddings=[z1, z2],
                            positive_log_prob=out.positive_log_prob)
# --8<-- [end:branch]
