"""The toolkit for writing branches: heads, momentum targets and collectives.

Everything here is public and stable within an ssl-core minor version; plugins import it as
``from ssl_core.nn import ProjectionHead`` (never from the sub-modules).
"""

from ssl_core.nn.distributed import average_gradients, broadcast_, gather, gather_with_grad, rank, world_size
from ssl_core.nn.heads import ProjectionHead
from ssl_core.nn.momentum import cosine_momentum, momentum_copy, update_momentum
from ssl_core.nn.precision import full_precision

__all__ = [
    "ProjectionHead",
    "average_gradients",
    "broadcast_",
    "cosine_momentum",
    "full_precision",
    "gather",
    "gather_with_grad",
    "momentum_copy",
    "rank",
    "update_momentum",
    "world_size",
]
