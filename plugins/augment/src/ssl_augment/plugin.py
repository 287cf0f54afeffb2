"""The ``ssl`` plugin of ssl-augment: registers the ``simclr`` and ``identity`` view generators."""

from __future__ import annotations

from ssl_core import hookimpl
from ssl_core.hookspecs import Register

from ssl_augment.identity import IdentityViews, IdentityViewsConfig
from ssl_augment.simclr import SimCLRViews, SimCLRViewsConfig


@hookimpl
def register_view_generators(register: Register) -> None:
    """Register the view generators of this package."""
    register("simclr", SimCLRViews, config=SimCLRViewsConfig)
    register("identity", IdentityViews, config=IdentityViewsConfig)
