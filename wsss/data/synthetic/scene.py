"""Records of one synthetic image: :class:`SyntheticObject` and :class:`SyntheticScene`.

A :class:`SyntheticScene` is what :meth:`SyntheticVOC.scene <wsss.data.SyntheticVOC.scene>`
returns: the :class:`~wsss.data.sample.Sample` a training loop sees plus the layers it was drawn
from (instances, discriminative parts, foreground, distractors), which is the scene interface of
:mod:`wsss.diagnostics.scenes`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..sample import Sample

__all__ = ["SyntheticObject", "SyntheticScene"]


@dataclass(frozen=True)
class SyntheticObject:
    """Geometry of one object of a :class:`SyntheticScene`.

    Attributes
    ----------
    class_index
        Class channel ``c`` in ``[0, num_classes)`` of the dataset; its pixels are labelled
        ``c + 1``.
    center
        ``(row, column)`` of the body's centre (the centre of its bounding box along its axes),
        in pixels.
    length, width
        Extent of the body along and across its major axis (full diameters), in pixels.
    angle
        Direction of the major axis, in radians (``0`` points right, ``pi / 2`` points down).
        It points at the discriminative part when the part sits at the end of the axis
        (``part_placement="end"``, the default).
    area
        Number of pixels of the whole (unoccluded) object.
    part_area
        Number of pixels of its discriminative part, ``round(area * requested fraction)``; 0
        for an object drawn without its part (``SyntheticVOC(part_prob < 1)``).
    shape
        The body's outline: ``"ellipse"`` (the default), ``"rectangle"``, ``"triangle"``,
        ``"diamond"`` or ``"hexagon"``.
    part_anchor
        ``(row, column)`` of the point the part is grown around: the end of the major axis,
        the centre, or a random point inside the body (``part_placement``); set even when the
        part is not drawn.

    Examples
    --------
    >>> from wsss.data import VOC_CLASSES
    >>> from wsss.data.synthetic import DEFAULT_ACTIVE_CLASSES, SyntheticVOC
    >>> obj = SyntheticVOC(1, image_size=64, seed=0).scene(0).objects[0]
    >>> VOC_CLASSES[obj.class_index] in DEFAULT_ACTIVE_CLASSES, obj.shape
    (True, 'ellipse')
    >>> obj.width <= obj.length, 0 < obj.part_area < obj.area
    (True, True)
    """

    class_index: int
    center: tuple[float, float]
    length: float
    width: float
    angle: float
    area: int
    part_area: int
    shape: str
    part_anchor: tuple[float, float]


@dataclass(frozen=True)
class SyntheticScene:
    """One generated image with every layer it was made from.

    Attributes
    ----------
    sample
        What a training loop sees: the :class:`~wsss.data.sample.Sample`.
    instances
        ``uint8`` of shape ``(H, W)``: ``k + 1`` where ``objects[k]`` is visible, 0 elsewhere
        (before boundary marking).
    parts
        ``uint8`` of shape ``(H, W)``: ``k + 1`` on the discriminative part of ``objects[k]``.
        Parts are never occluded.
    foreground
        ``bool`` of shape ``(H, W)``: the union of the objects (what perfect saliency shows).
    distractors
        ``bool`` of shape ``(H, W)``: visible pixels of body-like background distractors.
    objects
        The objects in drawing order (later ones may overlap earlier ones, never their parts).

    Examples
    --------
    >>> from wsss.data.synthetic import SyntheticVOC
    >>> scene = SyntheticVOC(1, image_size=64, seed=0).scene(0)
    >>> scene.instances.shape, scene.parts.dtype, scene.foreground.dtype
    ((64, 64), dtype('uint8'), dtype('bool'))
    >>> int(scene.instances.max()) == len(scene.objects)
    True
    >>> bool((scene.foreground == (scene.instances > 0)).all())
    True
    """

    sample: Sample
    instances: np.ndarray
    parts: np.ndarray
    foreground: np.ndarray
    distractors: np.ndarray
    objects: tuple[SyntheticObject, ...]
