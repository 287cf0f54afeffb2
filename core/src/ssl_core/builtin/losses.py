"""Built-in losses."""

from ssl_core.hookspecs import hookimpl
from ssl_core.losses.cosine import NegativeCosineLoss, NormalizedMSELoss
from ssl_core.losses.nt_xent import NTXentConfig, NTXentLoss


@hookimpl
def register_losses(register):
    register("nt-xent", NTXentLoss, config=NTXentConfig)
    register("neg-cosine", NegativeCosineLoss)
    register("normalized-mse", NormalizedMSELoss)
