"""Tests of ssl_augment.ops: colour ops against torchvision, crop geometry, blur, probabilities."""

from __future__ import annotations

import pytest
import torch
import torchvision.transforms.v2.functional as TF
from torch.testing import assert_close

from ssl_augment import ops


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _images(batch: int = 8, channels: int = 3, height: int = 12, width: int = 10, seed: int = 0) -> torch.Tensor:
    """Random images, plus edge cases: a saturated one (ties between channels) and a gray one."""
    x = torch.rand(batch, channels, height, width, generator=_generator(seed))
    x[0] = x[0].round()
    x[1] = x[1, :1].expand(channels, -1, -1)
    return x


def _per_image(reference, images: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    return torch.stack([reference(image, float(value)) for image, value in zip(images, values)])


@pytest.mark.parametrize(
    ("op", "reference", "low", "high"),
    [
        (ops.adjust_brightness, TF.adjust_brightness, 0.0, 1.8),
        (ops.adjust_contrast, TF.adjust_contrast, 0.0, 1.8),
        (ops.adjust_saturation, TF.adjust_saturation, 0.0, 1.8),
        (ops.adjust_hue, TF.adjust_hue, -0.5, 0.5),
    ],
)
def test_colour_op_matches_torchvision_per_sample(op, reference, low, high) -> None:
    x = _images()
    values = torch.linspace(low, high, x.shape[0])
    assert_close(op(x, values), _per_image(reference, x, values), atol=1e-5, rtol=0)


def test_to_grayscale_matches_torchvision() -> None:
    x = _images()
    assert_close(ops.to_grayscale(x), TF.rgb_to_grayscale(x, num_output_channels=3), atol=1e-6, rtol=0)


def _jitter_reference(images: torch.Tensor, params: ops.JitterParams) -> torch.Tensor:
    """torchvision's ops applied image by image in each sample's order."""
    out = []
    for i, image in enumerate(images):
        if params.selected[i]:
            steps = {
                0: lambda im: TF.adjust_brightness(im, float(params.factors[i, 0])),
                1: lambda im: TF.adjust_contrast(im, float(params.factors[i, 1])),
                2: lambda im: TF.adjust_saturation(im, float(params.factors[i, 2])),
                3: lambda im: TF.adjust_hue(im, float(params.shift[i])),
            }
            for op in params.order[i].tolist():
                image = steps[op](image)
        out.append(image)
    return torch.stack(out)


def test_color_jitter_matches_torchvision_in_each_samples_order() -> None:
    x = _images(batch=32)
    params = ops.sample_color_jitter(32, 0.8, 0.8, 0.8, 0.4, p=0.75, generator=_generator(1))
    assert len({tuple(o) for o in params.order.tolist()}) > 8  # a permutation per sample
    out = ops.apply_color_jitter(x, params)
    assert_close(out, _jitter_reference(x, params), atol=1e-5, rtol=0)
    reversed_order = params._replace(order=params.order.flip(1))
    assert not torch.allclose(ops.apply_color_jitter(x, reversed_order), out, atol=1e-3)


def test_color_jitter_factor_ranges() -> None:
    params = ops.sample_color_jitter(1000, 0.4, 0.3, 1.5, 0.1, generator=_generator())
    for column, strength in enumerate((0.4, 0.3, 1.5)):
        factors = params.factors[:, column]
        assert factors.min() >= max(0.0, 1 - strength) and factors.max() <= 1 + strength
        assert factors.max() - factors.min() > 0.9 * (1 + strength - max(0.0, 1 - strength))
    assert params.shift.abs().max() <= 0.1 and params.shift.abs().max() > 0.09


def test_color_jitter_selects_samples_with_probability_p() -> None:
    x = torch.rand(4000, 3, 2, 2, generator=_generator())
    out = ops.color_jitter(x, 0.4, 0.4, 0.4, 0.1, p=0.8, generator=_generator(3))
    changed = (out != x).flatten(1).any(dim=1)
    expected = ops.sample_color_jitter(4000, 0.4, 0.4, 0.4, 0.1, p=0.8, generator=_generator(3)).selected
    assert torch.equal(changed, expected)  # unselected samples are returned bit for bit
    assert abs(changed.float().mean().item() - 0.8) < 0.03


def test_random_grayscale_probability() -> None:
    x = torch.rand(4000, 3, 2, 2, generator=_generator())
    out = ops.random_grayscale(x, 0.2, generator=_generator(4))
    gray = (out[:, 0] == out[:, 1]).all(dim=(1, 2)) & (out[:, 1] == out[:, 2]).all(dim=(1, 2))
    assert abs(gray.float().mean().item() - 0.2) < 0.03
    assert torch.equal(out[~gray], x[~gray])
    assert_close(out[gray], ops.to_grayscale(x[gray]))


def test_crop_resize_full_box_is_identity_and_flip_mirrors() -> None:
    x = _images(batch=4, height=9, width=14)
    full = torch.tensor([[0.0, 0.0, 9.0, 14.0]]).expand(4, 4)
    for interpolation in ("bilinear", "bicubic"):
        assert_close(ops.crop_resize(x, full, (9, 14), interpolation=interpolation), x, atol=1e-5, rtol=0)
    flip = torch.tensor([True, False, True, False])
    expected = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    assert_close(ops.crop_resize(x, full, (9, 14), flip), expected, atol=1e-5, rtol=0)


def test_crop_resize_quadrant_of_block_image_is_the_block_colour() -> None:
    colours = torch.tensor([[[0.1, 0.9], [0.5, 0.3]], [[0.7, 0.2], [0.0, 1.0]], [[0.4, 0.6], [0.8, 0.05]]])
    image = colours.repeat_interleave(4, dim=1).repeat_interleave(4, dim=2).unsqueeze(0)  # (1, 3, 8, 8)
    for top, left in ((0, 0), (0, 4), (4, 0), (4, 4)):
        box = torch.tensor([[float(top), float(left), 4.0, 4.0]])
        out = ops.crop_resize(image, box, 16)
        expected = colours[:, top // 4, left // 4].view(1, 3, 1, 1).expand_as(out)
        assert_close(out, expected, atol=1e-6, rtol=0)


def test_crop_resize_matches_torchvision_resized_crop() -> None:
    x = _images(batch=6, height=20, width=24)
    boxes = torch.tensor([[0, 0, 20, 24], [3, 5, 10, 7], [10, 2, 9, 21], [1, 17, 4, 5], [0, 0, 1, 1], [5, 6, 15, 18]])
    flip = torch.tensor([False, True, False, True, True, False])
    out = ops.crop_resize(x, boxes.float(), (11, 13), flip)
    reference = []
    for image, (top, left, h, w), mirrored in zip(x, boxes.tolist(), flip):
        crop = TF.resized_crop(image, top, left, h, w, [11, 13], antialias=False)
        reference.append(TF.horizontal_flip(crop) if mirrored else crop)
    assert_close(out, torch.stack(reference), atol=1e-5, rtol=0)


def test_crop_resize_bicubic_full_box_matches_torchvision_resize() -> None:
    x = _images(batch=3, height=10, width=12)
    full = torch.tensor([[0.0, 0.0, 10.0, 12.0]]).expand(3, 4)
    out = ops.crop_resize(x, full, (17, 7), interpolation="bicubic")
    reference = TF.resize(x, [17, 7], interpolation=TF.InterpolationMode.BICUBIC, antialias=False).clamp(0, 1)
    assert_close(out, reference, atol=1e-5, rtol=0)


def test_sampled_crop_boxes_respect_scale_ratio_and_bounds() -> None:
    height, width, scale, ratio = 200, 300, (0.2, 0.6), (3 / 4, 4 / 3)
    boxes = ops.sample_crop_boxes(2000, height, width, scale, ratio, generator=_generator())
    top, left, h, w = boxes.unbind(1)
    assert torch.equal(boxes, boxes.round())
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= height).all() and (left + w <= width).all()
    fraction = h * w / (height * width)
    rounding = (0.5 * (h + w) + 0.25) / (height * width)
    assert (fraction >= scale[0] - rounding).all() and (fraction <= scale[1] + rounding).all()
    assert fraction.min() < 0.22 and fraction.max() > 0.58  # the range is used, not a constant
    assert ((w - 0.5) / (h + 0.5) <= ratio[1]).all() and ((w + 0.5) / (h - 0.5) >= ratio[0]).all()
    assert len({tuple(b) for b in boxes.tolist()}) > 1900  # one box per sample
    assert top.max() > 0.8 * (height - h).max()  # corners spread over the free range


def test_sampled_crop_boxes_fall_back_to_the_central_crop() -> None:
    boxes = ops.sample_crop_boxes(5, 10, 100, (0.9, 1.0), (1.0, 1.0), generator=_generator())
    assert torch.equal(boxes, torch.tensor([[0.0, 45.0, 10.0, 10.0]]).expand(5, 4))


def test_random_resized_crop_shapes_range_and_flip() -> None:
    x = _images(batch=16, height=20, width=24)
    out = ops.random_resized_crop(x, 8, (0.3, 1.0), generator=_generator(), flip_p=0.5)
    assert out.shape == (16, 3, 8, 8) and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    again = ops.random_resized_crop(x, 8, (0.3, 1.0), generator=_generator(), flip_p=0.5)
    assert torch.equal(out, again)
    assert not torch.equal(out, ops.random_resized_crop(x, 8, (0.3, 1.0), generator=_generator(), flip_p=0.0))


def test_blur_kernel_size_is_odd_tenth_of_side() -> None:
    assert [ops.blur_kernel_size(s) for s in (224, 96, 64, 32, 8)] == [23, 9, 7, 3, 1]


def test_gaussian_blur_with_tiny_sigma_is_identity() -> None:
    x = _images()
    assert_close(ops.gaussian_blur(x, torch.full((8,), 0.05), 5), x, atol=1e-6, rtol=0)


def test_gaussian_blur_matches_torchvision_per_sample_sigma() -> None:
    x = _images(height=16, width=13)
    sigma = torch.linspace(0.1, 2.0, 8)
    out = ops.gaussian_blur(x, sigma, 7)
    reference = torch.stack([TF.gaussian_blur(image, [7, 7], [float(s), float(s)]) for image, s in zip(x, sigma)])
    assert_close(out, reference, atol=1e-5, rtol=0)


def test_random_gaussian_blur_probability_and_untouched_samples() -> None:
    x = torch.rand(2000, 3, 6, 6, generator=_generator())
    out = ops.random_gaussian_blur(x, 0.5, generator=_generator(5), kernel_size=3)
    blurred = (out != x).flatten(1).any(dim=1)
    assert abs(blurred.float().mean().item() - 0.5) < 0.04
    assert torch.equal(ops.random_gaussian_blur(x, 0.0, generator=_generator(5)), x)


def test_solarize() -> None:
    x = torch.tensor([0.0, 0.2, 0.5, 0.7, 1.0]).view(1, 1, 1, 5).expand(4, 3, 1, 5)
    expected = torch.tensor([0.0, 0.2, 0.5, 0.3, 0.0]).view(1, 1, 1, 5).expand(4, 3, 1, 5)
    assert_close(ops.solarize(x, 0.5), expected)
    assert_close(ops.random_solarize(x, 1.0, generator=_generator()), expected)
    assert torch.equal(ops.random_solarize(x, 0.0, generator=_generator()), x)
    many = torch.full((2000, 1, 1, 1), 0.75)
    solarized = ops.random_solarize(many, 0.3, generator=_generator()) == 0.25
    assert abs(solarized.float().mean().item() - 0.3) < 0.04
