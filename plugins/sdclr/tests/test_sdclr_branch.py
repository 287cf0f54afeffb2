"""The sdclr-pruned branch: mask schedule, dense updates, separate batch norms, the gradient, errors."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import pytest
import torch
from ssl_core import BuildContext, create, registry
from ssl_core import IncompatibleComponentsError, walk
from ssl_sdclr.variants import run_variant
from ssl_core import ComponentOptionError
from ssl_core.training.model import SSLModel
from ssl_sdclr import global_magnitude_masks
from torch.func import functional_call


def _masks(branch) -> dict[str, torch.Tensor]:
    return {name: mask.clone() for name, mask in branch.competitor.mask_dict().items()}


def _fresh_masks(branch) -> dict[str, torch.Tensor]:
    weights = dict(branch.encoder.named_parameters())
    names = branch.competitor.weight_names
    return dict(zip(names, global_magnitude_masks([weights[n] for n in names], branch.competitor.prune_ratio)))


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# --- defaults and structure ---------------------------------------------------------------------


def test_run_defaults_are_the_official_views_loss_and_temperature():
    defaults = registry.spec("branch", "sdclr-pruned").run_defaults()
    assert defaults == {"views": "sdclr", "loss": "nt-xent", "options": {"loss": {"nt-xent": {"temperature": 0.2}}}}
    # another base brings its own registered run defaults (its views, loss, optimiser)
    assert registry.spec("branch", "sdclr-pruned").run_defaults({"base": "byol"}) == registry.spec(
        "branch", "byol").run_defaults()
    config = registry.make_config("branch", "sdclr-pruned")
    assert (config.base, config.prune_ratio, config.base_options) == ("simclr", 0.9, {})


def test_simclr_base_has_the_official_three_layer_head_with_per_branch_batch_norms(make_branch):
    branch, _ = make_branch()
    kinds = [type(m).__name__ for m in branch.base.head]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d"]
    assert len(branch.head_bn["head"].paths) == 3 and len(branch.competitor.bn.paths) == sum(
        isinstance(m, torch.nn.BatchNorm2d) for m in branch.encoder.modules())
    simclr_head, _ = make_branch(head_layers=2, last_bn=False)  # the SimCLR head, as an option
    assert [type(m).__name__ for m in simclr_head.base.head] == ["Linear", "BatchNorm1d", "ReLU", "Linear"]


def test_encoder_and_criterion_are_the_bases_and_stored_once(make_branch):
    branch, context = make_branch()
    assert branch.encoder is branch.base.encoder is context.encoder
    assert branch.criterion is branch.base.criterion is context.loss
    state = branch.state_dict()
    assert not any(k.startswith("encoder.") for k in state)  # one copy, under base.encoder
    assert any(k.startswith("competitor.masks.") for k in state) and "competitor.epoch" in state


# --- the mask schedule ----------------------------------------------------------------------------


def test_the_mask_changes_only_at_epoch_starts(make_branch, make_batch):
    branch, context = make_branch()
    batch = make_batch(context)
    ctx = SimpleNamespace(epoch=0, global_step=0)
    branch.on_fit_start(ctx)
    first = _masks(branch)
    assert _same(first, _fresh_masks(branch)) and int(branch.competitor.epoch) == 0
    with torch.no_grad():  # new weights with other magnitudes, as training would give
        for name in branch.competitor.weight_names:
            weight = branch.encoder.get_parameter(name)
            weight.copy_(torch.randn_like(weight) * torch.rand(()))
    expected = _fresh_masks(branch)
    assert not _same(expected, first)
    branch.on_epoch_start(ctx)  # the same epoch again: held
    branch.on_step_start(ctx, batch)
    branch(batch).loss.backward()
    branch.on_step_end(ctx)
    branch.on_epoch_end(ctx)
    assert _same(_masks(branch), first)
    ctx.epoch = 1
    branch.on_epoch_start(ctx)  # a new epoch: recomputed from scratch from the current weights
    assert _same(_masks(branch), expected) and int(branch.competitor.epoch) == 1


def test_a_resume_keeps_the_checkpoints_mask_until_the_next_epoch_start(make_branch):
    branch, _ = make_branch()
    saved = _masks(branch)
    with torch.no_grad():
        for p in branch.encoder.parameters():
            p.mul_(torch.rand_like(p))
    branch.on_fit_start(SimpleNamespace(epoch=0, global_step=7))  # resumed: global_step > 0
    assert _same(_masks(branch), saved)
    branch.on_fit_start(SimpleNamespace(epoch=0, global_step=0))  # a fresh run: the starting weights' mask
    assert _same(_masks(branch), _fresh_masks(branch)) and not _same(saved, _fresh_masks(branch))


# --- dense updates, masked forward ------------------------------------------------------------------


def test_masked_weights_still_update_while_the_competitor_ignores_them(make_branch, make_batch):
    branch, context = make_branch()
    batch = make_batch(context)
    masks = branch.competitor.mask_dict()
    weights = {name: branch.encoder.get_parameter(name) for name in masks}
    x = batch.views[1]
    # the competitor alone gives no gradient to pruned weights
    grads = torch.autograd.grad(branch.competitor(branch.encoder, x).pow(2).sum(), list(weights.values()))
    for grad, mask in zip(grads, masks.values()):
        assert torch.all(grad[~mask] == 0) and grad[mask].abs().sum() > 0
    # the step's gradient (dense view included) reaches them, and the optimiser moves them
    branch(batch).loss.backward()
    before = {name: w.detach().clone() for name, w in weights.items()}
    torch.optim.SGD(branch.parameter_groups(), lr=0.5).step()
    moved = 0
    for name, mask in masks.items():
        grad = weights[name].grad[~mask]
        assert grad.abs().sum() > 0
        assert torch.equal(weights[name][~mask] != before[name][~mask], grad != 0)  # plain SGD: moved iff gradient
        moved += int((grad != 0).sum())
    assert moved > 0.5 * sum(int((~m).sum()) for m in masks.values())  # (taps that only see padding get none)
    # perturbing pruned weights leaves the competitor's output unchanged, the dense one not
    with torch.no_grad():
        pruned, dense = branch.competitor(branch.encoder, x), branch.encoder(x)
        for name, mask in masks.items():
            weights[name][~mask] += 10.0
        assert torch.equal(branch.competitor(branch.encoder, x), pruned)
        assert not torch.allclose(branch.encoder(x), dense)
        weights["conv1.weight"][masks["conv1.weight"]] += 1.0  # a kept weight does reach it
        assert not torch.allclose(branch.competitor(branch.encoder, x), pruned)


def test_stem_and_shortcut_convs_are_masked_in_the_forward_batch_norms_and_head_are_not(make_branch, make_batch):
    branch, context = make_branch()
    x = make_batch(context).views[1]
    with torch.no_grad():
        for name in ("conv1.weight", "layer2.0.downsample.0.weight"):
            branch.encoder.get_parameter(name)[0, 0, 0, 0] = 1e-9  # surely among the smallest
    branch.refresh_mask(epoch=0)
    masks = branch.competitor.mask_dict()
    with torch.no_grad():
        reference = branch.competitor(branch.encoder, x)
        for name in ("conv1.weight", "layer2.0.downsample.0.weight"):
            assert not masks[name][0, 0, 0, 0]
            branch.encoder.get_parameter(name)[0, 0, 0, 0] = 5.0
        assert torch.equal(branch.competitor(branch.encoder, x), reference)
        branch.encoder.bn1.bias.add_(1.0)  # the dense BN: not the competitor's
        assert torch.equal(branch.competitor(branch.encoder, x), reference)
        branch.competitor.bn.copies["bn1"].bias.add_(1.0)  # its own BN: unmasked
        assert not torch.allclose(branch.competitor(branch.encoder, x), reference)


# --- separate batch norms -------------------------------------------------------------------------


def _bn_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.state_dict().items() if "running" in k or "num_batches" in k}


def test_the_two_batch_norm_copies_are_isolated(make_branch, make_batch):
    branch, context = make_branch()
    batch = make_batch(context)
    encoder, competitor, head = branch.encoder, branch.competitor, branch.base.head
    dense, pruned = _bn_state(encoder), _bn_state(competitor.bn)
    features = competitor(encoder, batch.views[1])
    assert _same(_bn_state(encoder), dense)  # a pruned forward leaves the dense statistics alone
    assert all(not torch.equal(v, pruned[k]) for k, v in _bn_state(competitor.bn).items())
    pruned = _bn_state(competitor.bn)
    encoder(batch.views[0])
    assert _same(_bn_state(competitor.bn), pruned)  # and a dense forward the pruned ones
    assert all(not torch.equal(v, dense[k]) for k, v in _bn_state(encoder).items())
    head_dense, head_pruned = _bn_state(head), _bn_state(branch.head_bn["head"])
    run_variant(head, features, bn_set=branch.head_bn["head"])
    assert _same(_bn_state(head), head_dense) and not _same(_bn_state(branch.head_bn["head"]), head_pruned)
    head_pruned = _bn_state(branch.head_bn["head"])
    head(features)
    assert _same(_bn_state(branch.head_bn["head"]), head_pruned) and not _same(_bn_state(head), head_dense)
    dense_affine = {p.data_ptr() for m in (encoder, head) for n, p in m.named_parameters() if "weight" in n}
    assert dense_affine.isdisjoint(p.data_ptr() for p in [*competitor.parameters(), *branch.head_bn.parameters()])


# --- the gradient ---------------------------------------------------------------------------------


def test_one_backward_equals_the_sum_of_the_official_two_partial_passes(make_branch, make_batch):
    branch, context = make_branch()
    batch = make_batch(context)
    reference = copy.deepcopy(branch)
    loss = branch(batch).loss
    loss.backward()

    # the official code: (1) sparse forward without gradient, dense with, loss, backward;
    # (2) sparse forward with gradient against the detached dense embeddings, backward; one step.
    head, competitor, encoder = reference.base.head, reference.competitor, reference.encoder

    def sparse(x):
        return run_variant(head, competitor(encoder, x), bn_set=reference.head_bn["head"])

    x1, x2 = batch.views
    with torch.no_grad():
        v = sparse(x2)
    u = head(encoder(x1))
    first = reference.criterion(u, v).loss
    first.backward()
    reference.criterion(u.detach(), sparse(x2)).loss.backward()

    torch.testing.assert_close(first, loss)
    pairs = list(zip(branch.named_parameters(), reference.named_parameters()))
    assert len(pairs) == len(list(branch.parameters()))
    for (name, p), (_, q) in pairs:
        assert p.grad is not None and q.grad is not None, name
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-4, atol=1e-6, msg=name)
    assert all(p.grad.abs().sum() > 0 for p in branch.competitor.parameters())  # the pruned BN learns
    assert all(p.grad.abs().sum() > 0 for p in branch.head_bn.parameters())


# --- evaluation, loss_from_features, purity -------------------------------------------------------


def test_evaluation_uses_the_dense_encoder(make_branch, make_batch):
    branch, context = make_branch()
    batch = make_batch(context)
    for seed in range(3):  # training forwards: the two BN sets' statistics drift apart
        branch(make_batch(context, seed=seed))
    branch.eval()
    fresh = create("encoder", "small-resnet", BuildContext(image_size=16), widths=(4, 4, 8, 8)).eval()
    fresh.load_state_dict(branch.encoder.state_dict(), strict=True)  # the exported keys: no masks, no copies
    with torch.no_grad():
        dense = branch.encoder(batch.image)
        torch.testing.assert_close(fresh(batch.image), dense, rtol=0, atol=0)
        assert not torch.allclose(branch.competitor(branch.encoder, batch.image), dense, atol=1e-3)
    masked = [~m for m in branch.competitor.mask_dict().values()]
    stored = [branch.encoder.get_parameter(n) for n in branch.competitor.weight_names]
    assert all((w[m] != 0).all() for w, m in zip(stored, masked))  # pruning never zeroes the stored weights


def test_loss_from_features_runs_the_dense_head_on_feature_0_and_the_pruned_head_on_feature_1(
        make_branch, make_batch):
    branch, context = make_branch()
    batch = make_batch(context)
    out = branch(batch)
    with torch.no_grad():
        torch.testing.assert_close(out.features[0], branch.encoder(batch.views[0]))
        torch.testing.assert_close(out.features[1], branch.competitor(branch.encoder, batch.views[1]))
    torch.testing.assert_close(branch.loss_from_features(out.features).loss, out.loss)
    assert out.positive_log_prob.shape == (16,)
    head = branch.base.head
    with torch.no_grad():
        for bn in branch.head_bn["head"].copies.values():
            bn.weight.mul_(3.0)
        z1, z2 = branch.loss_from_features(out.features).embeddings
        torch.testing.assert_close(z1, head(out.features[0]))
        torch.testing.assert_close(z2, run_variant(head, out.features[1], bn_set=branch.head_bn["head"]))
        assert not torch.allclose(z2, head(out.features[1]))


def test_the_step_is_a_pure_function_of_parameters_buffers_and_batch(make_branch, make_batch):
    branch, context = make_branch()
    batch = make_batch(context)
    model = SSLModel(branch, {}).train()
    real = {k: v.clone() for k, v in model.state_dict().items()}
    substitutes = {**{k: v.detach().clone().requires_grad_() for k, v in model.named_parameters()},
                   **{k: v.clone() for k, v in model.named_buffers()}}
    loss, _ = functional_call(model, substitutes, (batch,))
    grads = torch.autograd.grad(loss, [substitutes[k] for k, _ in model.named_parameters()])
    assert _same(model.state_dict(), real)  # weights, masks and both BN sets untouched
    assert all(g.abs().sum() > 0 for g in grads)
    torch.testing.assert_close(model(batch)[0], loss)


# --- errors ---------------------------------------------------------------------------------------


def test_a_base_that_does_not_read_two_views_is_refused_by_capability(make_context):
    context = make_context("swav")
    context.views = create("views", "identity", context)
    with pytest.raises(IncompatibleComponentsError, match="needs a base that reads 2 views.*'swav' reads any number"):
        create("branch", "sdclr-pruned", context, base="swav")
    with pytest.raises(IncompatibleComponentsError, match="cannot be its own base"):
        create("branch", "sdclr-pruned", make_context(), base="sdclr-pruned")


def test_a_base_that_is_not_installed_says_what_to_install(make_context):
    with pytest.raises(IncompatibleComponentsError, match=r"base 'nope' is not installed \(pip install ssl-nope.*simclr"):
        create("branch", "sdclr-pruned", make_context(), base="nope")


def test_a_loss_the_base_refuses_gives_the_bases_recipe(make_context):
    with pytest.raises(IncompatibleComponentsError, match=r"normalized-mse.*loss: normalized-mse.*optimizer: lars"):
        create("branch", "sdclr-pruned", make_context("nt-xent"), base="byol")


def test_moco_needs_its_symmetric_loss(make_context):
    with pytest.raises(IncompatibleComponentsError, match="symmetric"):
        create("branch", "sdclr-pruned", make_context("info-nce"), base="moco", base_options={"symmetric": False})


def test_bad_base_options_and_prune_ratio_are_named(make_context):
    with pytest.raises(ComponentOptionError, match=r"base_options.*nope.*valid options"):
        create("branch", "sdclr-pruned", make_context(), base_options={"nope": 1})
    with pytest.raises(ComponentOptionError, match="1.0"):
        create("branch", "sdclr-pruned", make_context(), prune_ratio=1.0)


# --- other bases ----------------------------------------------------------------------------------


def _step_ctx() -> SimpleNamespace:
    accelerator = SimpleNamespace(gather=lambda t: t)
    return SimpleNamespace(epoch=0, global_step=0, total_steps=10, accelerator=accelerator)


@pytest.mark.parametrize("base", ["byol", "simsiam", "moco", "moco-v2"])
def test_other_bases_route_view_2_through_the_competitor_and_keep_their_lifecycle(base, make_branch, make_batch):
    branch, context = make_branch(base)
    batch = make_batch(context)
    ctx = _step_ctx()
    for component in walk(branch):  # the trainer reaches the base through walk: nothing forwarded by hand
        component.on_fit_start(ctx)
        component.on_epoch_start(ctx)
    heads = {name for name, module in branch.base.view_modules().items() if name != "encoder"
             and any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())}
    assert set(branch.head_bn) == heads  # each online head with batch norms has the competitor's own copy
    assert branch.routed_views == branch.base.routed_views == (1,)
    assert branch.sync_batchnorm == getattr(branch.base, "sync_batchnorm", True)  # MoCo keeps per-process BN
    out = branch(batch)
    with torch.no_grad():
        torch.testing.assert_close(out.features[0], branch.encoder(batch.views[0]))
        torch.testing.assert_close(out.features[1], branch.competitor(branch.encoder, batch.views[1]))
    torch.testing.assert_close(branch.loss_from_features(out.features, out.teacher).loss, out.loss)
    out.loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0
               for p in [*branch.competitor.parameters(), *branch.head_bn.parameters()])
    optimised = {id(p) for group in branch.parameter_groups() for p in group["params"]}
    assert {id(p) for p in branch.competitor.parameters()} <= optimised
    assert {id(p) for p in branch.base.parameters() if p.requires_grad} <= optimised
    if base == "byol":
        assert not any(id(p) in optimised for p in branch.base.target_encoder.parameters())
    for component in walk(branch):  # the base's own: BYOL's target update, MoCo's enqueue
        component.on_step_end(ctx)
    if base == "byol":
        assert branch.base.last_tau == pytest.approx(0.99)
    if base.startswith("moco"):
        assert branch.base.config.symmetric and int(branch.base.queue_ptr) == 2 * len(batch.index)
