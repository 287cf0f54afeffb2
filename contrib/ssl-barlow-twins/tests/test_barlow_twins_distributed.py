"""Two CPU processes (torchrun, gloo): the loss is over the global batch, as on one process."""

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
SCRIPT = Path(__file__).parent / "barlow_twins_two_processes.py"
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


def test_two_processes_compute_the_global_batch_loss_and_its_gradient(tmp_path):
    """Each process gets the one-process loss of the whole batch; its gradient is W times the
    one-process gradient of its rows, so the trainer's average over W processes gives the
    one-process gradient of the parameters."""
    ranks = _two_processes(tmp_path)
    generator = torch.Generator().manual_seed(0)
    z1 = torch.randn(8, 4, generator=generator).requires_grad_()
    z2 = torch.randn(8, 4, generator=generator).requires_grad_()
    loss = create("loss", "barlow-twins")(z1, z2).loss
    loss.backward()
    for rank, saved in enumerate(ranks):
        rows = slice(rank * 4, (rank + 1) * 4)
        torch.testing.assert_close(saved["loss"], loss.detach())
        torch.testing.assert_close(saved["grad1"] / 2, z1.grad[rows])
        torch.testing.assert_close(saved["grad2"] / 2, z2.grad[rows])
    # the local loss alone (its own half as the batch) would differ
    assert not torch.allclose(create("loss", "barlow-twins")(z1[:4], z2[:4]).loss, loss)
