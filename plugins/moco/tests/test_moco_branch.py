"""The MoCo branch: momentum update, queue negatives, shuffle-BN emulation, presets."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from ssl_core import Batch, BuildContext, create
from ssl_core import IncompatibleComponentsError
from ssl_moco import SplitBatchNorm2d, batch_permutation, shuffle_bn_forward, split_batch_norms
from torch import nn

CTX = SimpleNamespace(accelerator=SimpleNamespace(gather=lambda t: t))  # one process


def _context(num_train: int = 0, views: str = "simclr", batch: int = 4, **view_options) -> BuildContext:
    torch.manual_seed(0)
    context = BuildContext(image_size=16, num_train=num_train, batch_size=batch)
    context.encoder = create("encoder", "small-resnet", context, widths=(4, 4, 8, 8))
    context.loss = create("loss", "info-nce", context, temperature=0.2)
    context.views = create("views", views, context, **view_options)
    return context


def _branch(name: str = "moco", batch: int = 4, **options):
    context = _context(num_train=options.pop("num_train", 0), batch=batch)
    branch = create("branch", name, context, out_dim=6, hidden_dim=16, **options)
    return branch, context


def _keys(branch, batch: Batch) -> list:
    """The normalised keys of each view the branch keys (``None`` for the other)."""
    with torch.no_grad():
        return [None if t is None else F.normalize(branch.key_head(t), dim=1) for t in branch.teacher_features(batch)]


def _batch(context: BuildContext, n: int = 4, seed: int = 0) -> Batch:
    images = torch.rand(n, 3, 16, 16, generator=torch.Generator().manual_seed(seed))
    views = context.views(images, torch.Generator().manual_seed(seed))
    return Batch(views=views, image=images, index=torch.arange(n) + n * seed)


def _sgd_step(branch, batch: Batch):
    out = branch(batch)
    optimizer = torch.optim.SGD([p for p in branch.parameters() if p.requires_grad], lr=0.5)
    out.loss.backward()
    optimizer.step()
    return out


def test_momentum_update_is_the_ema_of_the_updated_online_parameters():
    branch, context = _branch(momentum=0.9)
    before = [p.clone() for p in [*branch.key_encoder.parameters(), *branch.key_head.parameters()]]
    _sgd_step(branch, _batch(context))
    keys = [*branch.key_encoder.parameters(), *branch.key_head.parameters()]
    assert all(p.grad is None and not p.requires_grad for p in keys)
    assert all(torch.equal(p, old) for p, old in zip(keys, before))  # backward and step leave keys alone
    online = [p.detach().clone() for p in [*branch.encoder.parameters(), *branch.head.parameters()]]
    branch.on_step_end(CTX)
    for p, old, o in zip(keys, before, online):
        assert torch.equal(p, old.mul(0.9).add(o, alpha=1 - 0.9))  # m * old + (1 - m) * online
    assert any(not torch.equal(p, old) for p, old in zip(keys, before))


def test_negatives_are_the_pre_step_queue_and_the_step_keys_are_enqueued_after():
    branch, context = _branch()
    batch = _batch(context)
    queue_before = branch.queue.clone()
    out = branch(batch)
    k2 = _keys(branch, batch)[1]
    q1 = F.normalize(branch.head(out.features[0]), dim=1)
    torch.testing.assert_close(out.targets[1], k2)
    torch.testing.assert_close(out.loss, branch.criterion(q1, k2, queue_before).loss)
    assert torch.equal(branch.queue, queue_before)  # forward does not enqueue
    torch.testing.assert_close(out.embeddings[0], q1)
    assert out.positive_log_prob.shape == (4,)
    assert out.features[1] is None and out.embeddings[1] is None  # view 2 is the key alone: never encoded online
    again = branch.loss_from_features([out.features[0].detach(), None], out.teacher)  # a regularizer's re-run
    torch.testing.assert_close(again.loss, out.loss)
    branch.on_step_end(CTX)
    torch.testing.assert_close(branch.queue[:4], k2)
    assert int(branch.queue_ptr) == 4


def test_symmetric_loss_averages_both_directions_and_enqueues_both_keys():
    branch, context = _branch(symmetric=True)
    batch = _batch(context)
    queue = branch.queue.clone()
    out = branch(batch)
    k1, k2 = _keys(branch, batch)
    q1, q2 = out.embeddings
    expected = (branch.criterion(q1, k2, queue).loss + branch.criterion(q2, k1, queue).loss) / 2
    torch.testing.assert_close(out.loss, expected)
    assert out.positive_log_prob.shape == (8,)
    branch.on_step_end(CTX)
    torch.testing.assert_close(branch.queue[:8], torch.cat([k1, k2]))


def test_queue_over_steps_is_fifo_of_the_newest_keys():
    branch, context = _branch(queue_size=12)  # 3 batches of 4
    assert branch.effective_queue_size == 12
    enqueued = []
    for step in range(5):
        batch = _batch(context, seed=step)
        branch(batch)
        enqueued.append(branch._pending.clone())
        branch.on_step_end(CTX)
        assert branch.queue.shape == (12, 6) and int(branch.queue_ptr) == 4 * (step + 1) % 12
    torch.testing.assert_close(branch.queue, torch.cat([enqueued[3], enqueued[4], enqueued[2]]))


def test_queue_is_capped_on_small_datasets_and_is_a_checkpointed_buffer():
    branch, _ = _branch(num_train=40, batch=8)
    assert branch.effective_queue_size == 16  # 40 // 2 = 20 -> 2 batches of 8
    state = branch.state_dict()
    assert state["queue"].shape == (16, 6) and state["queue_ptr"].dtype == torch.long
    assert _branch(num_train=1000, batch=8)[0].effective_queue_size == 496  # sized when built: 500 -> 62 batches
    assert _branch(num_train=1000, batch=8, symmetric=True)[0].effective_queue_size == 496  # 31 steps of 16 keys
    fresh, _ = _branch(num_train=40, batch=8)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.queue, state["queue"])


def test_key_encoder_runs_on_shuffled_bn_sub_batches():
    encoder = create("encoder", "small-resnet", BuildContext(image_size=16), widths=(4, 4, 8, 8))
    x, index = torch.randn(8, 3, 16, 16), torch.tensor([3, 14, 15, 92, 65, 35, 89, 79])
    keyed = split_batch_norms(copy.deepcopy(encoder), 4)
    seen = []
    keyed.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[0]))
    out = shuffle_bn_forward(keyed, x, index)
    assert seen == [8]  # one forward of the whole shuffled batch
    perm = batch_permutation(index)
    assert sorted(perm.tolist()) == list(range(8)) and torch.equal(perm, batch_permutation(index.clone()))
    assert not torch.equal(perm, torch.arange(8))
    by_hand = torch.empty_like(out)
    for k in range(4):  # sub-batch k: every 4th row of the shuffled batch from row k
        by_hand[perm[k::4]] = encoder(x[perm[k::4]])
    torch.testing.assert_close(out, by_hand)
    assert not torch.allclose(out, encoder(x), atol=1e-4)  # full-batch BN statistics differ


def test_branch_keys_use_a_divisor_of_the_batch_as_bn_splits():
    branch, context = _branch(bn_splits=8)
    batch = _batch(context, n=6)
    with torch.no_grad():  # the online encoder still has the key encoder's weights and plain batch norms
        full = F.normalize(branch.key_head(branch.encoder(batch.views[1])), dim=1)
        perm = batch_permutation(batch.index)
        chunks = torch.empty(6, branch.encoder.feature_dim)
        for k in range(3):  # 8 -> 3 sub-batches of 2
            chunks[perm[k::3]] = branch.encoder(batch.views[1][perm[k::3]])
    split = _keys(branch, batch)[1]
    torch.testing.assert_close(split, F.normalize(branch.key_head(chunks), dim=1))
    assert not torch.allclose(split, full, atol=1e-4)
    assert all(type(m) is not nn.BatchNorm2d for m in branch.key_encoder.modules())
    assert branch.key_encoder.state_dict().keys() == branch.encoder.state_dict().keys()


def test_split_batch_norm_is_batch_norm_on_each_sub_batch_in_one_call():
    torch.manual_seed(0)
    plain = nn.BatchNorm2d(5)
    nn.init.uniform_(plain.weight)
    nn.init.uniform_(plain.bias)
    split = split_batch_norms(nn.Sequential(copy.deepcopy(plain)), 4)[0]
    assert isinstance(split, SplitBatchNorm2d) and torch.equal(split.weight, plain.weight)
    x = torch.randn(12, 5, 3, 3)

    def by_sub_batch(rows: torch.Tensor, s: int) -> torch.Tensor:  # sub-batch k: rows k, k + s, k + 2s, ...
        out = torch.empty_like(rows)
        for k in range(s):
            out[k::s] = plain(rows[k::s])
        return out

    means = torch.stack([x[k::4].mean(dim=(0, 2, 3)) for k in range(4)])  # 12 rows: 4 sub-batches of 3
    expected = by_sub_batch(x, 4)
    torch.testing.assert_close(split(x), expected)
    torch.testing.assert_close(split.running_mean, 0.9 * torch.zeros(5) + 0.1 * means.mean(0))
    torch.testing.assert_close(split(x.contiguous(memory_format=torch.channels_last)), expected)
    torch.testing.assert_close(split(x[:6]), by_sub_batch(x[:6], 3))  # 4 -> 3, which divides 6
    split.eval()
    torch.testing.assert_close(split(x), F.batch_norm(x, split.running_mean, split.running_var, split.weight,
                                                      split.bias, False, 0.0, split.eps))


def test_presets_differ_in_head_and_temperature_not_momentum():
    from ssl_core import spec as get

    v1, _ = _branch("moco")
    v2, _ = _branch("moco-v2")
    assert isinstance(v1.head, nn.Linear) and v1.head.out_features == 6
    linears = [m for m in v2.head if isinstance(m, nn.Linear)]
    assert [m.out_features for m in linears] == [16, 6] and isinstance(v2.head[1], nn.ReLU)
    assert v1.config.momentum == v2.config.momentum == 0.999
    assert create("branch", "moco-v2", _context()).head[0].out_features == 2048
    temperature = {name: get("branch", name).defaults["options"]["loss"]["info-nce"]["temperature"]
                   for name in ("moco", "moco-v2")}
    assert temperature == {"moco": 0.07, "moco-v2": 0.2}
    assert (get("branch", "moco").defaults["views"], get("branch", "moco-v2").defaults["views"]) == ("moco-v1", "moco-v2")


def test_moco_refuses_pair_losses_and_three_views():
    context = _context()
    context.loss = create("loss", "nt-xent", context)
    with pytest.raises(IncompatibleComponentsError, match="info-nce"):
        create("branch", "moco", context)
    with pytest.raises(IncompatibleComponentsError, match="2 views per image"):
        create("branch", "moco", _context(views="identity", num_views=3))


def test_describe_shows_the_options_and_defaults():
    from ssl_core.cli import cli

    result = CliRunner().invoke(cli, ["describe", "branch", "moco"])
    assert result.exit_code == 0
    for text in ("queue_size", "65536", "bn_splits", "'linear'", "'temperature': 0.07", "'lr': 0.03"):
        assert text in result.output
