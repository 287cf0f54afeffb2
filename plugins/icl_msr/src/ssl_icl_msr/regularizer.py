"""The ``icl-msr`` regularizer: stage 1 in ``forward``, stage 2 (the meta step) in ``on_after_backward``."""

from __future__ import annotations

import torch
from ssl_core import Batch, Branch, BranchOutput, BuildContext, IncompatibleComponentsError, Regularizer, TrainContext
from ssl_core.nn import average_gradients
from torch import nn

from ssl_icl_msr.config import ICLMSRConfig
from ssl_icl_msr.evaluator import BranchEvaluator
from ssl_icl_msr.functional import trained_parameters
from ssl_icl_msr.meta import MetaResult, meta_gradients, step_gradient
from ssl_icl_msr.semantics import MetaSemantics, conv_body, mlp_body
from ssl_icl_msr.strata import check_branch


def build_semantics(config: ICLMSRConfig, channels: int, feature_dim: int) -> MetaSemantics:
    """f_msr for ``config.msr_input``: a CNN on the image, an MLP on encoder features, or free."""
    if config.msr_input == "image":
        body, dim = conv_body(channels, config.msr_widths), config.msr_widths[-1]
    elif config.msr_input == "features":
        body, dim = mlp_body(feature_dim, config.msr_widths), config.msr_widths[-1]
    else:
        body, dim = None, 0
    return MetaSemantics(body, dim, config.num_semantics, feature_dim, config.activation)


class ICLMSR(Regularizer):
    """ICL-MSR (Qiang, Li et al., 2022): a backdoor adjustment over n learned channel re-weightings.

    f_msr maps each image to ``A_s = [a_1 ... a_n]`` (non-negative, ``c`` = the encoder's
    feature dimension). Stage 1 (``forward``, every step, ``A_s`` held fixed) returns
    ``lambda * L_msr`` with

        L_msr = -mean_i log( (1/n) sum_t P_t(i) ),

    ``P_t(i)`` the base method's positive probability of anchor ``i`` on the pooled features
    ``a_t * h`` of both views (see [`Strata`][ssl_icl_msr.strata.Strata]). Stage 2
    (``on_after_backward``, every ``meta_every`` steps, before the real update) trains f_msr
    with its own Adam on ``L_ct(theta') + gamma L_uni(A_s)`` through one virtual SGD step
    ``theta' = theta - alpha dL_to/dtheta``, reusing the step's own forward and gradient (see
    [`meta_gradients`][ssl_icl_msr.meta.meta_gradients]).
    f_msr's parameters are in this module (checkpointed) but not in the main optimiser.
    """

    def __init__(self, config: ICLMSRConfig, context: BuildContext) -> None:
        super().__init__()
        check_branch(context.branch, context.views)
        self.config = config
        self.semantics = build_semantics(config, context.channels, context.branch.encoder.feature_dim)
        self.optimizer = torch.optim.Adam(self.semantics.parameters(), lr=config.msr_lr)
        self._evaluator: BranchEvaluator | None = None
        self._step: tuple[Batch, list[torch.Tensor | None] | None, torch.Tensor | None] | None = None
        self._features: list[torch.Tensor] | None = None
        self._sums = {"icl_msr_meta_loss": 0.0, "icl_msr_uniformity": 0.0}
        self._meta_steps = 0

    def evaluator(self, branch: Branch) -> BranchEvaluator:
        """The functional view of ``branch`` (built again only for another branch or adjustment)."""
        if (self._evaluator is None or self._evaluator.branch is not branch
                or self._evaluator.adjustment != self.config.adjustment):
            self._evaluator = BranchEvaluator(branch, self.config.adjustment)
        return self._evaluator

    def _inputs(self, branch: Branch, batch: Batch, output: BranchOutput | None = None,
                ) -> tuple[list[torch.Tensor | None] | None, torch.Tensor | None]:
        """This step's teacher features (the step's own, from ``output``, when given) and f_msr
        input, computed once per batch."""
        if self._step is None or self._step[0] is not batch:
            evaluator = self.evaluator(branch)
            msr_input = evaluator.image_features(batch.image) if self.config.msr_input == "features" else batch.image
            teacher = output.teacher if output is not None else evaluator.teacher(batch)
            self._step = (batch, teacher, msr_input)
        return self._step[1], self._step[2]

    def semantic_vectors(self, branch: Branch, batch: Batch) -> torch.Tensor:
        """``A_s`` of the batch's images, ``(B, n, c)``, with its graph to f_msr."""
        _, msr_input = self._inputs(branch, batch)
        return self.semantics(msr_input, batch.image.shape[0])

    def forward(self, batch: Batch, output: BranchOutput, branch: Branch) -> torch.Tensor:
        """Stage 1: ``lambda * L_msr`` on the step's pooled features, ``A_s`` detached.

        The features are kept (detached) for this step's meta step.
        """
        self._features = [None if f is None else f.detach() for f in output.features[:2]]
        teacher, _ = self._inputs(branch, batch, output)
        if self.config.weight == 0:
            return output.loss.new_zeros(())
        with torch.no_grad():
            semantics = self.semantic_vectors(branch, batch)
        return self.config.weight * self.evaluator(branch).msr_loss({}, output.features, teacher, semantics)

    def meta_step(self, branch: Branch, batch: Batch, alpha: float, features: list[torch.Tensor] | None = None,
                  g: list[torch.Tensor] | None = None) -> MetaResult:
        """This process's f_msr gradients of stage 2 on ``batch`` (nothing is updated).

        ``features`` and ``g``: the real step's pooled features and gradient at theta (see
        [`meta_gradients`][ssl_icl_msr.meta.meta_gradients]); without them, both are computed
        functionally ([`step_gradient`][ssl_icl_msr.meta.step_gradient]).
        """
        teacher, _ = self._inputs(branch, batch)
        params = trained_parameters(branch)
        evaluator = self.evaluator(branch)
        if features is None or g is None:
            features, g = step_gradient(evaluator, params, batch.views[:2], teacher,
                                        self.semantic_vectors(branch, batch), self.config.weight)
        return meta_gradients(evaluator, params, lambda: self.semantic_vectors(branch, batch),
                              list(self.semantics.parameters()), batch, teacher, features, g, alpha, self.config)

    def on_fit_start(self, ctx: TrainContext) -> None:
        """Refuse the exact meta-gradient with SyncBatchNorm, which has no forward-mode derivative."""
        if self.config.meta_gradient == "exact" and any(isinstance(m, nn.SyncBatchNorm) for m in ctx.branch.modules()):
            raise IncompatibleComponentsError(
                "icl-msr meta_gradient 'exact' differentiates the encoder in forward mode, which SyncBatchNorm "
                "(CUDA, several processes) does not support; use --set regularizer.icl-msr.meta_gradient="
                "finite-difference")

    def on_after_backward(self, ctx: TrainContext, batch: Batch) -> None:
        """Stage 2 every ``meta_every`` steps, on the real step's features and gradient.

        Skipped on a step whose fp16 gradient overflowed (the optimiser skips that step too).
        """
        if ctx.global_step % self.config.meta_every or self._features is None:
            return
        params = list(trained_parameters(ctx.branch).values())
        scaler = ctx.accelerator.scaler
        scale = 1.0 if scaler is None else float(scaler.get_scale())
        g = [torch.zeros_like(p) if p.grad is None else p.grad.detach() / scale for p in params]
        if scaler is not None and not all(x.isfinite().all() for x in g):
            return
        self.update(ctx, batch, [None if f is None else f.to(params[0].dtype) for f in self._features], g)

    def update(self, ctx: TrainContext, batch: Batch, features: list[torch.Tensor] | None = None,
               g: list[torch.Tensor] | None = None) -> None:
        """One stage-2 step on ``batch``: f_msr's Adam step on meta-gradients averaged over processes."""
        alpha = ctx.lr if self.config.meta_lr is None else self.config.meta_lr
        result = self.meta_step(ctx.branch, batch, alpha, features, g)
        for parameter, grad in zip(self.semantics.parameters(), result.gradients):
            parameter.grad = grad
        average_gradients(self.semantics.parameters())
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self._sums["icl_msr_meta_loss"] += float(result.meta_loss)
        self._sums["icl_msr_uniformity"] += float(result.uniformity)
        self._meta_steps += 1

    def on_step_end(self, ctx: TrainContext) -> None:
        """Forget the step's cached teacher features, f_msr input and pooled features."""
        self._step = None
        self._features = None

    def on_epoch_start(self, ctx: TrainContext) -> None:
        """Reset the epoch's meta-step means."""
        self._sums = dict.fromkeys(self._sums, 0.0)
        self._meta_steps = 0

    def on_epoch_end(self, ctx: TrainContext) -> None:
        """Add this process's epoch means of L_ct(theta') and L_uni to the metrics."""
        if self._meta_steps:
            ctx.metrics.update({k: round(v / self._meta_steps, 6) for k, v in self._sums.items()})

    def extra_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """f_msr's Adam (saved in checkpoints as ``icl-msr.adam``)."""
        return {"adam": self.optimizer}
