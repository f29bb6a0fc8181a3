"""Painters of the synthetic images: canvas, outlines, textures, colours and class styles.

Everything here paints into a :class:`_Canvas` (float RGB in [0, 1]) and draws its randomness
from the generator it is given; nothing here decides where objects go (see ``layout``).

Class styles
    Each class has a *style rank* ``r`` (see :func:`_style_ranks`) that fixes its look:

    - colour: hue ``0, .2, .4, .6, .8`` for ``r < 5``, then ``.1, .3, .5, .7, .9``, then
      ``.05, .15, ..., .95`` (:func:`_class_part_style`), so the first five ranks have the most
      distinct colours;
    - stripes of the colour part: normal direction ``(r mod 4) * 45`` degrees, period
      ``3 + (r div 4) mod 3`` pixels;
    - texture (:func:`_class_texture`): family ``r mod 4`` (vertical stripes, horizontal
      stripes, upright checks, diagonal checks) with period ``3 + r div 4`` px (3-7 px), twenty
      different textures in all, each its own mirror image (the recipes flip images
      horizontally, so two classes whose textures were mirror images of each other, like
      stripes at 45 and 135 degrees, would be the same class to a network trained that way);
    - outline (:func:`_class_shape`): entry ``r mod n`` of the dataset's ``n`` body shapes.
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..sample import VOC_CLASSES
from .presets import DEFAULT_ACTIVE_CLASSES

__all__: list[str] = []

_PIXEL_NOISE = 0.015  # std of the final per-pixel image noise, in [0, 1] units
_TEXTURE_CONTRAST = 0.4  # brightness modulation of a body's texture at body_signal = 1


class _Canvas:
    """The float RGB image being painted, its pixel grid and its two shared noise fields."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.size = size
        self.shape = (size, size)
        self.ys = np.arange(size, dtype=np.float32)[:, None]
        self.xs = np.arange(size, dtype=np.float32)[None, :]
        self.rgb = np.zeros((size, size, 3), dtype=np.float32)
        self.coarse_noise = _smooth_noise(rng, size, cell=max(size / 6, 4.0))
        self.fine_noise = _smooth_noise(rng, size, cell=max(size / 24, 2.0))

    def to_uint8(self, rng: np.random.Generator) -> np.ndarray:
        noise = rng.standard_normal(self.rgb.shape, dtype=np.float32) * np.float32(_PIXEL_NOISE)
        return np.round(np.clip(self.rgb + noise, 0, 1) * 255).astype(np.uint8)


@dataclass(frozen=True)
class _Shape:
    """A convex outline (or its bounding box) with its major axis pointing at ``angle``."""

    cy: float
    cx: float
    half_length: float
    half_width: float
    angle: float
    kind: str = "ellipse"

    @classmethod
    def random_placement(
        cls,
        rng: np.random.Generator,
        size: int,
        length: float,
        width: float,
        *,
        inside: bool = True,
        kind: str = "ellipse",
    ) -> _Shape:
        """Random angle and centre; ``inside`` keeps the whole shape within the image."""
        angle = rng.uniform(0, 2 * math.pi)
        a, b = length / 2, width / 2
        if kind == "ellipse":
            extent_x = math.hypot(a * math.cos(angle), b * math.sin(angle))
            extent_y = math.hypot(a * math.sin(angle), b * math.cos(angle))
        else:  # the rotated bounding box of the polygon
            extent_x = abs(a * math.cos(angle)) + abs(b * math.sin(angle))
            extent_y = abs(a * math.sin(angle)) + abs(b * math.cos(angle))
        if inside:
            cx = rng.uniform(extent_x + 1, size - 2 - extent_x)
            cy = rng.uniform(extent_y + 1, size - 2 - extent_y)
        else:
            cx, cy = rng.uniform(0, size - 1, size=2)
        return cls(float(cy), float(cx), a, b, float(angle), kind)

    def window(self, size: int) -> tuple[slice, slice]:
        """Rows and columns of the bounding square of the shape, clipped to the image."""
        r = math.hypot(self.half_length, self.half_width)
        rows = slice(max(0, math.floor(self.cy - r)), min(size, math.ceil(self.cy + r) + 1))
        cols = slice(max(0, math.floor(self.cx - r)), min(size, math.ceil(self.cx + r) + 1))
        return rows, cols

    def local_coords(
        self, canvas: _Canvas, window: tuple[slice, slice]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates along (``u``) and across (``v``) the major axis, inside ``window``."""
        dy = canvas.ys[window[0]] - np.float32(self.cy)
        dx = canvas.xs[:, window[1]] - np.float32(self.cx)
        c, s = np.float32(math.cos(self.angle)), np.float32(math.sin(self.angle))
        return dx * c + dy * s, dy * c - dx * s

    def to_image(self, u: float, v: float) -> tuple[float, float]:
        """``(row, column)`` of the point at local coordinates ``(u, v)``."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        return self.cy + u * s + v * c, self.cx + u * c - v * s

    def level(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Squared gauge ``g(u, v) ** 2``: below 1 inside, 1 on the outline, 0 at the centre.

        With ``a, b`` the half length and half width: ellipse ``(u/a)^2 + (v/b)^2``; rectangle
        ``max(|u|/a, |v|/b)^2``; triangle (apex at ``-u``) ``max(u/a, 2|v|/b - u/a)^2``;
        diamond ``(|u|/a + |v|/b)^2``; hexagon (points on the axis)
        ``max(|v|/b, |u|/a + |v|/(2b))^2``.
        """
        a, b = self.half_length, self.half_width
        if self.kind == "ellipse":
            return (u / a) ** 2 + (v / b) ** 2
        if self.kind == "rectangle":
            gauge = np.maximum(np.abs(u) / a, np.abs(v) / b)
        elif self.kind == "triangle":
            gauge = np.maximum(u / a, 2 * np.abs(v) / b - u / a)
        elif self.kind == "diamond":
            gauge = np.abs(u) / a + np.abs(v) / b
        elif self.kind == "hexagon":
            gauge = np.maximum(np.abs(v) / b, np.abs(u) / a + 0.5 * np.abs(v) / b)
        else:
            raise ValueError(f"shape: unknown body shape {self.kind!r}")
        return gauge**2

    def rasterize(
        self, canvas: _Canvas, *, box: bool = False
    ) -> tuple[tuple[slice, slice], np.ndarray]:
        """Return the window and the boolean mask of the shape (or its box) inside it."""
        window = self.window(canvas.size)
        u, v = self.local_coords(canvas, window)
        if box:
            mask = (np.abs(u) <= self.half_length) & (np.abs(v) <= self.half_width)
        else:
            mask = self.level(u, v) <= 1
        return window, mask


@dataclass(frozen=True)
class _Texture:
    """Boolean stripes (or checks: two crossed sets) of a normal direction and a period."""

    angle: float
    period: float
    checks: bool = False

    def pattern(self, canvas: _Canvas, window: tuple[slice, slice]) -> np.ndarray:
        stripes = _stripes(canvas, window, self.angle, self.period)
        if self.checks:
            stripes = stripes ^ _stripes(canvas, window, self.angle + math.pi / 2, self.period)
        return stripes


def _paint_body(
    canvas: _Canvas,
    shape: _Shape,
    window: tuple[slice, slice],
    mask: np.ndarray,
    colour: np.ndarray,
    *,
    outline: bool,
    texture: _Texture | None = None,
    contrast: float = 0.0,
) -> None:
    """Paint a shaded, textured body; objects (not distractors) get a dark outline.

    A ``texture`` multiplies the brightness by ``1 + contrast`` on its set pixels and
    ``1 - contrast`` elsewhere: half of each, so the body's mean colour does not depend on it.
    """
    u, v = shape.local_coords(canvas, window)
    radius2 = shape.level(u, v)[mask]
    brightness = (0.72 + 0.28 * (1 - radius2)) * (1 + 0.18 * canvas.fine_noise[window][mask])
    if texture is not None:
        sign = np.where(texture.pattern(canvas, window)[mask], 1.0, -1.0).astype(np.float32)
        brightness = brightness * (1 + np.float32(contrast) * sign)
    if outline:
        edge = np.sqrt(radius2) > 1 - 1.5 / shape.half_width
        brightness = np.where(edge, 0.4 * brightness, brightness)
    canvas.rgb[window][mask] = colour * brightness[:, None]


def _paint_part(
    canvas: _Canvas,
    rng: np.random.Generator,
    rank: int,
    window: tuple[slice, slice],
    part: np.ndarray,
    *,
    hue: float | None = None,
) -> None:
    """Paint the discriminative part: bright and dark stripes of a saturated colour.

    With ``hue=None`` (colour evidence) the hue is the class's and the stripes are the class's
    stripes; with a ``hue`` (texture evidence) that hue is used and the pattern is the class's
    texture, so only the pattern names the class. The same draws are taken from ``rng`` either
    way.
    """
    class_hue, orientation, period = _class_part_style(rank)
    jitter = rng.uniform(-0.015, 0.015)
    if hue is None:
        hue, texture = class_hue + jitter, _Texture(orientation, period)
    else:
        texture = _class_texture(rank)
    bright = _hsv(hue, rng.uniform(0.8, 1.0), rng.uniform(0.85, 1.0))
    dark = _hsv(hue, 0.9, rng.uniform(0.35, 0.5))
    stripes = texture.pattern(canvas, window)[part]
    canvas.rgb[window][part] = np.where(stripes[:, None], bright, dark)


def _stripes(
    canvas: _Canvas, window: tuple[slice, slice], angle: float, period: float
) -> np.ndarray:
    """Boolean stripes of the given normal direction and period (pixels) inside ``window``."""
    phase = canvas.xs[:, window[1]] * math.cos(angle) + canvas.ys[window[0]] * math.sin(angle)
    return (phase / np.float32(period)) % 1 < 0.5


def _smooth_noise(rng: np.random.Generator, size: int, cell: float) -> np.ndarray:
    """Zero-mean, about unit-variance noise, bilinearly interpolated from a grid of ``cell`` px."""
    points = math.ceil(size / cell) + 2
    grid = rng.standard_normal((points, points)).astype(np.float32)
    position = np.arange(size, dtype=np.float32) / np.float32(cell)
    lower = np.floor(position).astype(np.int64)
    weight = position - lower
    interpolation = np.zeros((size, points), dtype=np.float32)
    interpolation[np.arange(size), lower] = 1 - weight
    interpolation[np.arange(size), lower + 1] = weight
    return interpolation @ grid @ interpolation.T


def _muted_colour(rng: np.random.Generator) -> np.ndarray:
    """The colour distribution shared by backgrounds, clutter and bodies (never saturated)."""
    return _hsv(rng.random(), rng.uniform(0.05, 0.45), rng.uniform(0.3, 0.85))


def _body_colour(
    rng: np.random.Generator, rank: int, body_signal: float, *, tinted: bool = True
) -> np.ndarray:
    """A shared muted colour, pulled towards the class tint by ``body_signal`` if ``tinted``."""
    if not tinted:
        return _muted_colour(rng)
    tint = _hsv(_class_part_style(rank)[0], 0.5, 0.65)
    return (1 - body_signal) * _muted_colour(rng) + body_signal * tint


def _style_ranks(class_names: Sequence[str]) -> tuple[int, ...]:
    """The style rank of each class: by name for VOC names, by position otherwise.

    When every name is a VOC class, ranks follow VOC's order with :data:`DEFAULT_ACTIVE_CLASSES`
    first, so a class looks the same in every dataset that names it (``"cat"`` is rank 2);
    otherwise class ``c`` has rank ``c``.
    """
    if all(name in VOC_CLASSES for name in class_names):
        order = list(DEFAULT_ACTIVE_CLASSES)
        order += [name for name in VOC_CLASSES if name not in order]
        return tuple(order.index(name) for name in class_names)
    return tuple(range(len(class_names)))


def _class_part_style(rank: int) -> tuple[float, float, float]:
    """Hue, stripe direction (radians) and stripe period (pixels) of a class's colour part."""
    if rank < 5:
        hue = rank / 5
    elif rank < 10:
        hue = (rank - 5) / 5 + 0.1
    else:
        hue = (rank - 10) / 10 + 0.05
    return hue, (rank % 4) * math.pi / 4, 3.0 + (rank // 4) % 3


def _class_texture(rank: int) -> _Texture:
    """The class's texture, unchanged by a horizontal flip (see the module).

    Families ``rank mod 4``: stripes with a horizontal normal (vertical stripes), stripes with
    a vertical normal, checks along the axes, checks along the diagonals; period
    ``3 + rank div 4`` px.
    """
    family, period = rank % 4, 3.0 + rank // 4
    angle = math.pi / 4 if family == 3 else (math.pi / 2 if family == 1 else 0.0)
    return _Texture(angle, period, checks=family >= 2)


def _class_shape(rank: int, shapes: Sequence[str]) -> str:
    """The class's outline among ``shapes``."""
    return shapes[rank % len(shapes)]


def _random_texture(rng: np.random.Generator) -> _Texture:
    """A texture from a distribution shared by all classes (for distractors)."""
    return _Texture(rng.uniform(0, math.pi), rng.uniform(3.0, 6.0), checks=rng.random() < 0.4)


def _hsv(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), dtype=np.float32)
