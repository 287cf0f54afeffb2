"""ICL-MSR for ssl: the ``icl-msr`` meta semantic regularizer."""

from ssl_icl_msr.adjustment import backdoor_loss, stratum_score
from ssl_icl_msr.config import ICLMSRConfig
from ssl_icl_msr.evaluator import BranchEvaluator
from ssl_icl_msr.meta import MetaResult, meta_gradients
from ssl_icl_msr.regularizer import ICLMSR, build_semantics
from ssl_icl_msr.semantics import MetaSemantics, uniformity
from ssl_icl_msr.strata import Strata, check_branch

__all__ = ["ICLMSR", "BranchEvaluator", "ICLMSRConfig", "MetaResult", "MetaSemantics", "Strata",
           "backdoor_loss", "build_semantics", "check_branch", "meta_gradients", "stratum_score", "uniformity"]
