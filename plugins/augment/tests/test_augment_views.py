"""Tests of the ``simclr`` and ``identity`` view generators and their registration."""

from __future__ import annotations

import importlib.metadata as metadata
import itertools

import pytest
import torch
from ssl_core import BuildContext, ViewGenerator

from ssl_augment import SYMMETRIC, IdentityViews, IdentityViewsConfig, SymmetricViews, SymmetricViewsConfig, plugin

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _simclr(image_size: int = 32, **options) -> SymmetricViews:
    """The ``simclr`` preset: the symmetric views with SimCLR's recipe (``SYMMETRIC["simclr"]``)."""
    return SymmetricViews(SymmetricViewsConfig(**{**SYMMETRIC["simclr"]["options"], **options}),
                          BuildContext(image_size=image_size))


def _generator(seed: int, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _images(batch: int = 8, size: int = 32, device: str = "cpu") -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=_generator(0)).to(device)


def _all_pairs_differ(views: torch.Tensor) -> bool:
    return all(not torch.equal(a, b) for a, b in itertools.combinations(views, 2))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("image_size", "batch"), [(32, 4), (96, 1)])
def test_simclr_views_shape_dtype_range_device(device: str, image_size: int, batch: int) -> None:
    views = _simclr(image_size)(_images(batch, image_size, device), _generator(1, device))
    assert len(views) == 2
    for view in views:
        assert view.shape == (batch, 3, image_size, image_size)
        assert view.dtype == torch.float32 and view.device.type == device
        assert view.min() >= 0 and view.max() <= 1


def test_simclr_options_set_count_and_size() -> None:
    views = _simclr(32, num_views=3, size=16, interpolation="bicubic")(_images(), _generator(1))
    assert len(views) == 3 and all(v.shape == (8, 3, 16, 16) for v in views)
    assert all(v.min() >= 0 and v.max() <= 1 for v in views)


def test_simclr_keeps_the_input_dtype() -> None:
    views = _simclr(32, blur_p=1.0)(_images().double(), _generator(1))
    assert all(v.dtype == torch.float64 and v.min() >= 0 and v.max() <= 1 for v in views)


def test_simclr_is_reproducible_under_a_seed() -> None:
    generator, x = _simclr(blur_p=1.0), _images(4)
    first, again, other = generator(x, _generator(7)), generator(x, _generator(7)), generator(x, _generator(8))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not any(torch.equal(a, b) for a, b in zip(first, other))
    assert not torch.equal(first[0], first[1])  # the two views of an image differ


def test_simclr_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _simclr(blur_p=1.0)(_images(4), _generator(0))
    assert torch.equal(torch.rand(3), expected)


def test_simclr_draws_per_sample() -> None:
    same = _images(1).expand(16, -1, -1, -1)
    assert _all_pairs_differ(_simclr()(same, _generator(2))[0])
    crop_only = _simclr(flip_p=0.0, jitter_p=0.0, grayscale_p=0.0)(same, _generator(2))[0]
    assert _all_pairs_differ(crop_only)  # each sample gets its own crop box


def _is_gray(views: torch.Tensor) -> torch.Tensor:
    return (views[:, 0] == views[:, 1]).all(dim=(1, 2)) & (views[:, 1] == views[:, 2]).all(dim=(1, 2))


def _is_changed(views: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return (views - images).abs().flatten(1).amax(dim=1) > 1e-4


@pytest.mark.parametrize(
    ("options", "detect", "p"),
    [
        ({"jitter_p": 0.8}, _is_changed, 0.8),
        ({"grayscale_p": 0.2}, lambda views, images: _is_gray(views), 0.2),
        ({"blur_p": 0.5}, _is_changed, 0.5),
    ],
)
def test_simclr_applies_each_stage_with_its_probability(options: dict, detect, p: float) -> None:
    # scale (1, 1) on square images always falls back to the full image: the crop is the identity
    stages = {"crop_scale": (1.0, 1.0), "flip_p": 0.0, "jitter_p": 0.0, "grayscale_p": 0.0, "blur_p": 0.0}
    images = _images(2000, 20)
    view = _simclr(20, **{**stages, **options})(images, _generator(3))[0]
    assert abs(detect(view, images).float().mean().item() - p) < 0.04


@pytest.mark.parametrize(
    ("image_size", "scale", "blur_p", "kernel"),
    [(32, (0.2, 1.0), 0.0, 3), (64, (0.2, 1.0), 0.0, 7), (96, (0.08, 1.0), 0.5, 9), (224, (0.08, 1.0), 0.5, 23)],
)
def test_simclr_size_dependent_defaults(image_size: int, scale, blur_p: float, kernel: int) -> None:
    views = _simclr(image_size)
    assert (views.size, views.crop_scale, views.blur_p, views.blur_kernel_size) == (image_size, scale, blur_p, kernel)


def test_simclr_explicit_options_override_defaults() -> None:
    views = _simclr(32, size=24, crop_scale=[0.5, 1], blur_p=0.3)
    assert (views.size, views.crop_scale, views.blur_p) == (24, (0.5, 1.0), 0.3)


@pytest.mark.parametrize(
    ("options", "shown"),
    [
        ({"flip_p": 1.5}, "1.5"),
        ({"jitter_p": -0.1}, "-0.1"),
        ({"blur_p": 2.0}, "2.0"),
        ({"crop_scale": (0.9, 0.1)}, "0.9"),
        ({"jitter": (0.4, 0.4, 0.4, 0.7)}, "0.7"),
        ({"jitter": (0.4, 0.4, 0.4)}, "0.4"),
        ({"interpolation": "nearest"}, "nearest"),
        ({"num_views": 0}, "0"),
    ],
)
def test_simclr_invalid_options_name_the_value(options: dict, shown: str) -> None:
    with pytest.raises(ValueError, match=shown):
        SymmetricViewsConfig(**{**SYMMETRIC["simclr"]["options"], **options})


def test_identity_views_copy_and_resize() -> None:
    x = _images()
    views = IdentityViews(IdentityViewsConfig(num_views=3), BuildContext())(x, _generator(0))
    assert len(views) == 3 and all(torch.equal(v, x) for v in views) and views[0] is not x
    small = IdentityViews(IdentityViewsConfig(size=16), BuildContext())(x, _generator(0))
    assert all(v.shape == (8, 3, 16, 16) and v.min() >= 0 and v.max() <= 1 for v in small)
    assert torch.equal(small[0], small[1])


def test_plugin_registers_both_generators() -> None:
    registered = {}
    plugin.register_view_generators(
        lambda name, factory, *, config=None, **_: registered.update({name: (factory, config)}))
    assert registered["simclr"] == (SymmetricViews, SymmetricViewsConfig)
    assert registered["identity"] == (IdentityViews, IdentityViewsConfig)
    for factory, config in registered.values():
        assert isinstance(factory(config(), BuildContext()), ViewGenerator)
    entry_points = {ep.name: ep.value for ep in metadata.entry_points(group="ssl")}
    assert entry_points.get("augment") == "ssl_augment.plugin"


def test_views_are_built_through_the_registry() -> None:
    import ssl_core

    views = ssl_core.create("views", "simclr", BuildContext(image_size=224), crop_scale=[0.3, 0.9], flip_p=0.3)
    assert isinstance(views, SymmetricViews) and (views.crop_scale, views.blur_p) == ((0.3, 0.9), 0.5)
    assert isinstance(ssl_core.create("views", "identity"), IdentityViews)
    with pytest.raises(ValueError, match="1.5"):
        ssl_core.create("views", "simclr", flip_p=1.5)
