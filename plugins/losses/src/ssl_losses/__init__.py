"""Losses for ssl: ``nt-xent``, ``info-nce``, ``neg-cosine``, ``normalized-mse``, ``margin-contrastive``
and ``triplet``, and the ``uniformity`` regularizer."""

from ssl_losses.cosine import NegativeCosineLoss, NormalizedMSELoss
from ssl_losses.info_nce import InfoNCEConfig, InfoNCELoss
from ssl_losses.margin import MarginContrastiveConfig, MarginContrastiveLoss
from ssl_losses.nt_xent import NTXentConfig, NTXentLoss
from ssl_losses.triplet import TripletConfig, TripletLoss
from ssl_losses.uniformity import UniformityConfig, UniformityRegularizer, uniformity

__all__ = [
    "InfoNCEConfig",
    "InfoNCELoss",
    "MarginContrastiveConfig",
    "MarginContrastiveLoss",
    "NTXentConfig",
    "NTXentLoss",
    "NegativeCosineLoss",
    "NormalizedMSELoss",
    "TripletConfig",
    "TripletLoss",
    "UniformityConfig",
    "UniformityRegularizer",
    "uniformity",
]
