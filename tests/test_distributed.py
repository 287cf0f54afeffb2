"""Two CPU processes (gloo, torchrun) against one: gathers, Sinkhorn, MoCo's shuffle-BN and
queue, DDP with a component's own optimiser, and end-to-end runs of simclr and moco.

Two torchrun launches per session (module fixtures): tests/distributed/checks.py (the collective
checks, then a MoCo run through the Trainer) saves what every process computed, which the tests
compare with one process on the global batch; ``ssl run`` trains simclr.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file

from ssl_core import Batch
from ssl_swav import sinkhorn
from ssl_core.run_folder import load_checkpoint

SCRIPTS = Path(__file__).parent / "distributed"
sys.path.insert(0, str(SCRIPTS))
import ssl_tiny as tiny  # noqa: E402

pytestmark = pytest.mark.skipif(not (dist.is_available() and dist.is_gloo_available()),
                                reason="torch.distributed with the gloo backend is not available")
TIMEOUT_S = 180


def torchrun(*args: str, cwd: Path | None = None) -> str:
    """Run ``torchrun --standalone --nproc-per-node 2 ARGS`` (a free port, 1 thread per process);
    the output, or a failure showing it. The whole process group is killed on timeout."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={tiny.WORLD}", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"torchrun did not finish in {TIMEOUT_S} s:\n{output[-4000:]}")
    assert proc.returncode == 0, f"torchrun failed ({proc.returncode}):\n{output[-6000:]}"
    return output


def _per_rank(folder: Path, name: str) -> list[dict[str, torch.Tensor]]:
    return [load_file(folder / f"{name}.rank{r}.safetensors") for r in range(tiny.WORLD)]


@pytest.fixture(scope="module")
def checks(tmp_path_factory) -> Path:
    """The folder of what tests/distributed/checks.py saved (collectives, then the MoCo run)."""
    out = tmp_path_factory.mktemp("two-processes")
    torchrun(str(SCRIPTS / "checks.py"), str(out))
    return out


def test_on_one_process_the_helpers_are_identities():
    from ssl_core.nn.distributed import average_gradients, broadcast_, gather, gather_with_grad, rank, world_size

    x = torch.randn(3, 2, requires_grad=True)
    assert world_size() == 1 and rank() == 0
    assert gather_with_grad(x) is x and torch.equal(gather(x), x) and not gather(x).requires_grad
    y = torch.randn(4)
    assert broadcast_(y) is y
    x.grad = torch.ones(3, 2)
    average_gradients([x])
    assert torch.equal(x.grad, torch.ones(3, 2))


# -- SimCLR: the gathered negatives ------------------------------------------------------------

def test_simclr_on_two_processes_matches_one_process_on_the_global_batch(checks):
    """nt-xent contrasts each process's anchors with the gathered global batch. Each loss is
    the mean over the local anchors, so the mean of the processes' losses is the one-process
    loss; DDP averages the gradients, giving exactly the one-process gradient (factor 1); the
    per-process gradients before averaging sum to WORLD times it."""
    ranks = _per_rank(checks, "simclr")
    branch = tiny.simclr_branch()
    views = [tiny.images(seed=0), tiny.images(seed=1)]
    out = branch(Batch(views=views, image=views[0], index=tiny.INDEX))
    out.loss.backward()
    torch.testing.assert_close(torch.stack([r["loss"] for r in ranks]).mean(), out.loss.detach())
    assert not torch.allclose(ranks[0]["loss"], ranks[1]["loss"])  # each process has its own anchors
    for name, p in branch.named_parameters():
        for r in ranks:
            torch.testing.assert_close(r[f"grad.{name}"], p.grad, rtol=1e-4, atol=1e-6)
        summed = sum(r[f"local_grad.{name}"] for r in ranks)
        torch.testing.assert_close(summed, tiny.WORLD * p.grad, rtol=1e-4, atol=1e-6)
    head = "head.0.weight"
    assert not torch.allclose(ranks[0][f"local_grad.{head}"], ranks[0][f"grad.{head}"], atol=1e-6)


# -- SwAV: Sinkhorn over the global batch --------------------------------------------------------

def test_sinkhorn_codes_on_two_processes_equal_the_codes_of_the_global_batch(checks):
    ranks = _per_rank(checks, "sinkhorn")
    scores = tiny.sinkhorn_scores()
    expected = sinkhorn(scores, iterations=3, epsilon=0.05)
    torch.testing.assert_close(torch.cat([r["codes"] for r in ranks]), expected)
    alone = sinkhorn(scores[tiny.local_rows(0)], iterations=3, epsilon=0.05)
    assert not torch.allclose(alone, expected[tiny.local_rows(0)], atol=1e-3)  # the all-reduce matters


# -- MoCo: shuffle-BN across processes and the shared queue -----------------------------------------

@pytest.mark.parametrize("bn_splits", [1, 2])
def test_moco_keys_use_shuffle_bn_across_processes(checks, bn_splits):
    """Keys equal a by-hand reference: the global batch permuted by the permutation of the
    gathered indices, process r's key encoder (train-mode BN) on shard r in ``bn_splits``
    interleaved sub-batches, outputs unshuffled; and each BN batch mixes both processes' samples. (The
    reference runs the online encoder, which still has the key encoder's weights, with plain
    batch norms, sub-batch by sub-batch; the key encoder itself runs each shard in one forward.)"""
    from ssl_moco import batch_permutation

    ranks = _per_rank(checks, f"moco_keys_{bn_splits}")
    branch = tiny.moco_branch(bn_splits)
    x, n = tiny.images(seed=3), tiny.GLOBAL_BATCH // tiny.WORLD
    perm = batch_permutation(tiny.INDEX)
    features = torch.empty(tiny.GLOBAL_BATCH, branch.encoder.feature_dim)
    with torch.no_grad():
        for r in range(tiny.WORLD):
            shard = perm[r * n:(r + 1) * n]
            for k in range(bn_splits):  # sub-batch k: every bn_splits-th row of the shard from row k
                features[shard[k::bn_splits]] = branch.encoder(x[shard[k::bn_splits]])
            keys = F.normalize(branch.key_head(features), dim=1)
        local = F.normalize(branch.key_head(branch.key_encoder(x[tiny.local_rows(0)])), dim=1)
    for r, saved in enumerate(ranks):
        torch.testing.assert_close(saved["keys"], keys[tiny.local_rows(r)], rtol=1e-4, atol=1e-5)
        shard = perm[r * n:(r + 1) * n]
        torch.testing.assert_close(saved["seen"], x[shard][None])  # one forward of the whole shard
        assert {int(i) // n for i in shard} == {0, 1}  # this BN batch holds samples of both processes
    assert not torch.allclose(ranks[0]["keys"], local, atol=1e-4)  # not the local batch's statistics


def test_moco_queue_is_the_same_on_every_process_and_holds_the_gathered_keys(checks):
    from ssl_moco import fifo_enqueue

    ranks = _per_rank(checks, "moco_queue")
    assert not torch.equal(ranks[0]["initial"], ranks[1]["initial"])
    for saved in ranks:
        assert torch.equal(saved["start"], ranks[0]["initial"])  # process 0's queue, broadcast
    expected, ptr = ranks[0]["initial"].clone(), torch.zeros((), dtype=torch.long)
    for step in range(4):
        fifo_enqueue(expected, ptr, torch.cat([r[f"pending.{step}"] for r in ranks]))  # rank order
    for saved in ranks:
        assert torch.equal(saved["queue"], expected)
        assert int(saved["queue_ptr"]) == int(ptr) == (4 * tiny.GLOBAL_BATCH) % 24
    assert torch.equal(ranks[0]["key_params"], ranks[1]["key_params"])


# -- end to end: the trainer on two processes ----------------------------------------------------

STEPS = 120 // 32  # shapes keeps 12 of 128 images per class: 3 steps of the global batch 32


def _check_run_folder(run: Path) -> dict:
    """One checkpoint (epoch 1), the encoder, one metrics line with k-NN, no temporary files."""
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["epoch-0001"]
    assert not [p.name for p in run.rglob("*") if ".tmp" in p.name]
    _, meta = load_checkpoint(run / "checkpoints" / "epoch-0001")
    assert meta["global_step"] == STEPS  # each process took 16 of the 32 images per step
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == 1 and rows[0]["epoch"] == 1 and 0.0 <= rows[0]["knn_top1"] <= 1.0
    assert torch.isfinite(torch.tensor(rows[0]["loss"]))
    assert json.loads((run / "summary.json").read_text())["knn_top1"] == rows[0]["knn_top1"]
    assert (run / "encoder.safetensors").is_file() and (run / "config.yaml").is_file()
    return meta


@pytest.fixture(scope="module")
def simclr_cli(tmp_path_factory) -> tuple[Path, str]:
    """``ssl run`` without --output-dir: the main process's clock names the one run folder."""
    cwd = tmp_path_factory.mktemp("simclr")
    output = torchrun(str(Path(sys.executable).with_name("ssl")), "run", "--branch", "simclr", "--epochs", "1",
                      "--batch-size", "32", "--set", "encoder.widths=[4, 4, 8, 8]",
                      "--set", "dataset.num_train=128", "--set", "dataset.num_test=40", "--set", "dataset.image_size=16",
                      "--set", "callback.knn-monitor.k=10", "--set", "callback.knn-monitor.untrained=false", cwd=cwd)
    runs = list((cwd / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("simclr-"), runs
    return runs[0], output


def test_ssl_run_simclr_on_two_processes_writes_its_files_once(simclr_cli):
    run, output = simclr_cli
    _check_run_folder(run)
    assert output.count("k-NN top-1 final") == 1  # only the main process prints the summary


def test_trainer_moco_on_two_processes_with_a_self_trained_regularizer(checks):
    """DDP wraps the model; the regularizer's own parameter (no gradient from the loss, its own
    optimiser) does not make DDP fail and is checkpointed with its optimiser."""
    meta = _check_run_folder(checks / "run")
    assert "center-tracker.sgd" in meta["optimizers"]
    with safe_open(str(checks / "state.rank0.safetensors"), "pt") as handle:
        assert handle.metadata() == {"processes": "2", "ddp": "DistributedDataParallel"}


def test_parameters_queue_and_momentum_targets_agree_across_processes(checks):
    ranks = _per_rank(checks, "state")
    tensors, _ = load_checkpoint(checks / "run" / "checkpoints" / "epoch-0001")
    statistics = ("running_mean", "running_var", "num_batches_tracked")  # each process's last batch
    compared = [k for k in ranks[0] if not k.endswith(statistics)]
    assert any(k.startswith("branch.key_encoder.") for k in compared) and "branch.queue" in compared
    for key in compared:
        assert torch.equal(ranks[0][key], ranks[1][key]), key
        assert torch.equal(tensors[f"model.{key}"], ranks[0][key]), key
    center = ranks[0]["regularizers.center-tracker.center"]
    assert center.abs().sum() > 0  # its own optimiser moved it from zero
