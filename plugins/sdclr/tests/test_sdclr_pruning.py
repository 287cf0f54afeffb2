"""Global magnitude pruning: the count, the global threshold, ties, and what gets masked."""

from __future__ import annotations

import pytest
import torch
from ssl_core import BuildContext, IncompatibleComponentsError, create
from ssl_sdclr import SelfCompetitor, global_magnitude_masks, prune_count


@pytest.mark.parametrize(("ratio", "total", "expected"),
                         [(0.9, 10, 9), (0.7, 10, 7), (0.9, 11, 10), (0.3, 37, 12), (0.0, 5, 0), (0.5, 1, 1)])
def test_prune_count_is_ceil_p_n_without_float_error(ratio, total, expected):
    assert prune_count(ratio, total) == expected  # 0.7 * 10 is 7.000000000000001 in floats


def test_the_threshold_is_global_not_per_layer():
    # layer a: 20 small weights (0.01 .. 0.20), layer b: 80 large ones (1 .. 80); signs alternate.
    signs = torch.tensor([1.0, -1.0]).repeat(50)
    a = (torch.arange(1, 21) * 0.01 * signs[:20]).view(4, 5)
    b = (torch.arange(1, 81).float() * signs[20:]).view(8, 10)
    keep_a, keep_b = global_magnitude_masks([a, b], 0.5)  # k = 50: all of a, then b's 30 smallest
    assert keep_a.shape == a.shape and keep_b.shape == b.shape and keep_a.dtype == torch.bool
    assert not keep_a.any()
    assert torch.equal(keep_b, b.abs() > 30)
    # per layer at 0.5 would have kept half of a: the global threshold is what makes this differ
    assert int(keep_a.sum()) + int(keep_b.sum()) == 50


def test_ties_are_broken_in_concatenation_order_so_sparsity_is_exact():
    a, b = torch.ones(3, 4), -torch.ones(25)  # 37 weights of equal magnitude
    keep_a, keep_b = global_magnitude_masks([a, b], 0.3)  # k = ceil(11.1) = 12
    flat = torch.cat([keep_a.flatten(), keep_b])
    assert int((~flat).sum()) == 12
    assert not flat[:12].any() and flat[12:].all()  # the first 12 in order
    again = torch.cat([m.flatten() for m in global_magnitude_masks([a, b], 0.3)])
    assert torch.equal(flat, again)


def test_ties_at_the_threshold_fill_up_to_k_after_the_smaller_weights():
    w = torch.tensor([0.5, 0.1, 0.5, 0.2, 0.5, 0.9])
    (keep,) = global_magnitude_masks([w], 0.5)  # k = 3: 0.1, 0.2 and the first 0.5
    assert keep.tolist() == [False, False, True, False, True, True]


def _encoder(widths=(4, 4, 8, 8)):
    torch.manual_seed(0)
    return create("encoder", "small-resnet", BuildContext(image_size=16), widths=widths)


@pytest.mark.parametrize("ratio", [0.9, 0.5, 0.0])
def test_competitor_sparsity_equals_p_to_the_element(ratio):
    encoder = _encoder()
    competitor = SelfCompetitor(encoder, ratio)
    competitor.refresh(encoder, epoch=0)
    total = sum(m.numel() for m in competitor.mask_dict().values())
    dropped = sum(int((~m).sum()) for m in competitor.mask_dict().values())
    assert dropped == prune_count(ratio, total)
    assert total == sum(p.numel() for n, p in encoder.named_parameters() if n in competitor.weight_names)


def test_every_conv_is_masked_stem_and_shortcuts_included_and_nothing_else():
    encoder = _encoder()
    competitor = SelfCompetitor(encoder, 0.9)
    names = set(competitor.weight_names)
    convs = {f"{path}.weight" for path, m in encoder.named_modules() if isinstance(m, torch.nn.Conv2d)}
    assert names == convs
    assert "conv1.weight" in names  # the stem
    assert {"layer2.0.downsample.0.weight", "layer3.0.downsample.0.weight"} <= names  # shortcut convs
    assert not any("bn" in n or "downsample.1" in n for n in names)  # batch norms are never pruned


class _Block(torch.nn.Module):
    """A conv, linear layers and the norms of a ViT / ConvNeXt block, in miniature."""

    def __init__(self, norm: torch.nn.Module) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.norm1, self.norm2, self.gn = torch.nn.LayerNorm(4), norm, torch.nn.GroupNorm(2, 4)
        self.fc = torch.nn.Linear(4, 4)


def test_linear_weights_are_masked_and_layer_and_group_norms_copied():
    competitor = SelfCompetitor(_Block(torch.nn.RMSNorm(4)), 0.5)
    assert competitor.weight_names == ["conv.weight", "fc.weight"]  # never a norm's or a bias
    assert competitor.bn.paths == ["norm1", "norm2", "gn"]


def test_a_norm_it_cannot_copy_is_refused_by_name():
    class OddNorm(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(4))

    with pytest.raises(IncompatibleComponentsError, match=r"norm2 \(OddNorm\).*known: BatchNorm"):
        SelfCompetitor(_Block(OddNorm()), 0.5)
