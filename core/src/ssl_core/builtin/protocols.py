"""Built-in evaluation protocols of ``ssl eval``."""

from ssl_core.evaluation.protocols import FewShotProtocol, KNNProtocol, LinearProtocol
from ssl_core.hookspecs import hookimpl


@hookimpl
def register_eval_protocols(register):
    register("linear", LinearProtocol)
    register("few-shot", FewShotProtocol)
    register("knn", KNNProtocol)
