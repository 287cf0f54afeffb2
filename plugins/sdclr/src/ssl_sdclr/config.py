"""Options of the ``sdclr-pruned`` branch."""

from __future__ import annotations

import attrs
from attrs import validators as v
from ssl_core import option

#: the base of the official method, and its official head (3 linear layers, BN after the output).
OFFICIAL_BASE = "simclr"
OFFICIAL_BASE_OPTIONS = {"head_layers": 3, "last_bn": True}


@attrs.define
class SDCLRConfig:
    """Options of the ``sdclr-pruned`` branch."""

    base: str = option(OFFICIAL_BASE, "the registered 2-view branch the pruned competitor joins (simclr: the "
                                      "official SDCLR; any other is our extension)", validator=v.instance_of(str))
    base_options: dict = option({}, "options of the base branch (simclr: head_layers 3 and last_bn true unless "
                                    "given, the official SDCLR head)", validator=v.instance_of(dict))
    prune_ratio: float = option(0.9, "fraction p of the encoder's convolution (and linear) weights the competitor "
                                     "drops (global magnitude, k = ceil(p N))",
                                validator=[v.ge(0.0), v.lt(1.0)], converter=float)
