"""Registers the ``moco`` (v1) and ``moco-v2`` branches: one class, two presets."""

from __future__ import annotations

from typing import Any

from ssl_core import hookimpl

from ssl_moco.branch import MoCoBranch
from ssl_moco.config import MoCoConfig


def _defaults(views: str, temperature: float) -> dict[str, Any]:
    """MoCo's recipe: SGD, lr 0.03 per 256 images, weight decay 1e-4 (He et al., 2020)."""
    return {"views": views, "loss": "info-nce", "optimizer": "sgd", "lr": 0.03, "weight_decay": 1e-4,
            "options": {"loss": {"info-nce": {"temperature": temperature}}}}


DEFAULTS = _defaults("moco-v1", 0.07)
DEFAULTS_V2 = _defaults("moco-v2", 0.2)

#: the paper ``moco`` implements (model cards cite it).
MOCO_PAPER = "Momentum Contrast for Unsupervised Visual Representation Learning (He et al., CVPR 2020)"
#: the paper ``moco-v2`` implements (model cards cite it).
MOCO_V2_PAPER = "Improved Baselines with Momentum Contrastive Learning (Chen, Fan, Girshick and He, 2020)"


@hookimpl
def register_branches(register):
    register("moco", MoCoBranch, config=MoCoConfig, defaults=DEFAULTS, paper=MOCO_PAPER,
             description="MoCo v1: linear head, T 0.07, m 0.999, queue of keys (He et al., 2020)")
    register("moco-v2", MoCoBranch, config=MoCoConfig, options={"head": "mlp"}, defaults=DEFAULTS_V2,
             paper=MOCO_V2_PAPER, description="MoCo v2: MLP head, T 0.2, blur views, m 0.999 (Chen et al., 2020)")
