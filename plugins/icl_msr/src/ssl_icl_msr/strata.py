"""The base loss on channel-re-weighted pooled features, for each supported branch.

A stratum ``t`` re-weights the pooled features of both views by the same ``a_t`` (per image)
and runs the branch's heads and criterion on them (``Branch.loss_from_features``). Branches
with a teacher re-weight its pooled features by the same ``a_t`` too:

- ``byol``: the target encoder's pooled features, then the target projector;
- ``moco`` / ``moco-v2``: the key encoder's pooled features (shuffle-BN), then the key head
  (the queue is left as it is);
- ``simclr``, ``simsiam``: no teacher (SimSiam's stop-gradient target is the projection of
  the re-weighted features itself);
- ``sdclr-pruned``: its base's rule (view 2's features come from the pruned competitor).

Everything here runs inside ``call_with`` with cloned buffers, so teacher forwards and head
batch norms leave the stored running statistics alone.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from ssl_core import Batch, Branch, BranchOutput
from ssl_core.components import IncompatibleComponentsError, ViewGenerator

#: the branches ICL-MSR is built and tested for, and how their teacher is re-weighted.
SUPPORTED = {"simclr": "none", "simsiam": "none", "byol": "target", "moco": "key", "moco-v2": "key",
             "sdclr-pruned": "base's"}
#: branches that run another branch (their ``base``) and route the views through it.
WRAPPERS = ("sdclr-pruned",)


def _name(branch: Branch) -> str:
    return getattr(branch, "ssl_name", type(branch).__name__)


def check_branch(branch: Branch | None, views: ViewGenerator | None) -> None:
    """Refuse a branch ICL-MSR cannot regularize: none, SwAV, not 2 views, or no ``loss_from_features``."""
    supported = ", ".join(SUPPORTED)
    if branch is None:
        raise IncompatibleComponentsError(f"icl-msr needs the run's branch (supported: {supported})")
    name = _name(branch)
    if name == "swav":
        raise IncompatibleComponentsError(
            "icl-msr does not support branch 'swav' (multi-crop views and a swapped-prediction loss with no "
            f"per-pair probability); supported branches: {supported}")
    if views is not None and views.num_views != 2:
        raise IncompatibleComponentsError(
            f"icl-msr re-weights the features of exactly 2 views; views {getattr(views, 'ssl_name', '?')!r} give "
            f"{views.num_views}; supported branches: {supported}")
    if type(branch).loss_from_features is Branch.loss_from_features:
        raise IncompatibleComponentsError(
            f"icl-msr needs Branch.loss_from_features, which branch {name!r} does not implement; "
            f"supported branches: {supported}")


class Strata:
    """The base loss of ``branch`` on re-weighted features (see the module docstring).

    Other branches with 2 views and ``loss_from_features`` get the rule of ``simclr``: their
    features are re-weighted, a teacher they may have is not.
    """

    def __init__(self, branch: Branch) -> None:
        self.branch = branch
        self.inner = branch.base if _name(branch) in WRAPPERS else branch
        self.teacher_kind = SUPPORTED.get(_name(self.inner), "none")

    @torch.no_grad()
    def teacher(self, batch: Batch) -> list[torch.Tensor | None] | None:
        """The teacher's pooled features of each view (None where the base needs none)."""
        views = batch.views[:2]
        if self.teacher_kind == "target":
            n = views[0].shape[0]
            return list(self.inner.target_encoder(torch.cat(views)).split(n))
        if self.teacher_kind == "key":
            from ssl_moco.shuffle_bn import largest_divisor, shuffle_bn_forward

            n = views[0].shape[0]
            splits = largest_divisor(n, min(self.inner.config.bn_splits, n // 2))
            used = (0, 1) if self.inner.config.symmetric else (1,)
            return [shuffle_bn_forward(self.inner.key_encoder, view, batch.index, splits) if i in used else None
                    for i, view in enumerate(views)]
        return None

    def loss(self, features: list[torch.Tensor], teacher: list[torch.Tensor | None] | None,
             weights: torch.Tensor | None = None) -> BranchOutput:
        """The base loss with both views' features (and the teacher's) multiplied by ``weights`` ``(B, c)``."""
        weighted = features if weights is None else [weights * f for f in features]
        if self.teacher_kind == "target":
            n = features[0].shape[0]
            scaled = torch.cat([t if weights is None else weights * t for t in teacher])
            targets = list(self.inner.target_projector(scaled).split(n))
            return self.inner.loss_from_features(weighted, targets)
        if self.teacher_kind == "key":
            keys = [None if k is None else F.normalize(self.inner.key_head(k if weights is None else weights * k),
                                                       dim=1) for k in teacher]
            stored, self.inner._keys = self.inner._keys, keys
            try:
                return self.inner.loss_from_features(weighted)
            finally:
                self.inner._keys = stored
        return self.branch.loss_from_features(weighted)
