"""Two CPU processes (torchrun, gloo): f_msr's meta-gradients are averaged, so f_msr stays identical."""

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

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with the gloo backend is not available")
SCRIPT = Path(__file__).parent / "icl_msr_two_processes.py"
TIMEOUT_S = 240


@pytest.fixture(scope="module")
def ranks(tmp_path_factory) -> list[dict[str, dict[str, torch.Tensor]]]:
    """What each of the two processes saved (``meta`` and ``trained``)."""
    out = tmp_path_factory.mktemp("icl-msr-two-processes")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(SCRIPT), str(out)]
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
    return [{name: load_file(out / f"{name}.rank{r}.safetensors") for name in ("meta", "trained")} for r in (0, 1)]


def _group(saved: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {k[len(prefix) + 1:]: v for k, v in saved.items() if k.startswith(prefix + ".")}


def test_meta_gradients_are_averaged_so_f_msr_stays_identical_on_both_processes(ranks):
    """Different data give different local meta-gradients; each process then takes the Adam step
    of their mean (first Adam step: lr * g / (|g| + eps)), so both end with the same f_msr."""
    meta = [r["meta"] for r in ranks]
    start, end = _group(meta[0], "start"), [_group(m, "end") for m in meta]
    local = [_group(m, "local") for m in meta]
    assert any(not torch.allclose(local[0][k], local[1][k]) for k in local[0])
    for name, p0 in start.items():
        assert torch.equal(_group(meta[1], "start")[name], p0)
        assert torch.equal(end[0][name], end[1][name]), name
        mean = (local[0][name] + local[1][name]) / 2
        torch.testing.assert_close(end[0][name], p0 - 1e-3 * mean / (mean.abs() + 1e-8), rtol=1e-5, atol=1e-7)
    assert any(not torch.equal(end[0][k], start[k]) for k in start)


def test_a_trainer_run_on_two_processes_keeps_f_msr_identical(ranks):
    trained = [r["trained"] for r in ranks]
    assert trained[0].keys() == trained[1].keys() and trained[0]
    for name, value in trained[0].items():
        assert torch.equal(value, trained[1][name]), name
