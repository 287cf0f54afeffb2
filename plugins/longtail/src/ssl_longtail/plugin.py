"""Registers the ``long-tail`` dataset and the ``long-tail`` evaluation protocol."""

from ssl_core import Register, hookimpl

from ssl_longtail.dataset import LongTailConfig, long_tail
from ssl_longtail.protocol import LongTailProtocol


@hookimpl
def register_datasets(register: Register) -> None:
    """Register ``long-tail``."""
    register("long-tail", long_tail, config=LongTailConfig)


@hookimpl
def register_eval_protocols(register: Register) -> None:
    """Register ``long-tail``."""
    register("long-tail", LongTailProtocol)
