"""Batched, device-agnostic augmentation ops.

Every op takes float images in ``[0, 1]`` of shape ``(B, C, H, W)``, returns them in
``[0, 1]`` with the same shape (crops: the requested size), dtype and device, and takes its
parameters per sample, as tensors of shape ``(B,)``. The ``random_*`` ops (and the
``sample_*`` helpers) draw those parameters, one set per sample, from the ``torch.Generator``
they are given, which lives on the images' device; they never touch the global RNG. Nothing
here synchronises a CUDA device with the host.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

#: luma weights of ``rgb_to_grayscale`` in torchvision (ITU-R 601-2, 0.299 rounded to 0.2989).
LUMA_WEIGHTS = (0.2989, 0.587, 0.114)


def _uniform(shape: int | tuple[int, ...], low: float, high: float, generator: torch.Generator) -> Tensor:
    """Draws from ``U(low, high)`` on the generator's device."""
    u = torch.rand(shape, generator=generator, device=generator.device)
    return u.mul_(high - low).add_(low)


def _bernoulli(n: int, p: float, generator: torch.Generator) -> Tensor:
    """A boolean mask of ``n`` samples, each ``True`` with probability ``p``."""
    return torch.rand(n, generator=generator, device=generator.device) < p


def _per_sample(values: Tensor) -> Tensor:
    """View a ``(B,)`` tensor as ``(B, 1, 1, 1)`` to broadcast over images."""
    return values.view(-1, 1, 1, 1)


def _size_pair(size: int | tuple[int, int]) -> tuple[int, int]:
    """``(height, width)`` from a side or a pair."""
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


# --- geometry -------------------------------------------------------------------------------


def sample_crop_boxes(batch: int, height: int, width: int, scale: tuple[float, float] = (0.08, 1.0),
                      ratio: tuple[float, float] = (3 / 4, 4 / 3), *, generator: torch.Generator,
                      attempts: int = 10) -> Tensor:
    """Per-sample crop boxes ``(top, left, h, w)`` in whole pixels, as torchvision's RandomResizedCrop.

    Each of ``attempts`` tries draws an area ``a = U(scale) H W`` and an aspect ratio
    ``r = exp(U(log ratio))`` and sets ``w = round(sqrt(a r))``, ``h = round(sqrt(a / r))``;
    the first try with ``0 < w <= W`` and ``0 < h <= H`` wins, with a uniform corner
    ``top ~ U{0, ..., H - h}``, ``left ~ U{0, ..., W - w}``. A sample without a valid try gets
    the central crop of the largest box whose ratio lies in ``ratio``.

    Returns:
        float32 ``(batch, 4)`` on the generator's device.
    """
    target = _uniform((batch, attempts), scale[0], scale[1], generator) * (height * width)
    aspect = _uniform((batch, attempts), math.log(ratio[0]), math.log(ratio[1]), generator).exp_()
    w = (target * aspect).sqrt_().round_()
    h = (target / aspect).sqrt_().round_()
    valid = (w > 0) & (w <= width) & (h > 0) & (h <= height)
    first = valid.to(torch.uint8).argmax(dim=1, keepdim=True)  # the first valid try (0 if none)
    found = valid.any(dim=1)

    low, high = min(ratio), max(ratio)
    fallback_w, fallback_h = width, height
    if width / height < low:
        fallback_h = round(width / low)
    elif width / height > high:
        fallback_w = round(height * high)
    w = torch.where(found, w.gather(1, first).squeeze(1), float(fallback_w))
    h = torch.where(found, h.gather(1, first).squeeze(1), float(fallback_h))

    corner = torch.rand((batch, 2), generator=generator, device=generator.device)
    top = torch.minimum((corner[:, 0] * (height - h + 1)).floor_(), height - h)
    left = torch.minimum((corner[:, 1] * (width - w + 1)).floor_(), width - w)
    top = torch.where(found, top, ((height - h) / 2).floor_())
    left = torch.where(found, left, ((width - w) / 2).floor_())
    return torch.stack((top, left, h, w), dim=1)


def _box_coordinates(steps: int, start: Tensor, length: Tensor, side: int, sign: Tensor, inside: bool) -> Tensor:
    """Input coordinates, normalised to ``[-1, 1]``, of ``steps`` output pixel centres over a box.

    ``x = s u length / side + (2 start + length) / side - 1`` at the output centres
    ``u = (2 i + 1) / steps - 1``; ``(B, steps)``. With ``inside``, clamped to the box's outer
    pixel centres.
    """
    u = (torch.arange(steps, dtype=start.dtype, device=start.device) * 2 + 1) / steps - 1
    x = (sign * length / side).unsqueeze(1) * u + ((2 * start + length) / side - 1).unsqueeze(1)
    if not inside:
        return x
    lowest = ((2 * start + 1) / side - 1).unsqueeze(1)
    highest = ((2 * (start + length) - 1) / side - 1).unsqueeze(1)
    return torch.maximum(torch.minimum(x, highest), lowest)


def crop_resize(images: Tensor, boxes: Tensor, size: int | tuple[int, int], flip: Tensor | None = None,
                interpolation: str = "bilinear") -> Tensor:
    """Crop each image to its box, resize it to ``size`` and mirror it where ``flip``, in one pass.

    A box ``(top, left, h, w)`` (pixels) defines the affine map from the output's normalised
    coordinate ``u`` in ``[-1, 1]`` (``align_corners=False``) to the input's
    ``x = s u w / W + (2 left + w) / W - 1``, with ``s = -1`` where flipped, else ``1`` (``y``
    likewise from ``top``, ``h`` and ``H``): the grid ``F.affine_grid`` would build, made here
    from its two axes (the map has no rotation or shear), then one ``F.grid_sample`` with
    border padding. Bilinear sampling points are clamped to the box's outer pixel centres, so
    the result equals cropping then resizing (torchvision ``resized_crop(..., antialias=False)``);
    bicubic taps may reach one or two pixels past a box edge inside the image (exact for boxes
    on the image border, e.g. a plain resize).

    Args:
        images: ``(B, C, H, W)`` in ``[0, 1]``.
        boxes: ``(B, 4)`` boxes ``(top, left, h, w)``, e.g. from ``sample_crop_boxes``.
        size: the output side, or ``(height, width)``.
        flip: ``(B,)`` booleans, mirror horizontally where ``True``.
        interpolation: ``"bilinear"`` or ``"bicubic"``.
    """
    _, _, height, width = images.shape
    out_h, out_w = _size_pair(size)
    top, left, h, w = boxes.to(images.dtype).unbind(1)
    sign = 1.0 - 2.0 * flip.to(images.dtype) if flip is not None else torch.ones_like(w)
    inside = interpolation == "bilinear"
    x = _box_coordinates(out_w, left, w, width, sign, inside)
    y = _box_coordinates(out_h, top, h, height, torch.ones_like(h), inside)
    grid = torch.stack((x.unsqueeze(1).expand(-1, out_h, -1), y.unsqueeze(2).expand(-1, -1, out_w)), dim=-1)
    out = F.grid_sample(images, grid, mode=interpolation, padding_mode="border", align_corners=False)
    return out.clamp_(0.0, 1.0)


def random_resized_crop(images: Tensor, size: int | tuple[int, int], scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3), *, generator: torch.Generator,
                        interpolation: str = "bilinear", flip_p: float = 0.0) -> Tensor:
    """Per-sample random resized crop (``sample_crop_boxes``), mirrored with probability ``flip_p``."""
    batch, _, height, width = images.shape
    boxes = sample_crop_boxes(batch, height, width, scale, ratio, generator=generator)
    flip = _bernoulli(batch, flip_p, generator)
    return crop_resize(images, boxes, size, flip, interpolation)


# --- colour ---------------------------------------------------------------------------------


def _luma(images: Tensor) -> Tensor:
    """``L = 0.2989 R + 0.587 G + 0.114 B`` as ``(B, 1, H, W)``; a one-channel image is its own luma."""
    if images.shape[1] == 1:
        return images
    r, g, b = images.unbind(1)
    return (r * LUMA_WEIGHTS[0] + g * LUMA_WEIGHTS[1] + b * LUMA_WEIGHTS[2]).unsqueeze(1)


def _blend(images: Tensor, target: Tensor | float, factor: Tensor) -> Tensor:
    """``clamp(f x + (1 - f) t, 0, 1)`` with a per-sample factor ``f``."""
    f = _per_sample(factor).to(images.dtype)
    return (images * f + target * (1 - f)).clamp_(0.0, 1.0)


def to_grayscale(images: Tensor) -> Tensor:
    """Luma ``L = 0.2989 R + 0.587 G + 0.114 B`` (torchvision's weights), replicated to every channel."""
    return _luma(images).expand_as(images).contiguous()


def adjust_brightness(images: Tensor, factor: Tensor) -> Tensor:
    """``clamp(f x, 0, 1)``: a blend with black, per-sample factor ``f`` of shape ``(B,)``."""
    return _blend(images, 0.0, factor)


def adjust_contrast(images: Tensor, factor: Tensor) -> Tensor:
    """``clamp(f x + (1 - f) m, 0, 1)`` with ``m`` the image's mean luma, per-sample ``f``."""
    return _blend(images, _luma(images).mean(dim=(1, 2, 3), keepdim=True), factor)


def adjust_saturation(images: Tensor, factor: Tensor) -> Tensor:
    """``clamp(f x + (1 - f) L, 0, 1)`` with ``L`` the luma image, per-sample ``f``."""
    return _blend(images, _luma(images), factor)


def _rgb_to_hsv(images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """RGB to HSV planes ``(B, H, W)`` in ``[0, 1]``: ``V = max``, ``S = (max - min) / max``, ``H`` the hexcone hue.

    ``H = ((G - B) / d, (B - R) / d + 2 or (R - G) / d + 4) / 6 mod 1`` for a maximum in R, G or B,
    ``d = max - min`` (grays get ``H = S = 0``).
    """
    r, g, b = images.unbind(1)
    value = torch.maximum(torch.maximum(r, g), b)
    spread = value - torch.minimum(torch.minimum(r, g), b)
    saturation = spread / torch.where(value > 0, value, 1.0)
    divisor = torch.where(spread > 0, spread, 1.0)
    hue = torch.where(value == r, (g - b) / divisor,
                      torch.where(value == g, (b - r) / divisor + 2, (r - g) / divisor + 4))
    return torch.where(hue < 0, hue + 6, hue) / 6, saturation, value


def _hsv_to_rgb(hue: Tensor, saturation: Tensor, value: Tensor) -> Tensor:
    """HSV planes to RGB: channel ``n = 5, 3, 1`` is ``V - V S clamp(min(k, 4 - k), 0, 1)``, ``k = (n + 6 H) mod 6``."""
    sextant = hue * 6
    chroma = value * saturation
    channels = []
    for n in (5.0, 3.0, 1.0):
        k = sextant + n
        k = torch.where(k >= 6, k - 6, k)
        channels.append(value - chroma * torch.minimum(k, 4 - k).clamp_(0.0, 1.0))
    return torch.stack(channels, dim=1)


def adjust_hue(images: Tensor, shift: Tensor) -> Tensor:
    """Rotate the hue: RGB to HSV, ``H <- (H + shift) mod 1``, back to RGB; per-sample ``shift`` in ``[-0.5, 0.5]``.

    One-channel images are returned unchanged (as torchvision does).
    """
    if images.shape[1] == 1:
        return images
    hue, saturation, value = _rgb_to_hsv(images)
    hue = (hue + shift.to(images.dtype).view(-1, 1, 1)).remainder_(1.0)
    return _hsv_to_rgb(hue, saturation, value)


class JitterParams(NamedTuple):
    """Per-sample colour-jitter parameters (see ``sample_color_jitter``).

    Attributes:
        selected: ``(B,)`` booleans, jitter this sample.
        factors: ``(B, 3)`` brightness, contrast and saturation factors.
        shift: ``(B,)`` hue shifts.
        order: ``(B, 4)`` a permutation of ``0..3`` (brightness, contrast, saturation, hue) per sample.
    """

    selected: Tensor
    factors: Tensor
    shift: Tensor
    order: Tensor


def sample_color_jitter(batch: int, brightness: float, contrast: float, saturation: float, hue: float,
                        p: float = 1.0, *, generator: torch.Generator) -> JitterParams:
    """Draw colour-jitter parameters per sample, as torchvision's ColorJitter.

    ``selected ~ Bernoulli(p)``; brightness factor ``~ U(max(0, 1 - brightness), 1 + brightness)``
    (contrast and saturation likewise); hue shift ``~ U(-hue, hue)``; the order of the four ops
    a uniformly random permutation.
    """
    selected = _bernoulli(batch, p, generator)
    factors = torch.stack([_uniform(batch, max(0.0, 1 - s), 1 + s, generator)
                           for s in (brightness, contrast, saturation)], dim=1)
    shift = _uniform(batch, -hue, hue, generator)
    order = torch.rand((batch, 4), generator=generator, device=generator.device).argsort(dim=1)
    return JitterParams(selected, factors, shift, order)


def _jitter_slot(images: Tensor, op: Tensor, factors: Tensor, active: Tensor) -> Tensor:
    """Apply, per sample, the linear colour op ``op`` (0 brightness, 1 contrast, 2 saturation) where ``active``.

    All three are blends ``f x + (1 - f) t`` with ``t`` black, the mean luma or the luma image,
    so one blend serves the batch; inactive samples blend with ``f = 1``, which is exact.
    """
    luma = _luma(images)
    mean = luma.mean(dim=(1, 2, 3), keepdim=True)
    target = torch.where(_per_sample(op == 0), 0.0, torch.where(_per_sample(op == 1), mean, luma))
    factor = factors.gather(1, op.clamp(max=2).unsqueeze(1)).squeeze(1)
    return _blend(images, target, torch.where(active, factor, 1.0))


def apply_color_jitter(images: Tensor, params: JitterParams) -> Tensor:
    """Apply each selected sample's brightness, contrast, saturation and hue ops in its own order.

    Equal to calling ``adjust_*`` one after another in ``params.order``; the hue, the one
    non-linear op, is computed once for the whole batch: the linear ops before each sample's hue
    slot, then the hue (where its shift is non-zero), then the linear ops after it.
    """
    hue_slot = params.order.argsort(dim=1)[:, 3]
    out = images
    for slot in range(3):
        out = _jitter_slot(out, params.order[:, slot], params.factors, slot < hue_slot)
    out = torch.where(_per_sample(params.shift != 0), adjust_hue(out, params.shift), out)
    for slot in range(1, 4):
        out = _jitter_slot(out, params.order[:, slot], params.factors, slot > hue_slot)
    return torch.where(_per_sample(params.selected), out, images)


def color_jitter(images: Tensor, brightness: float, contrast: float, saturation: float, hue: float,
                 p: float = 1.0, *, generator: torch.Generator) -> Tensor:
    """With probability ``p`` per sample, jitter brightness, contrast, saturation and hue in a random order.

    Parameters as in ``sample_color_jitter``; unselected samples are returned unchanged.
    """
    if p <= 0:
        return images
    params = sample_color_jitter(images.shape[0], brightness, contrast, saturation, hue, p, generator=generator)
    return apply_color_jitter(images, params)


def random_grayscale(images: Tensor, p: float, *, generator: torch.Generator) -> Tensor:
    """Replace each sample by ``to_grayscale`` of it with probability ``p``."""
    if p <= 0:
        return images
    selected = _bernoulli(images.shape[0], p, generator)
    return torch.where(_per_sample(selected), to_grayscale(images), images)


# --- blur and solarize ----------------------------------------------------------------------


def blur_kernel_size(side: int) -> int:
    """The SimCLR blur kernel for an image side: about 10 %, made odd, ``K = 2 floor(floor(side / 10) / 2) + 1``.

    23 for 224 px, 9 for 96 px, 3 for 32 px.
    """
    return int(0.1 * side) // 2 * 2 + 1


def gaussian_blur(images: Tensor, sigma: Tensor, kernel_size: int) -> Tensor:
    """Blur each image with its own Gaussian, per-sample ``sigma`` of shape ``(B,)``.

    Separable kernel ``k_i = exp(-x_i^2 / (2 sigma^2)) / sum_j exp(-x_j^2 / (2 sigma^2))`` with
    ``x_i = i - (K - 1) / 2``, ``K = kernel_size`` (odd), applied as two depthwise convolutions
    over reflect padding of ``K // 2`` (torchvision's ``gaussian_blur``).
    """
    batch, channels, height, width = images.shape
    x = torch.arange(kernel_size, dtype=images.dtype, device=images.device) - (kernel_size - 1) / 2
    kernel = torch.exp(-0.5 * (x / sigma.to(images.dtype).unsqueeze(1)) ** 2)
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(channels, dim=0)
    groups = batch * channels
    pad = kernel_size // 2
    flat = F.pad(images.reshape(1, groups, height, width), (pad, pad, pad, pad), mode="reflect")
    flat = F.conv2d(flat, kernel.view(groups, 1, 1, kernel_size), groups=groups)
    flat = F.conv2d(flat, kernel.view(groups, 1, kernel_size, 1), groups=groups)
    return flat.view(batch, channels, height, width).clamp_(0.0, 1.0)


def random_gaussian_blur(images: Tensor, p: float, sigma_range: tuple[float, float] = (0.1, 2.0), *,
                         generator: torch.Generator, kernel_size: int | None = None) -> Tensor:
    """With probability ``p`` per sample, ``gaussian_blur`` with ``sigma ~ U(sigma_range)``.

    ``kernel_size`` defaults to ``blur_kernel_size`` of the images' shorter side.
    """
    if p <= 0:
        return images
    batch = images.shape[0]
    selected = _bernoulli(batch, p, generator)
    sigma = _uniform(batch, sigma_range[0], sigma_range[1], generator)
    size = kernel_size or blur_kernel_size(min(images.shape[-2:]))
    return torch.where(_per_sample(selected), gaussian_blur(images, sigma, size), images)


def solarize(images: Tensor, threshold: float = 0.5) -> Tensor:
    """``x <- 1 - x`` where ``x >= threshold``."""
    return torch.where(images >= threshold, 1 - images, images)


def random_solarize(images: Tensor, p: float, threshold: float = 0.5, *, generator: torch.Generator) -> Tensor:
    """Replace each sample by ``solarize`` of it with probability ``p``."""
    if p <= 0:
        return images
    selected = _bernoulli(images.shape[0], p, generator)
    return torch.where(_per_sample(selected), solarize(images, threshold), images)
