"""The MoCo queue: size rule and FIFO enqueue with wrap-around."""

from __future__ import annotations

import torch
from ssl_moco import effective_queue_size, fifo_enqueue


def test_queue_size_is_capped_to_half_the_dataset_in_whole_steps():
    assert effective_queue_size(65536, 300, 32) == 128  # 150 // 32 * 32
    assert effective_queue_size(65536, 1_000_000, 256) == 65536
    assert effective_queue_size(100, 1_000_000, 32) == 100  # the option wins when smaller
    assert effective_queue_size(65536, 40, 32) == 32  # at least one step of keys
    assert effective_queue_size(65536, 0, 32) == 65536  # unknown dataset size: uncapped


def test_fifo_keeps_its_size_advances_by_the_batch_and_holds_the_newest_keys():
    queue, ptr = torch.zeros(6, 2), torch.zeros((), dtype=torch.long)
    batches = [torch.full((2, 2), float(step)) for step in range(5)]
    for step, keys in enumerate(batches):
        fifo_enqueue(queue, ptr, keys)
        assert queue.shape == (6, 2)
        assert int(ptr) == 2 * (step + 1) % 6
    assert sorted(queue[:, 0].tolist()) == [2, 2, 3, 3, 4, 4]  # the three newest batches
    torch.testing.assert_close(queue[0:2], batches[3])  # step 3 wrapped around to row 0


def test_fifo_wraps_a_batch_that_straddles_the_end():
    queue, ptr = torch.zeros(5, 1), torch.tensor(4)
    fifo_enqueue(queue, ptr, torch.tensor([[1.0], [2.0]]))
    assert queue[:, 0].tolist() == [2, 0, 0, 0, 1] and int(ptr) == 1
