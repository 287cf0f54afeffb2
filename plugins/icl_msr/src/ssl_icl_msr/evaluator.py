"""A branch's encoder, L_ct and L_msr as functions of substituted parameters (``torch.func``)."""

from __future__ import annotations

import torch
import torch.autograd.forward_ad as fwAD
from ssl_core import Batch, Branch
from torch.nn.attention import SDPBackend, sdpa_kernel

from ssl_icl_msr.adjustment import backdoor_loss, stratum_score
from ssl_icl_msr.functional import call_with, cloned_buffers
from ssl_icl_msr.strata import Strata


class BranchEvaluator:
    """Evaluates one branch with any parameters, never changing its stored parameters or buffers.

    Each call takes ``params`` (name -> tensor, for some of the branch's parameters; the
    others keep their stored values) and runs on a fresh copy of every buffer, so batch-norm
    running statistics, queues and masks are read but the stored ones are never updated.
    """

    def __init__(self, branch: Branch, adjustment: str) -> None:
        self.branch = branch
        self.strata = Strata(branch)
        self.adjustment = adjustment

    def _tensors(self, params: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {**params, **cloned_buffers(self.branch)}

    def encode(self, params: dict[str, torch.Tensor], views: list[torch.Tensor]) -> list[torch.Tensor]:
        """The pooled features of each view (``branch.encode``)."""
        return call_with(self.branch, self._tensors(params), self.branch.encode, views)

    def encode_tangent(self, params: dict[str, torch.Tensor], tangents: dict[str, torch.Tensor],
                       views: list[torch.Tensor]) -> list[torch.Tensor]:
        """``J v``: the derivative of ``encode`` at ``params`` in the direction ``tangents`` (forward-mode AD).

        Attention (a ViT's ``scaled_dot_product_attention``) runs on its math kernel here: the
        fused kernels have no forward-mode derivative."""
        with torch.no_grad(), fwAD.dual_level(), sdpa_kernel(SDPBackend.MATH):
            dual = {name: fwAD.make_dual(p.detach(), tangents[name]) for name, p in params.items()}
            features = self.encode(dual, views)
            out = [None if f is None else fwAD.unpack_dual(f).tangent for f in features]
        return [None if f is None else torch.zeros_like(f) if t is None else t for f, t in zip(features, out)]

    def image_features(self, image: torch.Tensor) -> torch.Tensor:
        """The encoder's pooled features of the un-augmented image (no gradient)."""
        with torch.no_grad():
            return call_with(self.branch, self._tensors({}), self.branch.encoder, image)

    def teacher(self, batch: Batch) -> list[torch.Tensor | None] | None:
        """The teacher's pooled features of each view (see [`Strata.teacher`][ssl_icl_msr.strata.Strata.teacher])."""
        return call_with(self.branch, self._tensors({}), self.strata.teacher, batch)

    def ct_loss(self, params: dict[str, torch.Tensor], features: list[torch.Tensor],
                teacher: list[torch.Tensor | None] | None) -> torch.Tensor:
        """L_ct, the base loss, on pooled ``features``."""
        return call_with(self.branch, self._tensors(params), self.strata.loss, features, teacher).loss

    def msr_loss(self, params: dict[str, torch.Tensor], features: list[torch.Tensor],
                 teacher: list[torch.Tensor | None] | None, semantics: torch.Tensor) -> torch.Tensor:
        """L_msr on pooled ``features`` with ``semantics`` ``(B, n, c)``: stratum t re-weights by ``a_t``."""
        return call_with(self.branch, self._tensors(params), self._msr, features, teacher, semantics)

    def _msr(self, features: list[torch.Tensor], teacher: list[torch.Tensor | None] | None,
             semantics: torch.Tensor) -> torch.Tensor:
        scores = [stratum_score(self.strata.loss(features, teacher, semantics[:, t]))
                  for t in range(semantics.shape[1])]
        return backdoor_loss(scores, self.adjustment)
