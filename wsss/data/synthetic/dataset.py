"""The synthetic dataset itself: :class:`SyntheticVOC` and :func:`synthetic_dataset`.

The design (what carries class identity, why a plain CAM fails, how saliency is corrupted,
determinism) is described in :mod:`wsss.data.synthetic`; the variants in
:mod:`wsss.data.synthetic.presets`.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any, overload

import numpy as np
from scipy import ndimage

from ..._validation import check_real
from ..sample import Sample
from ._checks import (
    _check_choice,
    _check_classes,
    _check_int,
    _check_names,
    _check_range,
    _check_unit,
)
from .draw import _Canvas, _style_ranks
from .layout import _draw_background, _draw_objects
from .presets import (
    BACKGROUNDS,
    BODY_EVIDENCE,
    BODY_SHAPES,
    PART_EVIDENCE,
    PART_PLACEMENTS,
    PART_SHAPES,
    SYNTHETIC_PRESETS,
)
from .saliency import SaliencyQuality, _corrupt_saliency
from .scene import SyntheticScene

__all__ = ["SyntheticVOC", "synthetic_dataset"]

_SPLIT_IDS = {"train": 0, "val": 1}
_MAX_CLASSES = 20  # distinct class styles (colours, stripes, textures)
_MAX_IMAGES = 2**20  # largest number of images (their names are listed)
_MAX_IMAGE_SIZE = 4096  # largest image side, in pixels (a 4096 px image renders in seconds)
_MAX_CLUTTER = 100.0  # largest clutter level (700 background shapes on average)
_MAX_OBJECTS = 32  # most objects per image (each gets up to 30 placement tries)


class SyntheticVOC(Sequence[Sample]):
    """Seeded procedural dataset in the VOC conventions (see the module docstring for the design).

    Every rendering option left at ``None`` takes the value of the named ``preset``
    (:data:`SYNTHETIC_PRESETS`); the defaults quoted below are the ``"default"`` preset's, the
    original generator.

    Parameters
    ----------
    num_images
        Number of samples (``len(dataset)``), at most ``2**20``.
    preset
        Name of a :data:`SYNTHETIC_PRESETS` entry whose options fill in those left at ``None``.
        Default ``"default"``.
    image_size
        Side of the square images, in pixels, in ``[32, 4096]``. Default 128.
    seed
        Non-negative integer; with ``split`` and the index it fixes every sample.
    split
        ``"train"`` or ``"val"``: two disjoint streams of images.
    saliency
        Quality of the saliency map, or ``None`` for samples without one.
    class_names
        The class channels: ``Sample.classes`` has ``len(class_names)`` entries and label
        ``c + 1`` is ``class_names[c]``. At most 20 distinct names. Default VOC's 20 classes.
        With only VOC names a class looks the same whatever its channel (``"cat"`` keeps its
        colour); with other names class ``c`` takes the ``c``-th style.
    active_classes
        The classes that may appear, as names or indices into ``class_names``; the other
        channels of ``Sample.classes`` are always 0. Default :data:`DEFAULT_ACTIVE_CLASSES`, or
        every class when ``class_names`` is given without ``active_classes``.
    objects_per_image
        Inclusive range ``(min, max)`` of objects per image, default ``(1, 3)``, ``max`` at most
        32; each object's class is drawn uniformly from ``active_classes``. An object that finds
        no free place in ``30`` tries is left out, so rare crowded images may hold fewer than
        ``min`` (never 0).
    object_scale
        Range of an object's length (major axis) as a fraction of ``image_size``, default
        ``(0.2, 0.5)``. Widths are 0.45-0.8 of the length.
    part_fraction
        Range of the discriminative part's share of its object's area, default ``(0.07, 0.13)``.
    part_prob
        Probability that an object carries its discriminative part, in [0, 1]. Default 1. An
        object without it is all body (its pixels keep their labels). Lower values make a
        pretraining set that, like ImageNet, shows objects whose telltale part is hidden, so a
        backbone trained on it must also learn the bodies (the synthetic recipe pretrains with
        0.5). Whether an object has its part is drawn from a stream of its own
        (``default_rng([seed, split_id, index, 2])``), so the images differ only in the parts.
    body_signal
        Strength of the body's class evidence, in [0, 1]; 0 makes the body carry none.
        Default 0.5 (weaker, noisier evidence than the part's). Its meaning follows
        ``body_evidence``: the weight of the class tint in the body colour (``"colour"``, a
        convex mix in RGB), the brightness modulation ``0.4 * body_signal`` of the class texture
        (``"texture"``), or the probability that the body takes its class's outline rather than
        one drawn uniformly from ``body_shapes`` (``"shape"``).
    clutter
        Clutter level in ``[0, 100]``: the mean number of background shapes is
        ``7 * clutter``, a quarter of them body-like distractors. Default 1.0; 0 leaves the bare
        base layer.
    max_overlap
        Largest fraction of an object that a later object may cover, in [0, 1), default 0.2.
    boundary_width
        Objects' outlines are labelled 255 on a band of pixels within this Chebyshev distance of a
        label change (VOC style); 0 for none, at most ``image_size``. Default 1 (a 2-pixel band).
    body_evidence
        What carries the body's class evidence, one of :data:`BODY_EVIDENCE`: ``"colour"``
        (default), ``"texture"`` (the class's stripes or checks, half bright and half dark, so
        the body's mean colour says nothing of the class; distractors get a random texture) or
        ``"shape"`` (the outline; needs at least two ``body_shapes``). Only colour evidence
        tints the body.
    part_evidence
        What makes the part name its class, one of :data:`PART_EVIDENCE`: ``"colour"``
        (default: saturated class colour with class stripes) or ``"texture"`` (the class's
        texture in a saturated colour of random hue).
    body_shapes
        The outlines bodies and distractors take, from :data:`BODY_SHAPES`; default
        ``("ellipse",)``. Unless ``body_evidence="shape"``, each body's outline is drawn
        uniformly from them, whatever its class.
    part_placement
        Where the part is grown, one of :data:`PART_PLACEMENTS`: around the end of the major
        axis (``"end"``, default), the body's centre (``"centre"``) or a random point of the
        body's inner 60 % (``"random"``).
    part_shape
        The part's shape, one of :data:`PART_SHAPES`: the body pixels nearest its anchor in
        Euclidean distance (``"round"``, default), in Chebyshev distance along the body's axes
        (``"square"``) or along the major axis (``"band"``).
    background
        The base layer under the clutter, one of :data:`BACKGROUNDS`: a two-colour gradient
        with coarse shading (``"gradient"``, default), fine coloured noise (``"noise"``) or one
        flat colour (``"plain"``).

    Attributes
    ----------
    class_names, num_classes
        The class channels and their number.
    active_classes
        Indices into ``class_names`` of the classes that appear, sorted.
    style_ranks
        The style rank of each class channel (see :mod:`wsss.data.synthetic.draw`).

    Examples
    --------
    >>> import numpy as np
    >>> data = SyntheticVOC(4, image_size=64, seed=0)
    >>> sample = data[0]
    >>> sample.image.shape, sample.image.dtype, sample.classes.shape
    ((64, 64, 3), dtype('uint8'), (20,))
    >>> data.names[1]
    'synthetic_train_000001'
    >>> bool(np.array_equal(data[2].image, SyntheticVOC(4, image_size=64)[2].image))
    True
    >>> data.num_classes, data.class_names[14]
    (20, 'person')
    >>> few = SyntheticVOC(2, image_size=64, preset="few_classes", part_placement="centre")
    >>> few.num_classes, few.describe()["part_placement"], few.describe()["preset"]
    (3, 'centre', 'few_classes')
    """

    def __init__(
        self,
        num_images: int,
        *,
        preset: str = "default",
        image_size: int = 128,
        seed: int = 0,
        split: str = "train",
        saliency: SaliencyQuality | None = SaliencyQuality(),  # noqa: B008 (frozen)
        class_names: Sequence[str] | None = None,
        active_classes: Sequence[int | str] | None = None,
        objects_per_image: tuple[int, int] | None = None,
        object_scale: tuple[float, float] | None = None,
        part_fraction: tuple[float, float] | None = None,
        part_prob: float | None = None,
        body_signal: float | None = None,
        clutter: float | None = None,
        max_overlap: float | None = None,
        boundary_width: int | None = None,
        body_evidence: str | None = None,
        part_evidence: str | None = None,
        body_shapes: Sequence[str] | None = None,
        part_placement: str | None = None,
        part_shape: str | None = None,
        background: str | None = None,
    ) -> None:
        self.num_images = _check_int("num_images", num_images, minimum=0, maximum=_MAX_IMAGES)
        self.preset = _check_choice("preset", preset, tuple(SYNTHETIC_PRESETS))
        self.image_size = _check_int("image_size", image_size, minimum=32,
                                     maximum=_MAX_IMAGE_SIZE)
        self.seed = _check_int("seed", seed, minimum=0)
        self.split = _check_choice("split", split, tuple(_SPLIT_IDS))
        if saliency is not None and not isinstance(saliency, SaliencyQuality):
            raise TypeError(
                f"saliency: expected a SaliencyQuality or None, got {type(saliency).__name__}"
            )
        self.saliency = saliency
        given = {
            "class_names": class_names, "active_classes": active_classes,
            "objects_per_image": objects_per_image, "object_scale": object_scale,
            "part_fraction": part_fraction, "part_prob": part_prob, "body_signal": body_signal,
            "clutter": clutter, "max_overlap": max_overlap, "boundary_width": boundary_width,
            "body_evidence": body_evidence, "part_evidence": part_evidence,
            "body_shapes": body_shapes, "part_placement": part_placement,
            "part_shape": part_shape, "background": background,
        }  # fmt: skip
        options = SYNTHETIC_PRESETS[self.preset].options()
        if class_names is not None and active_classes is None:
            given["active_classes"] = class_names  # every class of the given channels
        options.update({name: value for name, value in given.items() if value is not None})
        self._set_options(**options)

    def _set_options(
        self,
        *,
        class_names: object,
        active_classes: object,
        objects_per_image: object,
        object_scale: object,
        part_fraction: object,
        part_prob: object,
        body_signal: object,
        clutter: object,
        max_overlap: object,
        boundary_width: object,
        body_evidence: object,
        part_evidence: object,
        body_shapes: object,
        part_placement: object,
        part_shape: object,
        background: object,
    ) -> None:
        """Check and store the rendering options (``ValueError``/``TypeError`` naming one)."""
        self.class_names = _check_names("class_names", class_names, maximum=_MAX_CLASSES)
        self.num_classes = len(self.class_names)
        self.style_ranks = _style_ranks(self.class_names)
        self.active_classes = _check_classes(active_classes, self.class_names)
        low, high = _check_range("objects_per_image", objects_per_image, integer=True)
        if low < 1:
            raise ValueError(f"objects_per_image: needs at least 1 object, got {objects_per_image}")
        if high > _MAX_OBJECTS:
            raise ValueError(f"objects_per_image: at most {_MAX_OBJECTS} objects per image, got "
                             f"{objects_per_image}")
        self.objects_per_image = (int(low), int(high))
        low, high = _check_range("object_scale", object_scale)
        if not (0 < low and high <= 0.9):
            raise ValueError(f"object_scale: must lie in (0, 0.9], got {object_scale}")
        if low * self.image_size < 8:
            raise ValueError(
                f"object_scale: the smallest object would be {low * self.image_size:.1f} px long "
                f"at image_size={self.image_size}; need at least 8 px"
            )
        self.object_scale = (low, high)
        low, high = _check_range("part_fraction", part_fraction)
        if not (0 < low and high <= 0.5):
            raise ValueError(f"part_fraction: must lie in (0, 0.5], got {part_fraction}")
        self.part_fraction = (low, high)
        self.part_prob = _check_unit("part_prob", part_prob)
        self.body_signal = _check_unit("body_signal", body_signal)
        self.clutter = check_real("clutter", clutter, minimum=0.0, maximum=_MAX_CLUTTER)
        self.max_overlap = _check_unit("max_overlap", max_overlap, closed=False)
        self.boundary_width = _check_int("boundary_width", boundary_width, minimum=0,
                                         maximum=self.image_size)
        self.body_evidence = _check_choice("body_evidence", body_evidence, BODY_EVIDENCE)
        self.part_evidence = _check_choice("part_evidence", part_evidence, PART_EVIDENCE)
        self.body_shapes = _check_names("body_shapes", body_shapes, choices=BODY_SHAPES)
        if self.body_evidence == "shape" and len(self.body_shapes) < 2:
            raise ValueError(
                f"body_shapes: body_evidence='shape' needs at least two outlines, got "
                f"{self.body_shapes}"
            )
        self.part_placement = _check_choice("part_placement", part_placement, PART_PLACEMENTS)
        self.part_shape = _check_choice("part_shape", part_shape, PART_SHAPES)
        self.background = _check_choice("background", background, BACKGROUNDS)

    # -- Sequence protocol

    def __len__(self) -> int:
        return self.num_images

    @overload
    def __getitem__(self, index: int) -> Sample: ...

    @overload
    def __getitem__(self, index: slice) -> list[Sample]: ...

    def __getitem__(self, index: int | slice) -> Sample | list[Sample]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        return self.scene(index).sample

    @property
    def names(self) -> tuple[str, ...]:
        """Sample names, ``synthetic_<split>_<index:06d>``, in index order."""
        return tuple(self._name(i) for i in range(self.num_images))

    def describe(self) -> dict[str, object]:
        """The preset and every constructor argument (see :func:`wsss.data.describe_dataset`).

        ``SyntheticVOC(**describe())`` (with ``saliency`` rebuilt as a
        :class:`SaliencyQuality`) draws the same images.

        Examples
        --------
        >>> SyntheticVOC(2, image_size=40).describe()["active_classes"]
        ('aeroplane', 'car', 'cat', 'dog', 'person')
        >>> record = SyntheticVOC(2, image_size=40, preset="texture").describe()
        >>> record["preset"], record["body_evidence"], record["part_placement"]
        ('texture', 'texture', 'end')
        """
        return {
            "num_images": self.num_images,
            "preset": self.preset,
            "image_size": self.image_size,
            "seed": self.seed,
            "split": self.split,
            "saliency": self.saliency,
            "class_names": self.class_names,
            "active_classes": tuple(self.class_names[c] for c in self.active_classes),
            "objects_per_image": self.objects_per_image,
            "object_scale": self.object_scale,
            "part_fraction": self.part_fraction,
            "part_prob": self.part_prob,
            "body_signal": self.body_signal,
            "clutter": self.clutter,
            "max_overlap": self.max_overlap,
            "boundary_width": self.boundary_width,
            "body_evidence": self.body_evidence,
            "part_evidence": self.part_evidence,
            "body_shapes": self.body_shapes,
            "part_placement": self.part_placement,
            "part_shape": self.part_shape,
            "background": self.background,
        }

    def __repr__(self) -> str:
        names = ", ".join(self.class_names[c] for c in self.active_classes)
        return (
            f"SyntheticVOC({self.num_images}, preset={self.preset!r}, "
            f"image_size={self.image_size}, seed={self.seed}, split={self.split!r}, "
            f"active_classes=({names}))"
        )

    # -- generation

    def scene(self, index: int) -> SyntheticScene:
        """Generate sample ``index`` with all its layers (objects, parts, foreground).

        Parameters
        ----------
        index
            Integer in ``[-len, len)`` (negative values count from the end).

        Returns
        -------
        SyntheticScene
            ``scene.sample`` is exactly ``dataset[index]``.

        Examples
        --------
        >>> scene = SyntheticVOC(2, image_size=64).scene(1)
        >>> bool(((scene.parts > 0) <= (scene.instances > 0)).all())
        True
        """
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"index: expected an int, got {type(index).__name__}")
        index = int(index)
        if not -self.num_images <= index < self.num_images:
            raise IndexError(f"index: {index} is out of range for {self.num_images} images")
        index %= max(self.num_images, 1)
        split_id = _SPLIT_IDS[self.split]
        scene_rng = np.random.default_rng([self.seed, split_id, index, 0])
        variant_rng = np.random.default_rng([self.seed, split_id, index, 3])
        canvas = _Canvas(self.image_size, scene_rng)
        distractor_masks = _draw_background(self, canvas, scene_rng, variant_rng)
        part_rng = np.random.default_rng([self.seed, split_id, index, 2])
        objects, object_masks, part_masks = _draw_objects(
            self, canvas, scene_rng, part_rng, variant_rng
        )

        instances = np.zeros(canvas.shape, dtype=np.uint8)
        parts = np.zeros(canvas.shape, dtype=np.uint8)
        for k, (mask, part) in enumerate(zip(object_masks, part_masks)):
            instances[mask] = k + 1  # drawing order: later objects cover earlier ones
            parts[part] = k + 1
        foreground = instances > 0
        distractors = np.zeros(canvas.shape, dtype=bool)
        for mask in distractor_masks:
            distractors |= mask
        distractors &= ~foreground

        label = np.zeros(canvas.shape, dtype=np.uint8)
        class_of_instance = np.array([0] + [o.class_index + 1 for o in objects], dtype=np.uint8)
        label[:] = class_of_instance[instances]
        if self.boundary_width:
            size = 2 * self.boundary_width + 1
            changes = ndimage.maximum_filter(instances, size) != ndimage.minimum_filter(
                instances, size
            )
            label[changes] = 255
        classes = np.zeros(self.num_classes, dtype=np.float32)
        classes[[o.class_index for o in objects]] = 1.0

        saliency = None
        if self.saliency is not None:
            saliency_rng = np.random.default_rng([self.seed, split_id, index, 1])
            visible = [instances == k + 1 for k in range(len(objects))]
            visible_distractors = [mask & ~foreground for mask in distractor_masks]
            saliency = _corrupt_saliency(
                saliency_rng, foreground, visible, visible_distractors, self.saliency
            )
        sample = Sample(
            name=self._name(index),
            image=canvas.to_uint8(scene_rng),
            classes=classes,
            label=label,
            saliency=saliency,
        )
        return SyntheticScene(
            sample=sample,
            instances=instances,
            parts=parts,
            foreground=foreground,
            distractors=distractors,
            objects=tuple(objects),
        )

    def _name(self, index: int) -> str:
        return f"synthetic_{self.split}_{index:06d}"


def synthetic_dataset(
    preset: str,
    num_images: int,
    *,
    image_size: int = 128,
    seed: int = 0,
    split: str = "train",
    **overrides: Any,
) -> SyntheticVOC:
    """The synthetic dataset of a named preset, with any option overridden.

    Same as ``SyntheticVOC(num_images, preset=preset, image_size=..., seed=..., split=...,
    **overrides)``.

    Parameters
    ----------
    preset
        A name of :data:`SYNTHETIC_PRESETS` (``"default"``, ``"texture"``, ``"hard"``, ...).
    num_images, image_size, seed, split
        As for :class:`SyntheticVOC`.
    **overrides
        Any other :class:`SyntheticVOC` keyword argument (``saliency``, ``part_prob``,
        ``body_signal``, ...); it replaces the preset's value.

    Returns
    -------
    SyntheticVOC
        Its ``describe()`` names the preset and every option.

    Examples
    --------
    >>> data = synthetic_dataset("hard", 3, image_size=64, seed=1, body_signal=0.8)
    >>> data.body_evidence, data.background, data.body_signal, len(data)
    ('texture', 'noise', 0.8, 3)
    >>> synthetic_dataset("fancy", 1)
    Traceback (most recent call last):
    ...
    ValueError: preset: expected one of ('default', 'texture', ...), got 'fancy'
    """
    return SyntheticVOC(
        num_images, preset=preset, image_size=image_size, seed=seed, split=split, **overrides
    )
