"""The SwAV queue: length rule, FIFO order, use once full, enqueue after the step, checkpoints."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from ssl_core import Batch, BuildContext, create
from ssl_swav import EmbeddingQueue, queue_length


def test_queue_length_is_whole_global_batches_and_at_most_the_dataset():
    assert queue_length(3840, 0, 256) == 3840  # unknown dataset size: uncapped
    assert queue_length(3840, 1_281_167, 256) == 3840
    assert queue_length(1000, 50_000, 96) == 960  # rounded down to whole batches
    assert queue_length(3840, 300, 32) == 288  # at most the dataset: 300 -> 9 batches
    assert queue_length(10, 1000, 32) == 32  # at least one batch


def test_fifo_holds_the_newest_rows_newest_first_and_counts_to_full():
    queue = EmbeddingQueue(num_global=2, length=6, dim=1)
    for step in range(4):
        queue.push(torch.full((2, 2, 1), float(step)) + torch.tensor([0.0, 0.5]).view(1, 2, 1))
        assert int(queue.count) == min(6, 2 * (step + 1))
        assert queue.full == (step >= 2)
    assert queue.embeddings[0, :, 0].tolist() == [3, 3.5, 2, 2.5, 1, 1.5]  # step 0 dropped out
    assert torch.equal(queue.embeddings[0], queue.embeddings[1])
    assert queue.rows_of(0, 2)[0, :, 0].tolist() == [3, 3.5, 2]  # process 0 of 2: the first half
    assert queue.rows_of(1, 2)[0, :, 0].tolist() == [2.5, 1, 1.5]  # process 1 of 2: the second half


def test_a_checkpoint_restores_the_embeddings_and_the_count():
    queue = EmbeddingQueue(2, 8, 3)
    assert queue.embeddings.shape == (2, 8, 3) and int(queue.count) == 0 and not queue.embeddings.any()
    queue.push(torch.randn(2, 8, 3))
    fresh = EmbeddingQueue(2, 8, 3)
    fresh.load_state_dict(queue.state_dict())
    assert torch.equal(fresh.embeddings, queue.embeddings) and fresh.full


def _branch_and_batch(n: int = 4, num_train: int = 0, **options):
    torch.manual_seed(0)
    context = BuildContext(image_size=16, batch_size=options.pop("batch_size", n), num_train=num_train)
    context.encoder = create("encoder", "small-resnet", context, widths=(4, 4, 8, 8))
    context.loss = create("loss", "swav", context)
    context.views = create("views", "multi-crop", context, local_count=2)
    branch = create("branch", "swav", context, hidden_dim=16, out_dim=8, num_prototypes=6, **options)
    images = torch.rand(n, 3, 16, 16)
    views = context.views(images, torch.Generator().manual_seed(0))
    return branch, Batch(views=views, image=images, index=torch.arange(n))


def _ctx(epoch: int):
    return SimpleNamespace(epoch=epoch, global_step=0, accelerator=SimpleNamespace(gather=lambda t: t))


def test_no_queue_by_default():
    branch, batch = _branch_and_batch()
    assert branch.queue is None
    branch(batch)
    assert branch._pending is None
    assert not any(k.startswith("queue.") for k in branch.state_dict())


def test_the_queue_fills_from_its_start_epoch_and_joins_the_codes_once_full():
    branch, batch = _branch_and_batch(queue_length=8, queue_start_epoch=1)
    others = [Batch(views=[v + torch.randn_like(v) for v in batch.views], image=batch.image, index=batch.index)
              for _ in range(2)]  # two batches of other images
    branch.eval()  # fixed BN statistics: the same batch gives the same scores every time
    branch.on_fit_start(_ctx(0))
    assert branch.queue.length == 8 and "queue.embeddings" in branch.state_dict()
    plain = branch(batch).loss
    branch.on_step_end(_ctx(epoch=0))
    assert int(branch.queue.count) == 0  # before queue_start_epoch: nothing enqueued
    out = branch(others[0])
    expected_rows = torch.stack(out.embeddings[:2]).detach()  # (G, n, D): the global crops' z
    assert not branch.queue.embeddings.any()  # the forward itself never touches the queue
    branch.on_step_end(_ctx(epoch=1))
    assert int(branch.queue.count) == 4 and not branch.queue.full
    torch.testing.assert_close(branch.queue.embeddings[:, :4], expected_rows)
    assert branch.queue_scores() is None
    torch.testing.assert_close(branch(batch).loss, plain)  # a queue that is not full is not used
    branch(others[1])
    branch.on_step_end(_ctx(epoch=1))
    assert branch.queue.full
    torch.testing.assert_close(branch.queue.embeddings[:, 4:], expected_rows)  # older rows move back
    with_queue = branch(batch)
    assert with_queue.loss.item() != pytest.approx(plain.item(), abs=1e-4)
    scores = [branch.prototypes(z) for z in with_queue.embeddings]
    queue_scores = [rows @ branch.prototypes.weight.T for rows in branch.queue.embeddings]
    torch.testing.assert_close(with_queue.loss, branch.criterion(scores, queue_scores).loss)


def test_the_queue_is_sized_for_the_run_when_built():
    branch, _ = _branch_and_batch(queue_length=100, num_train=50, batch_size=16)
    assert branch.queue.length == 48  # min(100, 50) rounded down to 3 batches of 16
