"""Composition of a synthetic scene: the background, its clutter, the objects and their parts.

The functions read the rendering options of a :class:`~wsss.data.SyntheticVOC` and take three
random streams: ``rng`` (the scene: layout, colours, clutter), ``part_rng`` (which objects keep
their part) and ``variant_rng`` (every draw the original generator did not make: outlines,
textures, random part anchors, the noise background). The original generator's draws are taken
from ``rng`` in the same order whatever the options, so options that change only the look of
things (evidence, background) keep the layout, the classes and the labels.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from .draw import (
    _TEXTURE_CONTRAST,
    _body_colour,
    _Canvas,
    _class_shape,
    _class_texture,
    _muted_colour,
    _paint_body,
    _paint_part,
    _random_texture,
    _Shape,
    _smooth_noise,
    _stripes,
)
from .scene import SyntheticObject

if TYPE_CHECKING:
    from .dataset import SyntheticVOC

__all__: list[str] = []

_MAX_PLACEMENT_TRIES = 30
_BODY_ASPECT = (0.45, 0.8)  # minor / major axis of an object (and of a distractor)
_CLUTTER_PER_LEVEL = 7.0  # mean number of clutter shapes at clutter=1
_DISTRACTOR_SHARE = 0.25  # share of the clutter shapes that look like bodies
_RANDOM_ANCHOR_LEVEL = 0.36  # a random part anchor lies within 0.6 of the body's gauge


def _draw_background(
    data: SyntheticVOC,
    canvas: _Canvas,
    rng: np.random.Generator,
    variant_rng: np.random.Generator,
) -> list[np.ndarray]:
    """Paint the base layer and the clutter; return the full masks of the distractors."""
    size = canvas.size
    direction = rng.uniform(0, 2 * math.pi)
    start, end = _muted_colour(rng), _muted_colour(rng)
    if data.background == "gradient":
        ramp = (canvas.xs * math.cos(direction) + canvas.ys * math.sin(direction)) / size
        ramp = ramp - ramp.min()
        canvas.rgb[:] = start + (end - start) * (ramp / max(float(ramp.max()), 1e-6))[..., None]
        canvas.rgb *= (1 + 0.12 * canvas.coarse_noise)[..., None]
    elif data.background == "noise":
        fine = _smooth_noise(variant_rng, size, cell=max(size / 48, 1.5))
        mix = np.clip(0.5 + 0.3 * canvas.coarse_noise + 0.3 * fine, 0, 1)
        canvas.rgb[:] = start + (end - start) * mix[..., None]
        canvas.rgb *= (1 + 0.2 * fine)[..., None]
    else:  # plain
        canvas.rgb[:] = start

    distractors: list[np.ndarray] = []
    for _ in range(int(rng.poisson(_CLUTTER_PER_LEVEL * data.clutter))):
        kind = rng.random()
        if kind < _DISTRACTOR_SHARE:  # a body-like blob: same colours and shading as bodies
            length = rng.uniform(*data.object_scale) * size
            width = length * rng.uniform(*_BODY_ASPECT)
            outline = _any_shape(data, variant_rng)
            shape = _Shape.random_placement(rng, size, length, width, kind=outline)
            window, mask = shape.rasterize(canvas)
            texture = _random_texture(variant_rng) if data.body_evidence == "texture" else None
            _paint_body(canvas, shape, window, mask, _muted_colour(rng), outline=False,
                        texture=texture, contrast=_TEXTURE_CONTRAST * data.body_signal)
            full = np.zeros(canvas.shape, dtype=bool)
            full[window] = mask
            for earlier in distractors:
                earlier &= ~full
            distractors.append(full)
            continue
        length = rng.uniform(0.1, 0.45) * size
        width = length * rng.uniform(0.25, 1.0)
        shape = _Shape.random_placement(rng, size, length, width, inside=False)
        window, mask = shape.rasterize(canvas, box=rng.random() < 0.4)
        if kind < 0.65:  # flat muted shape
            colour = _muted_colour(rng) * (1 + 0.1 * canvas.fine_noise[window][mask])[:, None]
        else:  # muted stripes
            period = rng.uniform(3.0, 8.0)
            stripes = _stripes(canvas, window, rng.uniform(0, math.pi), period)[mask]
            colour = np.where(stripes[:, None], _muted_colour(rng), _muted_colour(rng))
        canvas.rgb[window][mask] = colour
        for earlier in distractors:
            earlier[window] &= ~mask
    return distractors


def _any_shape(data: SyntheticVOC, rng: np.random.Generator) -> str:
    """An outline drawn uniformly from the dataset's body shapes (no draw if there is one)."""
    shapes = data.body_shapes
    return shapes[0] if len(shapes) == 1 else shapes[int(rng.integers(len(shapes)))]


def _object_shape(data: SyntheticVOC, rng: np.random.Generator, rank: int) -> str:
    """An object's outline: its class's with probability ``body_signal`` under shape evidence."""
    if data.body_evidence == "shape" and rng.random() < data.body_signal:
        return _class_shape(rank, data.body_shapes)
    return _any_shape(data, rng)


def _part_distance(data: SyntheticVOC, du: np.ndarray, dv: np.ndarray) -> np.ndarray:
    """How far each body pixel is from the part's anchor, in the metric of ``part_shape``."""
    if data.part_shape == "round":
        return du**2 + dv**2
    if data.part_shape == "square":
        return np.maximum(np.abs(du), np.abs(dv))
    return np.abs(du)  # band


def _part_anchor(
    data: SyntheticVOC,
    rng: np.random.Generator,
    shape: _Shape,
    u: np.ndarray,
    v: np.ndarray,
    level: np.ndarray,
) -> tuple[float, float]:
    """Local ``(u, v)`` of the point the part is grown around (``u``, ``v``: body pixels)."""
    if data.part_placement == "end":
        return shape.half_length, 0.0
    if data.part_placement == "centre":
        return 0.0, 0.0
    inner = np.flatnonzero(level <= _RANDOM_ANCHOR_LEVEL)
    if inner.size == 0:
        return 0.0, 0.0
    pick = int(inner[rng.integers(inner.size)])
    return float(u[pick]), float(v[pick])


def _draw_objects(
    data: SyntheticVOC,
    canvas: _Canvas,
    rng: np.random.Generator,
    part_rng: np.random.Generator,
    variant_rng: np.random.Generator,
) -> tuple[list[SyntheticObject], list[np.ndarray], list[np.ndarray]]:
    """Place and paint the objects; return them with their full and part masks.

    ``part_rng`` only decides which objects keep their part, so that ``part_prob`` never
    moves an object or changes a colour (the part's colours are drawn either way).
    """
    size = canvas.size
    low, high = data.objects_per_image
    count = int(rng.integers(low, high + 1))
    objects: list[SyntheticObject] = []
    masks: list[np.ndarray] = []
    parts: list[np.ndarray] = []  # the painted parts
    reserved: list[np.ndarray] = []  # where each part would be: no later object covers it
    for _ in range(count):
        class_index = int(rng.choice(data.active_classes))
        rank = data.style_ranks[class_index]
        fraction = rng.uniform(*data.part_fraction)
        outline = _object_shape(data, variant_rng, rank)
        for _attempt in range(_MAX_PLACEMENT_TRIES):
            length = rng.uniform(*data.object_scale) * size
            width = length * rng.uniform(*_BODY_ASPECT)
            shape = _Shape.random_placement(rng, size, length, width, kind=outline)
            window, local = shape.rasterize(canvas)
            full = np.zeros(canvas.shape, dtype=bool)
            full[window] = local
            if _fits(full, masks, reserved, data.max_overlap):
                break
        else:
            continue  # no room for this object: leave it out
        area = int(local.sum())
        part_area = max(1, round(area * fraction))
        u, v = shape.local_coords(canvas, window)
        anchor = _part_anchor(data, variant_rng, shape, u[local], v[local],
                              shape.level(u, v)[local])
        distance = _part_distance(data, u[local] - anchor[0], v[local] - anchor[1])
        nearest = np.argpartition(distance, part_area - 1)[:part_area]
        local_part = np.zeros(int(local.sum()), dtype=bool)
        local_part[nearest] = True
        part_local = np.zeros_like(local)
        part_local[local] = local_part
        part = np.zeros(canvas.shape, dtype=bool)
        part[window] = part_local
        reserved.append(part)
        if part_rng.random() >= data.part_prob:  # drawn without its part: all body
            part_local = np.zeros_like(local)
            part = np.zeros(canvas.shape, dtype=bool)
            part_area = 0

        body = _body_colour(rng, rank, data.body_signal, tinted=data.body_evidence == "colour")
        texture = _class_texture(rank) if data.body_evidence == "texture" else None
        _paint_body(canvas, shape, window, local, body, outline=True, texture=texture,
                    contrast=_TEXTURE_CONTRAST * data.body_signal)
        hue = float(variant_rng.random()) if data.part_evidence == "texture" else None
        _paint_part(canvas, rng, rank, window, part_local, hue=hue)
        objects.append(
            SyntheticObject(
                class_index=class_index,
                center=(shape.cy, shape.cx),
                length=2 * shape.half_length,
                width=2 * shape.half_width,
                angle=shape.angle,
                area=area,
                part_area=part_area,
                shape=outline,
                part_anchor=shape.to_image(*anchor),
            )
        )
        masks.append(full)
        parts.append(part)
    return objects, masks, parts


def _fits(
    new: np.ndarray, masks: list[np.ndarray], parts: list[np.ndarray], max_overlap: float
) -> bool:
    """A new object may not touch an earlier part nor cover much of an earlier object."""
    for mask, part in zip(masks, parts):
        if (new & part).any():
            return False
        if (new & mask).sum() > max_overlap * mask.sum():
            return False
    return True
