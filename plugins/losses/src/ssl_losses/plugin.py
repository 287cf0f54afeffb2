"""Registers the losses and the ``uniformity`` regularizer (SwAV's loss is in ssl-swav)."""

from ssl_core import Register, hookimpl

from ssl_losses.cosine import NegativeCosineLoss, NormalizedMSELoss
from ssl_losses.info_nce import InfoNCEConfig, InfoNCELoss
from ssl_losses.margin import MarginContrastiveConfig, MarginContrastiveLoss
from ssl_losses.nt_xent import NTXentConfig, NTXentLoss
from ssl_losses.triplet import TripletConfig, TripletLoss
from ssl_losses.uniformity import UniformityConfig, UniformityRegularizer

#: the paper ``uniformity`` implements (model cards cite it).
UNIFORMITY_PAPER = ("Understanding Contrastive Representation Learning through Alignment and Uniformity on the "
                    "Hypersphere (Wang and Isola, ICML 2020)")


@hookimpl
def register_losses(register: Register) -> None:
    register("nt-xent", NTXentLoss, config=NTXentConfig)
    register("neg-cosine", NegativeCosineLoss)
    register("normalized-mse", NormalizedMSELoss)
    register("info-nce", InfoNCELoss, config=InfoNCEConfig)
    register("margin-contrastive", MarginContrastiveLoss, config=MarginContrastiveConfig)
    register("triplet", TripletLoss, config=TripletConfig)


@hookimpl
def register_regularizers(register: Register) -> None:
    register("uniformity", UniformityRegularizer, config=UniformityConfig, paper=UNIFORMITY_PAPER)
