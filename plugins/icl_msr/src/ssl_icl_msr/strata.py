"""The base loss on channel-re-weighted pooled features, for any branch that keeps the contract.

A stratum ``t`` re-weights the pooled features of both views by the same ``a_t`` (per image)
and runs the branch's heads and criterion on them (``Branch.loss_from_features``). A branch
with a teacher (``Branch.teacher_features``: BYOL's target encoder, MoCo's key encoder, any
third-party momentum teacher) gets its teacher's pooled features re-weighted by the same
``a_t`` too, and its own teacher heads run on them inside ``loss_from_features``. What a
branch is called never matters: only its capabilities (2 views, ``loss_from_features``, a
teacher or none).

Everything here runs inside ``call_with`` with cloned buffers, so teacher forwards and head
batch norms leave the stored running statistics alone.
"""

from __future__ import annotations

import torch
from ssl_core import Batch, Branch, BranchOutput, IncompatibleComponentsError, ViewGenerator


def _name(component: object) -> str:
    return getattr(component, "ssl_name", type(component).__name__)


def check_branch(branch: Branch | None, views: ViewGenerator | None) -> None:
    """Refuse a branch ICL-MSR cannot regularize: none, not 2 views, or no ``loss_from_features``."""
    needs = "icl-msr needs a branch that reads 2 views and implements Branch.loss_from_features"
    if branch is None:
        raise IncompatibleComponentsError(f"{needs}; the run has no branch")
    if branch.num_views != 2:
        read = "any number of" if branch.num_views is None else branch.num_views
        raise IncompatibleComponentsError(f"{needs}; branch {_name(branch)!r} reads {read} views")
    if views is not None and views.num_views != 2:
        raise IncompatibleComponentsError(f"{needs}; views {_name(views)!r} give {views.num_views}")
    if not branch.has_feature_loss:
        raise IncompatibleComponentsError(f"{needs}; branch {_name(branch)!r} does not implement it")


class Strata:
    """The base loss of ``branch`` on re-weighted features and teacher features (module docstring)."""

    def __init__(self, branch: Branch) -> None:
        self.branch = branch

    @torch.no_grad()
    def teacher(self, batch: Batch) -> list[torch.Tensor | None] | None:
        """The teacher's pooled features of each view (``None`` for a branch without a teacher)."""
        return self.branch.teacher_features(batch)

    def loss(self, features: list[torch.Tensor], teacher: list[torch.Tensor | None] | None,
             weights: torch.Tensor | None = None) -> BranchOutput:
        """The base loss with both views' features and the teacher's multiplied by ``weights`` ``(B, c)``.

        A view the online network does not encode (``None`` in ``features``) stays ``None``."""
        if weights is None:
            return self.branch.loss_from_features(features, teacher)
        weighted = [None if f is None else weights * f for f in features]
        scaled = None if teacher is None else [None if t is None else weights * t for t in teacher]
        return self.branch.loss_from_features(weighted, scaled)
