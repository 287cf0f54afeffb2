"""Built-in losses."""

from ssl_core.hookspecs import hookimpl
from ssl_core.losses.cosine import NegativeCosineLoss, NormalizedMSELoss
from ssl_core.losses.info_nce import InfoNCEConfig, InfoNCELoss
from ssl_core.losses.margin import MarginContrastiveConfig, MarginContrastiveLoss
from ssl_core.losses.nt_xent import NTXentConfig, NTXentLoss
from ssl_core.losses.swav import SwAVConfig, SwAVLoss
from ssl_core.losses.triplet import TripletConfig, TripletLoss


@hookimpl
def register_losses(register):
    register("nt-xent", NTXentLoss, config=NTXentConfig)
    register("neg-cosine", NegativeCosineLoss)
    register("normalized-mse", NormalizedMSELoss)
    register("info-nce", InfoNCELoss, config=InfoNCEConfig)
    register("swav", SwAVLoss, config=SwAVConfig)
    register("margin-contrastive", MarginContrastiveLoss, config=MarginContrastiveConfig)
    register("triplet", TripletLoss, config=TripletConfig)
