"""Run by ``torchrun --nproc-per-node 2`` from tests/test_distributed.py: the collective checks,
then the MoCo training run, in one launch so the processes start once. Argument: OUT folder."""

from __future__ import annotations

import sys
from pathlib import Path

import collectives
import train_moco

if __name__ == "__main__":
    out = Path(sys.argv[1])
    collectives.main(out)
    train_moco.main(out)
