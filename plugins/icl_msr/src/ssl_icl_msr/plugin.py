"""Registers the ``icl-msr`` regularizer."""

from __future__ import annotations

from ssl_core import Register, hookimpl

from ssl_icl_msr.config import ICLMSRConfig
from ssl_icl_msr.regularizer import ICLMSR


@hookimpl
def register_regularizers(register: Register) -> None:
    """Register ``icl-msr``."""
    register("icl-msr", ICLMSR, config=ICLMSRConfig,
             description="ICL-MSR: backdoor adjustment over n meta-learned channel re-weightings (Qiang, Li et al., 2022)")
