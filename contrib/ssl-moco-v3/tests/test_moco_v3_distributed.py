"""Two CPU processes (torchrun, gloo): each query is contrasted with the keys of the global batch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
from safetensors.torch import load_file
from ssl_core import create

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with the gloo backend is not available")
SCRIPT = Path(__file__).parent / "moco_v3_two_processes.py"
TIMEOUT_S = 120


def _two_processes(out: Path) -> list[dict[str, torch.Tensor]]:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(SCRIPT),
               str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish in {TIMEOUT_S} s:\n{output[-4000:]}")
    assert proc.returncode == 0, f"torchrun failed ({proc.returncode}):\n{output[-6000:]}"
    return [load_file(out / f"rank{r}.safetensors") for r in (0, 1)]


def test_two_processes_contrast_against_the_gathered_keys_with_offset_labels(tmp_path):
    """Process r's queries are rows r*B..(r+1)*B of the one-process computation on the global
    batch: their positive is key i + r*B among all 2B keys. The mean of the two losses is the
    one-process loss, and each process's query gradient is W times the one-process one."""
    ranks = _two_processes(tmp_path)
    generator = torch.Generator().manual_seed(0)
    q = torch.randn(8, 3, generator=generator).requires_grad_()
    k = torch.randn(8, 3, generator=generator)
    full = create("loss", "moco-v3")(q, k)
    full.loss.backward()
    for rank, saved in enumerate(ranks):
        rows = slice(rank * 4, (rank + 1) * 4)
        torch.testing.assert_close(saved["positive_log_prob"], full.positive_log_prob[rows].detach())
        torch.testing.assert_close(saved["grad"] / 2, q.grad[rows])
    torch.testing.assert_close((ranks[0]["loss"] + ranks[1]["loss"]) / 2, full.loss.detach())
