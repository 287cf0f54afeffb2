"""Options of the ``sdclr-pruned`` branch."""

from __future__ import annotations

import attrs
from attrs import validators as v
from ssl_core.options import option

#: the bases the pruned competitor can join: SimCLR (the official method), and our extension.
SUPPORTED_BASES = ("simclr", "byol", "simsiam", "moco", "moco-v2")


@attrs.define
class SDCLRConfig:
    """Options of the ``sdclr-pruned`` branch."""

    base: str = option("simclr", "the method the pruned competitor joins: simclr (official SDCLR), or our "
                                 "extension: byol, simsiam, moco, moco-v2", validator=v.instance_of(str))
    base_options: dict = option({}, "options of the base branch (simclr: head_layers 3 and last_bn true unless "
                                    "given, the official SDCLR head; moco: symmetric true)",
                                validator=v.instance_of(dict))
    prune_ratio: float = option(0.9, "fraction p of the encoder's convolution weights the competitor drops "
                                     "(global magnitude, k = ceil(p N))",
                                validator=[v.ge(0.0), v.lt(1.0)], converter=float)
