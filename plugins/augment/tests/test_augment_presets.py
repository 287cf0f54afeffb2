"""Tests of the view presets: ``moco-v1``, ``moco-v2``, ``simsiam``, ``sdclr``, ``byol`` and ``multi-crop``."""

from __future__ import annotations

import itertools

import attrs
import pytest
import torch
from ssl_core import BuildContext, ViewGenerator

from ssl_augment import (
    SYMMETRIC,
    BYOLViews,
    BYOLViewsConfig,
    MultiCropViews,
    MultiCropViewsConfig,
    SymmetricViews,
    SymmetricViewsConfig,
    ops,
    plugin,
)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])

#: name -> (factory, config class, the option values the preset registers): the symmetric presets
#: are one class and one config class with their recipes as data.
PRESETS = {
    "moco-v1": (SymmetricViews, SymmetricViewsConfig, SYMMETRIC["moco-v1"]["options"]),
    "moco-v2": (SymmetricViews, SymmetricViewsConfig, SYMMETRIC["moco-v2"]["options"]),
    "simsiam": (SymmetricViews, SymmetricViewsConfig, SYMMETRIC["simsiam"]["options"]),  # MoCo v2's recipe
    "sdclr": (SymmetricViews, SymmetricViewsConfig, SYMMETRIC["sdclr"]["options"]),
    "byol": (BYOLViews, BYOLViewsConfig, {}),
    "multi-crop": (MultiCropViews, MultiCropViewsConfig, {}),
}

#: the view sides each preset gives by default, per training image size.
SIZES = {
    32: {"moco-v1": [32] * 2, "moco-v2": [32] * 2, "simsiam": [32] * 2, "sdclr": [32] * 2, "byol": [32] * 2,
         "multi-crop": [32] * 2 + [18] * 6},
    96: {"moco-v1": [96] * 2, "moco-v2": [96] * 2, "simsiam": [96] * 2, "sdclr": [96] * 2, "byol": [96] * 2,
         "multi-crop": [96] * 2 + [41] * 6},
}


def _views(name: str, image_size: int = 32, **options) -> ViewGenerator:
    factory, config, preset = PRESETS[name]
    return factory(config(**{**preset, **options}), BuildContext(image_size=image_size))


def _generator(seed: int, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


def _images(batch: int = 4, size: int = 32, device: str = "cpu") -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=_generator(0)).to(device)


def _all_pairs_differ(views: torch.Tensor) -> bool:
    return all(not torch.equal(a, b) for a, b in itertools.combinations(views, 2))


def _is_changed(views: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    return (views - images).abs().flatten(1).amax(dim=1) > 1e-4


#: options that make the crop the identity (scale (1, 1) on a square image) and switch every other stage off.
IDENTITY = {"crop_scale": (1.0, 1.0), "flip_p": 0.0, "jitter_p": 0.0, "grayscale_p": 0.0}


# --- registration -------------------------------------------------------------------------------


def _registered() -> dict[str, tuple]:
    registered = {}

    def register(name, factory, *, config=None, options=None, description=None):
        registered[name] = (factory, config, options or {}, description)

    plugin.register_view_generators(register)
    return registered


def test_plugin_registers_every_preset() -> None:
    registered = _registered()
    assert set(registered) == {"simclr", "identity", *PRESETS}
    for name, (factory, config, preset) in PRESETS.items():
        assert registered[name][:3] == (factory, config, preset)
        assert isinstance(factory(config(**preset), BuildContext()), ViewGenerator)


def test_symmetric_presets_are_data_of_one_class() -> None:
    registered = _registered()
    for name in SYMMETRIC:
        factory, config, preset, description = registered[name]
        assert (factory, config) == (SymmetricViews, SymmetricViewsConfig)
        assert preset and set(preset) <= {f.name for f in attrs.fields(SymmetricViewsConfig)}
        assert description and "\n" not in description
    assert registered["simsiam"][2] == registered["moco-v2"][2]


@pytest.mark.parametrize("name", SYMMETRIC)
def test_describe_shows_the_preset_recipe(name: str) -> None:
    import ssl_core

    defaults = {row["name"]: row["default"] for row in ssl_core.registry.describe("views", name)}
    assert {key: defaults[key] for key in SYMMETRIC[name]["options"]} == SYMMETRIC[name]["options"]
    assert ssl_core.registry.spec("views", name).description == SYMMETRIC[name]["description"]


@pytest.mark.parametrize("name", PRESETS)
def test_presets_are_built_through_the_registry(name: str) -> None:
    import ssl_core

    views = ssl_core.create("views", name, BuildContext(image_size=32), flip_p=0.3)
    assert isinstance(views, PRESETS[name][0]) and views.ssl_name == name
    assert all(spec.flip_p == 0.3 for spec in views.specs)
    with pytest.raises(ValueError, match="1.5"):
        ssl_core.create("views", name, flip_p=1.5)


# --- output contract ------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize(("image_size", "batch"), [(32, 4), (96, 1)])
@pytest.mark.parametrize("name", PRESETS)
def test_preset_count_shape_dtype_range_device(name: str, device: str, image_size: int, batch: int) -> None:
    generator = _views(name, image_size)
    views = generator(_images(batch, image_size, device), _generator(1, device))
    sizes = SIZES[image_size][name]
    assert generator.num_views == len(views) == len(sizes)
    assert [v.shape for v in views] == [(batch, 3, s, s) for s in sizes]
    for view in views:
        assert view.dtype == torch.float32 and view.device.type == device
        assert view.min() >= 0 and view.max() <= 1


@pytest.mark.parametrize("name", PRESETS)
def test_preset_keeps_the_input_dtype(name: str) -> None:
    views = _views(name, 32, blur_p=(1.0, 1.0) if name == "byol" else 1.0)(_images().double(), _generator(1))
    assert all(v.dtype == torch.float64 and v.min() >= 0 and v.max() <= 1 for v in views)


@pytest.mark.parametrize("name", PRESETS)
def test_preset_is_reproducible_under_a_seed(name: str) -> None:
    generator, x = _views(name), _images(4)
    first, again, other = generator(x, _generator(7)), generator(x, _generator(7)), generator(x, _generator(8))
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not any(torch.equal(a, b) for a, b in zip(first, other))
    assert not torch.equal(first[0], first[1])  # the views of an image differ


@pytest.mark.parametrize("name", PRESETS)
def test_preset_draws_per_sample(name: str) -> None:
    same = _images(1).expand(12, -1, -1, -1)
    views = _views(name)(same, _generator(2))
    assert _all_pairs_differ(views[0]) and _all_pairs_differ(views[-1])


@pytest.mark.parametrize("name", PRESETS)
def test_preset_leaves_the_global_rng_alone(name: str) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    _views(name)(_images(2), _generator(0))
    assert torch.equal(torch.rand(3), expected)


# --- resolved defaults ----------------------------------------------------------------------------

WEAK = (0.4, 0.4, 0.4, 0.1)


def _spec_row(spec) -> tuple:
    return (spec.size, spec.crop_scale, spec.flip_p, spec.jitter, spec.jitter_p, spec.grayscale_p, spec.blur_p,
            spec.solarize_p)


@pytest.mark.parametrize(
    ("name", "image_size", "rows"),
    [
        ("moco-v1", 32, [(32, (0.2, 1.0), 0.5, (0.4, 0.4, 0.4, 0.4), 1.0, 0.2, 0.0, 0.0)] * 2),
        ("moco-v1", 224, [(224, (0.2, 1.0), 0.5, (0.4, 0.4, 0.4, 0.4), 1.0, 0.2, 0.0, 0.0)] * 2),
        ("moco-v2", 32, [(32, (0.2, 1.0), 0.5, WEAK, 0.8, 0.2, 0.0, 0.0)] * 2),
        ("moco-v2", 224, [(224, (0.2, 1.0), 0.5, WEAK, 0.8, 0.2, 0.5, 0.0)] * 2),
        ("simsiam", 32, [(32, (0.2, 1.0), 0.5, WEAK, 0.8, 0.2, 0.0, 0.0)] * 2),
        ("simsiam", 224, [(224, (0.2, 1.0), 0.5, WEAK, 0.8, 0.2, 0.5, 0.0)] * 2),
        ("sdclr", 32, [(32, (0.1, 1.0), 0.5, WEAK, 0.8, 0.2, 0.0, 0.0)] * 2),
        ("sdclr", 224, [(224, (0.08, 1.0), 0.5, WEAK, 0.8, 0.2, 0.5, 0.0)] * 2),
        ("byol", 32, [(32, (0.08, 1.0), 0.5, (0.4, 0.4, 0.2, 0.1), 0.8, 0.2, 0.0, 0.0),
                      (32, (0.08, 1.0), 0.5, (0.4, 0.4, 0.2, 0.1), 0.8, 0.2, 0.0, 0.2)]),
        ("byol", 224, [(224, (0.08, 1.0), 0.5, (0.4, 0.4, 0.2, 0.1), 0.8, 0.2, 1.0, 0.0),
                       (224, (0.08, 1.0), 0.5, (0.4, 0.4, 0.2, 0.1), 0.8, 0.2, 0.1, 0.2)]),
        ("multi-crop", 32, [(32, (0.2, 1.0), 0.5, WEAK, 0.8, 0.2, 0.0, 0.0)] * 2
                           + [(18, (0.08, 0.5), 0.5, WEAK, 0.8, 0.2, 0.0, 0.0)] * 6),
        ("multi-crop", 224, [(224, (0.14, 1.0), 0.5, WEAK, 0.8, 0.2, 0.5, 0.0)] * 2
                            + [(96, (0.05, 0.14), 0.5, WEAK, 0.8, 0.2, 0.5, 0.0)] * 6),
    ],
)
def test_preset_defaults_by_image_size(name: str, image_size: int, rows: list[tuple]) -> None:
    views = _views(name, image_size)
    assert [_spec_row(spec) for spec in views.specs] == rows
    assert views.num_views == len(rows)


def test_preset_resolved_attributes() -> None:
    assert _views("moco-v2", 224).blur_kernel_size == 23 and _views("moco-v2", 32).blur_p == 0.0
    assert all(spec.grayscale_first for spec in _views("moco-v1").specs)
    assert not any(spec.grayscale_first for spec in _views("moco-v2").specs)
    byol = _views("byol", 224)
    assert (byol.blur_p, byol.solarize_p, byol.crop_scale) == ((1.0, 0.1), (0.0, 0.2), (0.08, 1.0))
    assert _views("byol", 64).blur_p == (0.0, 0.0)
    crops = _views("multi-crop", 224)
    assert (crops.num_global, crops.num_local, crops.global_size, crops.local_size) == (2, 6, 224, 96)
    assert (crops.global_scale, crops.local_scale, crops.blur_p) == ((0.14, 1.0), (0.05, 0.14), 0.5)
    assert crops.sizes == [224] * 2 + [96] * 6
    small = _views("multi-crop", 64)
    assert (small.global_size, small.local_size, small.global_scale, small.local_scale) == (64, 36, (0.2, 1.0),
                                                                                           (0.08, 0.5))


def test_explicit_options_override_the_defaults() -> None:
    crops = _views("multi-crop", 32, global_count=3, global_size=24, local_count=2, local_size=12,
                   global_scale=[0.5, 1], local_scale=[0.1, 0.3], blur_p=0.4)
    assert crops.sizes == [24, 24, 24, 12, 12] and crops.num_global == 3 and crops.num_views == 5
    assert [s.crop_scale for s in crops.specs] == [(0.5, 1.0)] * 3 + [(0.1, 0.3)] * 2
    assert all(s.blur_p == 0.4 for s in crops.specs)
    views = crops(_images(2), _generator(0))
    assert [v.shape[-1] for v in views] == [24, 24, 24, 12, 12]
    assert _views("multi-crop", 32, local_count=0).num_views == 2
    byol = _views("byol", 32, blur_p=[0.3, 0.4], solarize_p=[0.5, 0.6], crop_scale=[0.2, 1])
    assert [(s.blur_p, s.solarize_p, s.crop_scale) for s in byol.specs] == [(0.3, 0.5, (0.2, 1.0)),
                                                                            (0.4, 0.6, (0.2, 1.0))]
    moco = _views("moco-v2", 224, num_views=3, size=16, blur_p=0.0)
    assert moco.num_views == 3 and moco.sizes == [16] * 3 and moco.blur_p == 0.0


# --- statistics of the stages ---------------------------------------------------------------------


def test_byol_solarizes_only_the_second_view() -> None:
    images = _images(2000, 16)
    views = _views("byol", 16, **IDENTITY, blur_p=(0.0, 0.0))(images, _generator(3))
    solarized = [_is_changed(view, images).float().mean().item() for view in views]
    assert solarized[0] == 0.0
    assert abs(solarized[1] - 0.2) < 0.04


def test_byol_blurs_each_view_with_its_probability() -> None:
    images = _images(2000, 20)  # 20 px: a 3 x 3 blur kernel
    views = _views("byol", 20, **IDENTITY, blur_p=(1.0, 0.1), solarize_p=(0.0, 0.0))(images, _generator(4))
    blurred = [_is_changed(view, images).float().mean().item() for view in views]
    # a blur with sigma near 0.1 barely moves a pixel: about 6 % of the blurred samples look unchanged
    assert blurred[0] > 0.9
    assert abs(blurred[1] / blurred[0] - 0.1) < 0.03


def test_moco_v1_jitters_every_sample() -> None:
    images = _images(500, 8)
    view = _views("moco-v1", 8, crop_scale=(1.0, 1.0), flip_p=0.0, grayscale_p=0.0)(images, _generator(5))[0]
    assert _is_changed(view, images).all()
    weak = _views("moco-v2", 8, **{**IDENTITY, "jitter_p": 0.8})(images, _generator(5))[0]
    assert abs(_is_changed(weak, images).float().mean().item() - 0.8) < 0.06


def test_sdclr_is_the_official_cifar_recipe_with_bicubic_crops() -> None:
    views = _views("sdclr")
    assert all(spec.interpolation == "bicubic" for spec in views.specs)
    x, seed = _images(6), 9
    first, second = views(x, _generator(seed))
    g = _generator(seed)
    for view in (first, second):  # crop (0.1, 1) bicubic + flip, jitter p 0.8, grayscale p 0.2, no blur
        expected = ops.random_resized_crop(x, 32, (0.1, 1.0), generator=g, interpolation="bicubic", flip_p=0.5)
        expected = ops.color_jitter(expected, 0.4, 0.4, 0.4, 0.1, p=0.8, generator=g)
        expected = ops.random_grayscale(expected, 0.2, generator=g)
        assert torch.equal(view, expected)
    bilinear = _views("sdclr", interpolation="bilinear")(x, _generator(seed))[0]
    assert not torch.equal(bilinear, first)  # the interpolation reaches the crop


def test_moco_v1_applies_grayscale_before_the_jitter() -> None:
    x, seed = _images(6), 6
    view = _views("moco-v1")(x, _generator(seed))[0]
    g = _generator(seed)
    expected = ops.random_resized_crop(x, 32, (0.2, 1.0), generator=g, flip_p=0.5)
    expected = ops.random_grayscale(expected, 0.2, generator=g)
    expected = ops.color_jitter(expected, 0.4, 0.4, 0.4, 0.4, p=1.0, generator=g)
    assert torch.equal(view, expected)


# --- validation -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options", "shown"),
    [
        ("moco-v1", {"jitter_p": 1.5}, "1.5"),
        ("moco-v1", {"jitter": (0.4, 0.4, 0.4, 0.6)}, "0.6"),
        ("moco-v2", {"crop_scale": (0.9, 0.1)}, "0.9"),
        ("moco-v2", {"num_views": 0}, "0"),
        ("simsiam", {"blur_p": -0.5}, "-0.5"),
        ("simsiam", {"solarize_p": 2.0}, "2.0"),
        ("simsiam", {"interpolation": "nearest"}, "nearest"),
        ("sdclr", {"interpolation": "nearest"}, "nearest"),
        ("sdclr", {"crop_scale": (0.0, 1.0)}, "0.0"),
        ("byol", {"blur_p": (0.5, 1.2)}, "1.2"),
        ("byol", {"solarize_p": (0.3,)}, "0.3"),
        ("byol", {"grayscale_p": 1.1}, "1.1"),
        ("byol", {"size": 0}, "0"),
        ("multi-crop", {"global_count": 0}, "0"),
        ("multi-crop", {"local_count": -1}, "-1"),
        ("multi-crop", {"local_scale": (0.5, 0.1)}, "0.5"),
        ("multi-crop", {"global_scale": (0.0, 1.0)}, "0.0"),
        ("multi-crop", {"local_size": -4}, "-4"),
        ("multi-crop", {"flip_p": 1.7}, "1.7"),
    ],
)
def test_invalid_preset_options_name_the_value(name: str, options: dict, shown: str) -> None:
    _, config, preset = PRESETS[name]
    with pytest.raises(ValueError, match=shown):
        config(**{**preset, **options})
