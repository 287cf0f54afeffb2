"""The offline dataset ``shapes`` of ssl-shapes: procedurally rendered, labelled RGB images.

Each image shows one filled silhouette of ten classes (:data:`CLASS_NAMES`) at a random
scale (radius 0.45 to 0.7 of half the side), rotation (within 25 degrees of upright) and
position, over a low-contrast background texture from one of ten families
(:data:`BACKGROUND_NAMES`, random phase and centre) or, as family ``-1``, a plain colour.
Foreground and background take different hues of a small palette, each with a random
brightness. The class is decided by the silhouette alone; the knobs below add controlled
nuisances to the training split only (a long-tailed shapes run is ``ssl run --imbalance R``,
the ``long-tail`` dataset of ssl-longtail drawing from the balanced training split):

- ``background_bias`` p: a training image's background family is the one tied to its
  class (family ``k`` for class ``k``) with probability p, else uniformly random;
- ``colors``: how many palette hues are used.

Why so few hues and low-contrast textures: contrastive learning keeps whatever its views
leave unchanged and tells images apart. Colour and background survive crops and mild
colour jitter, so when they vary a lot they, not the silhouette, fill the representation
(with every hue random, SimCLR's k-NN accuracy on the class stayed near the untrained
encoder's). Raising ``colors`` or ``background_bias`` gives harder, confounded variants.

Images are rendered in batches with torch: each pixel centre is mapped through its image's
inverse pose into the shape's own frame (the shape fits the unit disc there), where an
inside test per class gives the foreground mask. Everything follows from the seed; the
train and test splits are drawn from separate random streams."""

from __future__ import annotations

import hashlib
import math
from typing import Callable

import attrs
import torch
import torch.nn.functional as F
from attrs import validators as v
from ssl_core import in_range, option, positive, probability

Tensor = torch.Tensor
PLAIN = -1
SPLITS = ("train", "test")


def _polygon(x: Tensor, y: Tensor, sides: int, apothem: float) -> Tensor:
    """Inside a regular polygon centred on the origin (one edge normal along +x)."""
    angle = 2 * math.pi * torch.arange(sides) / sides
    return (x[..., None] * angle.cos() + y[..., None] * angle.sin() <= apothem).all(-1)


def _star(x: Tensor, y: Tensor) -> Tensor:
    """Inside a five-pointed star: the radius limit falls from 1 at a tip to 0.45 between tips."""
    phase = (torch.atan2(y, x) * 5 / (2 * math.pi)) % 1
    return x.hypot(y) <= 0.45 + 0.55 * (2 * phase - 1).abs()


def _heart(x: Tensor, y: Tensor) -> Tensor:
    """Inside the quartic heart ``(X^2 + Y^2 - 1)^3 <= X^2 Y^3``, scaled into the unit disc."""
    hx, hy = 1.15 * x, 1.15 * y + 0.12
    return (hx**2 + hy**2 - 1) ** 3 <= hx**2 * hy**3


def _box(x: Tensor, y: Tensor, x0: float, x1: float, y0: float, y1: float) -> Tensor:
    """Inside an axis-aligned rectangle."""
    return (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)


# Inside tests in the shape's frame; every shape lies in the unit disc.
_SHAPES: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "circle": lambda x, y: x**2 + y**2 <= 1,
    "square": lambda x, y: _polygon(x, y, 4, 0.7),
    "triangle": lambda x, y: _polygon(x, y, 3, 0.5),
    "star": _star,
    "cross": lambda x, y: _box(x, y, -0.3, 0.3, -0.95, 0.95) | _box(x, y, -0.95, 0.95, -0.3, 0.3),
    "ring": lambda x, y: (x**2 + y**2 <= 1) & (x**2 + y**2 >= 0.55**2),
    "crescent": lambda x, y: (x**2 + y**2 <= 1) & ((x - 0.45) ** 2 + y**2 > 0.75**2),
    "heart": _heart,
    "arrow": lambda x, y: _box(x, y, -0.95, 0.05, -0.2, 0.2) | ((x >= 0) & (y.abs() <= 0.7 - 0.7 * x / 0.95)),
    "L-shape": lambda x, y: _box(x, y, -0.6, -0.05, -0.75, 0.75) | _box(x, y, -0.6, 0.6, 0.2, 0.75),
}


def _square_wave(t: Tensor) -> Tensor:
    """1 where ``sin(t) > 0``, else 0."""
    return (torch.sin(t) > 0).float()


def _wave(t: Tensor, p: Tensor) -> Tensor:
    """The phase of a wave along ``t``: 3 to 8 periods per image side (``p[:, 0]``), offset ``p[:, 1]``."""
    return math.pi * (3 + 5 * p[:, 0]) * t + 2 * math.pi * p[:, 1]


def _cell(t: Tensor, p: Tensor) -> Tensor:
    """The position in [0, 1) within the current period of :func:`_wave`."""
    turns = _wave(t, p) / (2 * math.pi)
    return turns - turns.floor()


def _radius(x: Tensor, y: Tensor, p: Tensor) -> Tensor:
    """The distance to a random centre ``(p[:, 2], p[:, 3])`` mapped to [-1, 1]."""
    return (x - 2 * p[:, 2] + 1).hypot(y - 2 * p[:, 3] + 1)


# Texture patterns: grids x, y (H, W) in [-1, 1] and parameters p (m, 16, 1, 1) uniform in
# [0, 1] give a weight in [0, 1] per pixel (m, H, W) that mixes the two texture colours.
_TEXTURES: dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]] = {
    "horizontal stripes": lambda x, y, p: _square_wave(_wave(y, p)),
    "vertical stripes": lambda x, y, p: _square_wave(_wave(x, p)),
    "diagonal stripes": lambda x, y, p: _square_wave(_wave((x + torch.where(p[:, 2] < 0.5, y, -y)) / math.sqrt(2), p)),
    "checkerboard": lambda x, y, p: (_square_wave(_wave(x, p)) != _square_wave(_wave(y, p))).float(),
    "dots": lambda x, y, p: ((_cell(x, p) - 0.5) ** 2 + (_cell(y, p) - 0.5) ** 2 < (0.2 + 0.1 * p[:, 2]) ** 2).float(),
    "blobs": lambda x, y, p: (3 * F.interpolate(p.view(-1, 1, 4, 4), size=x.shape, mode="bilinear",
                                                align_corners=True)[:, 0] - 1).clamp(0, 1),
    "concentric rings": lambda x, y, p: _square_wave(_wave(_radius(x, y, p), p)),
    "grid lines": lambda x, y, p: ((_cell(x, p) < 0.2) | (_cell(y, p) < 0.2)).float(),
    "radial gradient": lambda x, y, p: (_radius(x, y, p) / (1 + p[:, 0])).clamp(max=1),
    "waves": lambda x, y, p: 0.5 + 0.5 * torch.sin(_wave(y, p) + (1 + 2 * p[:, 4]) * torch.sin(
        math.pi * (1 + 2 * p[:, 5]) * x)),
}

CLASS_NAMES: tuple[str, ...] = tuple(_SHAPES)
"""The ten silhouette classes, in label order."""
BACKGROUND_NAMES: tuple[str, ...] = tuple(_TEXTURES)
"""The ten texture families, in id order (family ``k`` is the one tied to class ``k``)."""


@attrs.define
class ShapesConfig:
    """Options of the built-in `shapes` dataset."""

    num_train: int = option(5000, "training images, num_train // 10 per class (at least 10)", validator=in_range(
        len(CLASS_NAMES), why=f" (shapes draws num_train // {len(CLASS_NAMES)} images of each of its "
                              f"{len(CLASS_NAMES)} classes)"))
    num_test: int = option(1000, "test images, balanced, random backgrounds", validator=positive)
    image_size: int = option(32, "image side in pixels (at least 16)", validator=v.ge(16))
    background_bias: float = option(0.0, "probability that a training image's background family is tied to its class",
                                    validator=probability, converter=float)
    colors: int = option(2, "palette hues used for shapes and backgrounds (2 to 8; more hues make colour "
                            "a stronger shortcut for contrastive learning)", validator=v.and_(v.ge(2), v.le(8)))
    seed: int = option(0, "generation seed (train and test are drawn from separate streams)")


@attrs.define
class ShapesSet:
    """Rendered images with their labels, foreground masks and background family ids."""

    images: Tensor  # uint8 (N, 3, H, W)
    labels: Tensor  # int64 (N,)
    masks: Tensor  # bool (N, H, W), True on the shape's pixels
    backgrounds: Tensor  # int64 (N,), background family id, -1 = plain


#: the hues of shapes and backgrounds; a run uses the first ``colors`` of them.
PALETTE = ((0.9, 0.5, 0.2), (0.25, 0.4, 0.85), (0.3, 0.75, 0.3), (0.85, 0.25, 0.6),
           (0.85, 0.8, 0.25), (0.3, 0.8, 0.85), (0.55, 0.3, 0.85), (0.6, 0.6, 0.6))


def render(labels: Tensor, backgrounds: Tensor, image_size: int, seed: int, colors: int = 2) -> ShapesSet:
    """Render one image per (label, background family) pair; family ``-1`` is a plain colour.

    ``colors`` hues of :data:`PALETTE` are used (background and foreground hues differ).

    Pose, colours and texture parameters come from a generator seeded with ``seed``; they
    depend on the seed, the number of images and each image's position only, so rendering
    the same labels with other backgrounds keeps every foreground (mask and colour).
    """
    num_classes = len(CLASS_NAMES)
    labels, backgrounds = labels.long(), backgrounds.long()
    if labels.ndim != 1 or labels.shape != backgrounds.shape:
        raise ValueError(f"labels and backgrounds must be 1-D and alike, got {tuple(labels.shape)} "
                         f"and {tuple(backgrounds.shape)}")
    if ((labels < 0) | (labels >= num_classes)).any():
        raise ValueError(f"labels must lie in [0, {num_classes})")
    if not 2 <= colors <= len(PALETTE):
        raise ValueError(f"colors must lie in [2, {len(PALETTE)}], got {colors}")
    if ((backgrounds < PLAIN) | (backgrounds >= len(BACKGROUND_NAMES))).any():
        raise ValueError(f"background ids must lie in [{PLAIN}, {len(BACKGROUND_NAMES)})")
    n = labels.shape[0]
    g = torch.Generator().manual_seed(seed)
    angle = (torch.rand(n, generator=g) - 0.5) * math.radians(50)  # within 25 degrees of upright
    scale = 0.45 + 0.25 * torch.rand(n, generator=g)  # shape radius, in half image sides
    shift = (2 * torch.rand(n, 2, generator=g) - 1) * (1 - scale)[:, None]  # keeps the shape inside
    params = torch.rand(n, 16, 1, 1, generator=g)
    params[:, [0, 4, 5]] = 0.5  # one frequency and wave form per family: only phases and centres vary
    palette = torch.tensor(PALETTE[:colors])
    # background and foreground hues differ; each colour gets a random brightness in [0.75, 1]
    hue_bg = torch.randint(colors, (n,), generator=g)
    hue_fg = (hue_bg + torch.randint(1, colors, (n,), generator=g)) % colors
    color0 = palette[hue_bg] * (0.75 + 0.25 * torch.rand(n, 1, generator=g))
    foreground = palette[hue_fg] * (0.75 + 0.25 * torch.rand(n, 1, generator=g))
    # a low-contrast texture: each channel of the second colour differs by 0.1 to 0.25
    sign = torch.where(color0 > 0.5, -1.0, 1.0)
    color1 = color0 + sign * (0.1 + 0.15 * torch.rand(n, 3, generator=g))

    coords = (torch.arange(image_size) + 0.5) * 2 / image_size - 1
    y, x = torch.meshgrid(coords, coords, indexing="ij")
    dx, dy = x - shift[:, 0, None, None], y - shift[:, 1, None, None]
    cos, sin, s = angle.cos()[:, None, None], angle.sin()[:, None, None], scale[:, None, None]
    shape_x, shape_y = (cos * dx + sin * dy) / s, (cos * dy - sin * dx) / s  # in the shape's frame
    masks = torch.zeros(n, image_size, image_size, dtype=torch.bool)
    for k, inside in enumerate(_SHAPES.values()):
        index = (labels == k).nonzero().squeeze(1)
        masks[index] = inside(shape_x[index], shape_y[index])

    weight = torch.zeros(n, image_size, image_size)
    for k, pattern in enumerate(_TEXTURES.values()):
        index = (backgrounds == k).nonzero().squeeze(1)
        weight[index] = pattern(x, y, params[index])
    background = color0[:, :, None, None] + (color1 - color0)[:, :, None, None] * weight[:, None]
    images = torch.where(masks[:, None], foreground[:, :, None, None], background)
    images = (images * 255).round().to(torch.uint8)
    return ShapesSet(images=images, labels=labels, masks=masks, backgrounds=backgrounds)


def _stream_seed(seed: int, split: str) -> int:
    """A seed for the (seed, split) random stream."""
    return int.from_bytes(hashlib.sha256(f"shapes/{seed}/{split}".encode()).digest()[:7], "little")


def generate(config: ShapesConfig, split: str) -> ShapesSet:
    """The ``train`` (background-biased, shuffled) or ``test`` (random backgrounds) split; both balanced."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    num_classes = len(CLASS_NAMES)
    g = torch.Generator().manual_seed(_stream_seed(config.seed, split))
    if split == "train":
        labels = torch.arange(num_classes).repeat_interleave(config.num_train // num_classes)
        bias = config.background_bias
    else:
        labels = torch.arange(config.num_test) % num_classes
        bias = 0.0
    labels = labels[torch.randperm(labels.shape[0], generator=g)]
    tied = torch.rand(labels.shape[0], generator=g) < bias
    backgrounds = torch.where(tied, labels, torch.randint(len(BACKGROUND_NAMES), labels.shape, generator=g))
    return render(labels, backgrounds, config.image_size, int(torch.randint(2**62, (1,), generator=g)),
                  config.colors)


BACKGROUND_TESTS: tuple[str, ...] = ("random", "plain", "other-class", "own-class")
"""The test-split variants of :func:`background_tests`."""


def background_tests(config: ShapesConfig) -> dict[str, ShapesSet]:
    """The test split rendered with four kinds of background, every foreground identical.

    - ``random``: the test split itself (background families uniformly random);
    - ``plain``: the foreground alone on a plain colour (family ``-1``);
    - ``other-class``: the family tied to another class, drawn uniformly from the other nine;
    - ``own-class``: the family tied to the image's own class (what ``background_bias`` 1 trains on).

    A representation that relies on the background scores high on ``own-class`` and low on
    ``other-class``; one that reads the silhouette scores alike on all four.
    """
    test = generate(config, "test")
    g = torch.Generator().manual_seed(_stream_seed(config.seed, "test"))
    labels = torch.arange(config.num_test) % len(CLASS_NAMES)
    labels = labels[torch.randperm(labels.shape[0], generator=g)]
    torch.rand(labels.shape[0], generator=g)  # replay generate's draws up to the render seed
    torch.randint(len(BACKGROUND_NAMES), labels.shape, generator=g)
    seed = int(torch.randint(2**62, (1,), generator=g))
    shift = 1 + torch.randint(len(CLASS_NAMES) - 1, labels.shape,
                              generator=torch.Generator().manual_seed(_stream_seed(config.seed, "other-class")))
    backgrounds = {"plain": torch.full_like(labels, PLAIN), "other-class": (labels + shift) % len(CLASS_NAMES),
                   "own-class": labels}
    return {"random": test, **{name: render(labels, b, config.image_size, seed, config.colors)
                               for name, b in backgrounds.items()}}
