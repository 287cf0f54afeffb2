"""Tests of the offline dataset ``shapes`` (ssl_shapes)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from ssl_shapes import (
    BACKGROUND_NAMES,
    BACKGROUND_TESTS,
    CLASS_NAMES,
    ShapesConfig,
    ShapesSet,
    background_tests,
    generate,
    render,
)

NUM_CLASSES = 10


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def unbiased() -> tuple[ShapesSet, ShapesSet]:
    config = ShapesConfig(num_train=3000, num_test=1000, seed=1)
    return generate(config, "train"), generate(config, "test")


def _identical(a: ShapesSet, b: ShapesSet) -> bool:
    return all(torch.equal(getattr(a, name), getattr(b, name)) for name in ("images", "labels", "masks", "backgrounds"))


def _mean_colour(data: ShapesSet, where: torch.Tensor) -> torch.Tensor:
    """Mean colour (N, 3) of each image over the pixels where ``where`` (N, H, W) is True."""
    where = where[:, None]
    return (data.images.float() * where).sum((2, 3)) / where.sum((2, 3))


def test_names() -> None:
    assert len(CLASS_NAMES) == len(set(CLASS_NAMES)) == NUM_CLASSES
    assert len(BACKGROUND_NAMES) == len(set(BACKGROUND_NAMES)) == NUM_CLASSES


def test_same_config_is_bit_identical_and_other_seed_differs() -> None:
    for split in ("train", "test"):
        first = generate(ShapesConfig(num_train=300, num_test=200, seed=3), split)
        assert _identical(first, generate(ShapesConfig(num_train=300, num_test=200, seed=3), split))
        other = generate(ShapesConfig(num_train=300, num_test=200, seed=4), split)
        assert not torch.equal(first.images, other.images) and not torch.equal(first.labels, other.labels)


def test_train_and_test_are_separate_streams() -> None:
    config = ShapesConfig(num_train=200, num_test=200, seed=5)  # same sizes, so only the streams differ
    train, test = generate(config, "train"), generate(config, "test")
    same_colour = (_mean_colour(train, train.masks) == _mean_colour(test, test.masks)).all(1)
    assert same_colour.float().mean() < 0.1


@pytest.mark.parametrize("size", [32, 48])
def test_shapes_dtypes_and_ranges(size: int) -> None:
    data = generate(ShapesConfig(num_train=100, num_test=50, image_size=size), "test")
    assert data.images.shape == (50, 3, size, size) and data.images.dtype == torch.uint8
    assert data.labels.shape == (50,) and data.labels.dtype == torch.int64
    assert data.masks.shape == (50, size, size) and data.masks.dtype == torch.bool
    assert data.backgrounds.shape == (50,) and data.backgrounds.dtype == torch.int64
    assert 0 <= data.labels.min() and data.labels.max() < NUM_CLASSES
    assert 0 <= data.backgrounds.min() and data.backgrounds.max() < NUM_CLASSES
    assert (data.images.flatten(1).float().std(1) > 10).all()  # every image has visible structure
    assert data.images.min() < 40 and data.images.max() > 215  # the colour range is used


def test_both_splits_are_balanced() -> None:
    config = ShapesConfig(num_train=5000, num_test=1000)
    train, test = generate(config, "train"), generate(config, "test")
    assert torch.bincount(train.labels, minlength=NUM_CLASSES).tolist() == [500] * NUM_CLASSES
    assert torch.bincount(test.labels, minlength=NUM_CLASSES).tolist() == [100] * NUM_CLASSES


def test_training_order_is_shuffled(unbiased: tuple[ShapesSet, ShapesSet]) -> None:
    labels = unbiased[0].labels
    assert (labels[1:] < labels[:-1]).any()
    assert len(set(labels[:50].tolist())) >= 5


def test_full_background_bias_ties_family_to_class() -> None:
    config = ShapesConfig(num_train=2000, num_test=1000, background_bias=1.0)
    train = generate(config, "train")
    assert torch.equal(train.backgrounds, train.labels)
    test = generate(config, "test")  # the bias never applies to the test split
    tied = (test.backgrounds == test.labels).float().mean().item()
    assert 0.05 < tied < 0.16
    assert torch.bincount(test.backgrounds, minlength=NUM_CLASSES).min() >= 60


def test_partial_bias_ties_about_that_fraction() -> None:
    train = generate(ShapesConfig(num_train=2000, background_bias=0.5), "train")
    tied = (train.backgrounds == train.labels).float().mean().item()
    assert 0.5 < tied < 0.6  # p + (1 - p) / 10 = 0.55


def test_no_bias_gives_uniform_backgrounds(unbiased: tuple[ShapesSet, ShapesSet]) -> None:
    train = unbiased[0]
    counts = torch.bincount(train.backgrounds, minlength=NUM_CLASSES)
    assert (counts > 0.07 * 3000).all() and (counts < 0.13 * 3000).all()
    tied = (train.backgrounds == train.labels).float().mean().item()
    assert 0.07 < tied < 0.13


def test_masks_are_plausible_and_foreground_is_visible(unbiased: tuple[ShapesSet, ShapesSet]) -> None:
    test = unbiased[1]
    fraction = test.masks.float().mean((1, 2))
    assert (fraction > 0.03).all() and (fraction < 0.6).all()
    images, foreground = test.images.float(), _mean_colour(test, test.masks)[:, :, None, None]
    assert ((images - foreground).abs() * test.masks[:, None]).amax() == 0  # one flat colour
    distance = (images - foreground).norm(dim=1).masked_fill(test.masks, float("inf"))
    assert (distance.flatten(1).amin(1) > 40).all()  # no background pixel comes close to it


def test_plain_background_is_flat_outside_the_mask() -> None:
    labels = torch.arange(200) % NUM_CLASSES
    data = render(labels, torch.full_like(labels, -1), 32, seed=7)
    assert torch.equal(data.backgrounds, torch.full_like(labels, -1))
    background = _mean_colour(data, ~data.masks)
    assert ((data.images.float() - background[:, :, None, None]).abs() * ~data.masks[:, None]).amax() == 0
    assert len(set(map(tuple, background.tolist()))) > 50  # the flat colour's brightness varies per image
    assert ((_mean_colour(data, data.masks) - background).norm(dim=1) > 40).all()


def test_rendering_other_backgrounds_keeps_each_foreground() -> None:
    labels = torch.arange(100) % NUM_CLASSES
    textured = render(labels, labels.roll(3), 32, seed=11)
    plain = render(labels, torch.full_like(labels, -1), 32, seed=11)
    assert torch.equal(textured.masks, plain.masks)
    inside = textured.masks[:, None].expand_as(textured.images)
    assert torch.equal(textured.images[inside], plain.images[inside])
    assert not torch.equal(textured.images, plain.images)
    assert torch.equal(textured.backgrounds, labels.roll(3))


def test_invalid_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="train, test"):
        generate(ShapesConfig(), "validation")
    with pytest.raises(ValueError):
        render(torch.tensor([0, 10]), torch.tensor([0, 0]), 32, seed=0)
    with pytest.raises(ValueError):
        render(torch.tensor([0, 1]), torch.tensor([0, -2]), 32, seed=0)
    for bad in ({"image_size": 8}, {"colors": 9}, {"background_bias": 1.5}, {"num_train": 0}):
        with pytest.raises(ValueError):
            ShapesConfig(**bad)


def _shape_descriptors(masks: torch.Tensor) -> torch.Tensor:
    """Pose-invariant features of masks (N, H, W): a histogram of the pixels' distances to the
    centroid (in units of sqrt(area)) and the magnitudes of angular harmonics 1 to 6."""
    m = masks.float()
    ys, xs = torch.meshgrid(*(torch.arange(s, dtype=torch.float) for s in m.shape[1:]), indexing="ij")
    area = m.sum((1, 2))
    dy = ys - ((m * ys).sum((1, 2)) / area)[:, None, None]
    dx = xs - ((m * xs).sum((1, 2)) / area)[:, None, None]
    radius, angle = dx.hypot(dy) / area.sqrt()[:, None, None], torch.atan2(dy, dx)
    bins = torch.bucketize(radius, torch.linspace(0, 1.1, 8)[1:-1]).flatten(1)  # 7 radial bins
    radial = torch.zeros(m.shape[0], 7).scatter_add_(1, bins, m.flatten(1)) / area[:, None]
    orders, weight = torch.arange(1, 7.0)[:, None, None, None], m * radius
    harmonics = ((weight * torch.cos(orders * angle)).sum((2, 3)).square()
                 + (weight * torch.sin(orders * angle)).sum((2, 3)).square()).sqrt().T / weight.sum((1, 2))[:, None]
    return torch.cat([radial, harmonics], 1)


def _nearest_class_mean_accuracy(train_x: torch.Tensor, train_y: torch.Tensor,
                                 test_x: torch.Tensor, test_y: torch.Tensor) -> float:
    """Test accuracy of the nearest class mean over standardised features."""
    mean, std = train_x.mean(0), train_x.std(0).clamp(min=1e-6)
    train_x, test_x = (train_x - mean) / std, (test_x - mean) / std
    centres = torch.stack([train_x[train_y == k].mean(0) for k in range(NUM_CLASSES)])
    return (torch.cdist(test_x, centres).argmin(1) == test_y).float().mean().item()


def test_classes_are_told_apart_by_shape_not_by_colour(unbiased: tuple[ShapesSet, ShapesSet]) -> None:
    # Raw pixels of randomly posed masks are not linearly separable (about 0.26), so the
    # classifier sees pose-invariant descriptors of the masks.
    train, test = unbiased
    by_shape = _nearest_class_mean_accuracy(_shape_descriptors(train.masks), train.labels,
                                            _shape_descriptors(test.masks), test.labels)
    assert by_shape > 0.8
    for where in (lambda data: torch.ones_like(data.masks), lambda data: data.masks):  # whole image, foreground
        by_colour = _nearest_class_mean_accuracy(_mean_colour(train, where(train)), train.labels,
                                                 _mean_colour(test, where(test)), test.labels)
        assert by_colour < 0.3


@pytest.mark.parametrize("colors", [2, 5])
def test_foreground_and_background_take_different_palette_hues(colors: int) -> None:
    from ssl_shapes import PALETTE

    labels = torch.arange(300) % NUM_CLASSES
    data = render(labels, torch.full_like(labels, -1), 32, seed=3, colors=colors)
    palette = torch.tensor(PALETTE[:colors])

    def hue(colour: torch.Tensor) -> torch.Tensor:  # brightness scales a palette colour: compare directions
        return (F.normalize(colour, dim=1) @ F.normalize(palette, dim=1).T).argmax(1)

    fg, bg = hue(_mean_colour(data, data.masks) / 255), hue(_mean_colour(data, ~data.masks) / 255)
    assert (fg != bg).all()
    assert set(fg.tolist()) == set(bg.tolist()) == set(range(colors))


def test_background_tests_keep_every_foreground_and_swap_only_the_background() -> None:
    config = ShapesConfig(num_test=200, seed=3)
    variants = background_tests(config)
    assert tuple(variants) == BACKGROUND_TESTS
    test = variants["random"]
    assert _identical(test, generate(config, "test"))
    for name, data in variants.items():
        assert torch.equal(data.labels, test.labels) and torch.equal(data.masks, test.masks), name
        inside = data.masks[:, None].expand_as(data.images)
        assert torch.equal(data.images[inside], test.images[inside]), name  # same silhouette, same colour
    assert (variants["plain"].backgrounds == -1).all()
    assert torch.equal(variants["own-class"].backgrounds, test.labels)
    other = variants["other-class"].backgrounds
    assert (other != test.labels).all() and 0 <= other.min() and other.max() < NUM_CLASSES
    assert len(other.unique()) == NUM_CLASSES  # every family appears somewhere
    outside = ~variants["own-class"].masks[:, None].expand_as(test.images)
    differs = (variants["own-class"].images != variants["other-class"].images) & outside
    assert differs.flatten(1).any(1).all()  # every image's background changed
