"""ssl-losses as a plugin: what it registers, and that it imports only the public ssl_core API."""

from __future__ import annotations

from pathlib import Path

import ssl_losses
from ssl_core import spec

SOURCES = sorted(Path(ssl_losses.__file__).parent.glob("*.py"))
LOSSES = {
    "nt-xent": (ssl_losses.NTXentLoss, ssl_losses.NTXentConfig),
    "neg-cosine": (ssl_losses.NegativeCosineLoss, None),
    "normalized-mse": (ssl_losses.NormalizedMSELoss, None),
    "info-nce": (ssl_losses.InfoNCELoss, ssl_losses.InfoNCEConfig),
    "margin-contrastive": (ssl_losses.MarginContrastiveLoss, ssl_losses.MarginContrastiveConfig),
    "triplet": (ssl_losses.TripletLoss, ssl_losses.TripletConfig),
}


def test_the_losses_and_uniformity_are_registered_by_ssl_losses():
    for name, (factory, config) in LOSSES.items():
        registered = spec("loss", name)
        assert (registered.package, registered.factory) == ("ssl-losses", factory)
        assert config is None or registered.config is config
    uniformity = spec("regularizer", "uniformity")
    assert uniformity.package == "ssl-losses"
    assert (uniformity.factory, uniformity.config) == (ssl_losses.UniformityRegularizer, ssl_losses.UniformityConfig)
