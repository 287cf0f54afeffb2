"""Registers the ``timm`` encoder (timm itself is imported only when the encoder is built)."""

from ssl_core import Register, hookimpl

from ssl_timm.config import TimmConfig
from ssl_timm.encoder import timm_encoder


@hookimpl
def register_encoders(register: Register) -> None:
    register("timm", timm_encoder, config=TimmConfig)
