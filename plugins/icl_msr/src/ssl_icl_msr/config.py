"""Options of the ``icl-msr`` regularizer."""

from __future__ import annotations

import attrs
from attrs import validators as v
from ssl_core import non_negative, one_of, option, positive

#: the two readings of the backdoor adjustment (see ``ssl_icl_msr.adjustment``).
ADJUSTMENTS = ("log-of-average", "average-of-log")
#: how the meta-gradient's second-order term is computed (see ``ssl_icl_msr.meta``).
META_GRADIENTS = ("exact", "finite-difference")
#: what f_msr reads (see ``ssl_icl_msr.semantics``).
MSR_INPUTS = ("image", "features", "free")
#: how f_msr's outputs become non-negative channel weights.
ACTIVATIONS = ("sigmoid", "softmax")


def _widths(value: object) -> tuple[int, ...]:
    widths = tuple(int(w) for w in value)  # type: ignore[union-attr]
    if not widths or min(widths) < 1:
        raise ValueError(f"msr_widths must be one or more positive integers, got {value!r}")
    return widths


def _optional_float(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


@attrs.define
class ICLMSRConfig:
    """Options of ``icl-msr``."""

    num_semantics: int = option(8, "n, the number of meta semantic vectors a_t per image", validator=v.ge(1))
    weight: float = option(0.5, "lambda, the weight of L_msr in L_to = L_ct + lambda * L_msr",
                           validator=non_negative, converter=float)
    uniformity_weight: float = option(0.1, "gamma, the weight of L_uni(A_s) in f_msr's meta objective",
                                      validator=non_negative, converter=float)
    uniformity_t: float = option(2.0, "t of the uniformity kernel exp(2t a_i.a_j - 2t)", validator=positive,
                                 converter=float)
    adjustment: str = option("log-of-average", "L_msr: -mean log((1/n) sum_t P_t) (log-of-average, the backdoor "
                                               "adjustment) or -mean (1/n) sum_t log P_t (average-of-log)",
                             validator=one_of(*ADJUSTMENTS))
    meta_every: int = option(1, "run the meta step (stage 2) every this many steps", validator=v.ge(1))
    meta_lr: float | None = option(None, "alpha, the virtual SGD step size (None: the main optimiser's current lr)",
                                   validator=v.optional(non_negative), converter=_optional_float)
    meta_gradient: str = option("exact", "second-order term: exact (forward-mode JVP, no approximation) or "
                                         "finite-difference (DARTS-style, two extra forwards)",
                                validator=one_of(*META_GRADIENTS))
    fd_epsilon: float = option(0.001, "finite-difference step: epsilon = fd_epsilon / |v|", validator=positive,
                               converter=float)
    msr_input: str = option("image", "f_msr's input: image (a small CNN on the un-augmented image), features "
                                     "(an MLP on its detached encoder features) or free (one learned A_s)",
                            validator=one_of(*MSR_INPUTS))
    msr_widths: tuple = option((16, 32, 64), "f_msr's conv widths (image: stride-2 3x3 convs; features: "
                                             "the MLP's hidden widths)", converter=_widths)
    activation: str = option("sigmoid", "a_t = sigmoid(logits), or c * softmax(logits) over the c channels",
                             validator=one_of(*ACTIVATIONS))
    msr_lr: float = option(1e-3, "f_msr's Adam learning rate", validator=positive, converter=float)
