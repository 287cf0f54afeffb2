"""timm backbones for ssl: the encoder ``timm`` (any timm model, pooled features, timm's key layout)."""

from ssl_timm.config import TimmConfig
from ssl_timm.encoder import timm_encoder

__all__ = ["TimmConfig", "timm_encoder"]
