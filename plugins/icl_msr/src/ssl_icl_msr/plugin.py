"""Registers the ``icl-msr`` regularizer."""

from __future__ import annotations

from ssl_core import Register, hookimpl

from ssl_icl_msr.config import ICLMSRConfig
from ssl_icl_msr.regularizer import ICLMSR

#: the paper ``icl-msr`` implements (model cards cite it).
ICL_MSR_PAPER = ("Interventional Contrastive Learning with Meta Semantic Regularizer (Qiang, Li, Zheng, Su and "
                 "Xiong, ICML 2022)")


@hookimpl
def register_regularizers(register: Register) -> None:
    """Register ``icl-msr``."""
    register("icl-msr", ICLMSR, config=ICLMSRConfig, paper=ICL_MSR_PAPER,
             description="ICL-MSR: backdoor adjustment over n meta-learned channel re-weightings (Qiang, Li et al., 2022)")
