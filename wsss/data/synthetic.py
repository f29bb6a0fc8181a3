"""A procedural, VOC-like dataset that reproduces the failure SeeNet exists to fix.

:class:`SyntheticVOC` draws small images in the PASCAL VOC conventions (20 class channels,
labels ``0`` background / ``c + 1`` class ``c`` / ``255`` boundary) with their image-level labels,
ground-truth masks and an imperfect saliency map, so that the whole weakly supervised pipeline
(classifier -> attention maps -> saliency fusion -> segmentation network) runs on a laptop CPU in
minutes, with nothing to download.

What carries class identity
    Every object is a shaded ellipse with a dark outline (its *body*) and, at one end of its long
    axis, a small *discriminative part*: the object pixels nearest to that end, a fraction
    ``part_fraction`` (default 7-13 %) of the object's area, painted in a saturated
    class-specific colour with class-specific stripes (orientation and period). No other
    structure in any image uses saturated colours, so the part alone names the class almost
    perfectly. The body's colour is drawn from a muted distribution shared by all classes and
    pulled towards a class tint by ``body_signal`` (default 0.5, a convex mix in RGB): it says
    *that* there is an object and, more weakly and more noisily than the part, *which* one. At
    the default, a linear classifier of an object's mean body colour names its class for about
    90 % of the objects but a single body pixel's colour for only about 75 % (the part: 100 %
    either way); at 0.3 (58 % per object) the body says little more than *that* there is an
    object, which leaves an erasing branch nothing class-specific to find once the part is gone.

Why a plain CAM fails on it
    A classifier trained with image labels minimises its loss fastest with the part, so its
    class activation map peaks there and, after normalisation by its maximum, covers only the
    part of a large object (the "dog's head" of :ref:`How SeeNet works <seenet-problem>`). A
    network that must classify with the part erased (SeeNet's branch S_B, adversarial erasing)
    can still find the weaker class evidence spread over the body, so its attention grows over
    the object. The
    background cannot help: the clutter (flat and striped shapes, colour gradients, and
    *distractors* with the body's colours, shading and texture but no outline and no part) is
    drawn from one distribution for every class, so attention that leaks into it is wrong.
    How far the CAM stays on the part also depends on the network: a feature cell whose
    receptive field holds the part can fire on it wherever the cell lies, on the body or on
    the background beside it (:func:`wsss.diagnostics.part_reach` measures how far). With
    the classifiers on ``conv4_3`` (receptive field 92 px; objects are 25-64 px at 128 px)
    the part reaches the whole object and the CAM covers the bodies (mean attention 0.61
    against 0.80 on the parts), so there is nothing for erasing to find; on ``conv3_3`` and
    ``pool3`` (44 px, the default pipeline's ``vgg16_tiny3``) the CAM stays nearer the part
    (0.54 on bodies, 0.82 on parts, 0.40 on the background next to the objects) and SeeNet's
    ``max(S_A, S_B)`` raises the bodies to 0.67.

How the saliency map is corrupted
    The saliency map stands in for a salient-object detector such as DSS: class-agnostic,
    ``float32`` in [0, 1]. It starts as the exact foreground (the union of the objects) and is
    corrupted as :class:`SaliencyQuality` says: with probability ``miss_prob`` an object loses a
    chunk (its ``miss_fraction`` of pixels furthest along a random direction), each distractor
    becomes a salient blob of value ``false_positive_strength`` with probability
    ``false_positive_prob``, the map is blurred (``blur_sigma``, soft boundaries) and Gaussian
    noise of standard deviation ``noise_std`` is added before clipping to [0, 1].

Determinism
    Sample ``i`` is a pure function of ``(seed, split, i)`` and the dataset's arguments: the scene
    is drawn from ``numpy.random.default_rng([seed, split_id, i, 0])`` and the saliency corruption
    from ``default_rng([seed, split_id, i, 1])``, so any sample can be made alone, in any order,
    by any worker; ``"train"`` and ``"val"`` never share an image; and changing the saliency
    quality never changes the image.
"""

from __future__ import annotations

import colorsys
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np
from scipy import ndimage

from .sample import NUM_CLASSES, VOC_CLASSES, Sample

__all__ = [
    "DEFAULT_ACTIVE_CLASSES",
    "SaliencyQuality",
    "SyntheticObject",
    "SyntheticScene",
    "SyntheticVOC",
    "render_preview",
]

#: The classes that appear by default (5 of the 20 VOC channels, so a tiny CPU model learns them).
DEFAULT_ACTIVE_CLASSES: tuple[str, ...] = ("aeroplane", "car", "cat", "dog", "person")

_SPLIT_IDS = {"train": 0, "val": 1}
_MAX_PLACEMENT_TRIES = 30
_BODY_ASPECT = (0.45, 0.8)  # minor / major axis of an object (and of a distractor)
_CLUTTER_PER_LEVEL = 7.0  # mean number of clutter shapes at clutter=1
_DISTRACTOR_SHARE = 0.25  # share of the clutter shapes that look like bodies
_PIXEL_NOISE = 0.015  # std of the final per-pixel image noise, in [0, 1] units


# ------------------------------------------------ argument checks (the records below use them)


def _check_int(name: str, value: object, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    return int(value)


def _check_real(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a float, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: must be finite, got {value}")
    return float(value)


def _check_range(name: str, value: object, *, integer: bool = False) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name}: expected a (low, high) pair, got {value!r}")
    low: float
    high: float
    if integer:
        low, high = (_check_int(name, v, minimum=0) for v in value)
    else:
        low, high = (_check_real(name, v) for v in value)
    if low > high:
        raise ValueError(f"{name}: low must not exceed high, got {tuple(value)}")
    return low, high


def _check_classes(active_classes: object) -> tuple[int, ...]:
    if isinstance(active_classes, (str, bytes)) or not isinstance(active_classes, Sequence):
        raise TypeError(
            f"active_classes: expected a sequence of class names or indices, "
            f"got {type(active_classes).__name__}"
        )
    if not active_classes:
        raise ValueError("active_classes: needs at least one class")
    indices = []
    for entry in active_classes:
        if isinstance(entry, str):
            if entry not in VOC_CLASSES:
                raise ValueError(f"active_classes: unknown class name {entry!r}")
            indices.append(VOC_CLASSES.index(entry))
        elif isinstance(entry, numbers.Integral) and not isinstance(entry, bool):
            if not 0 <= int(entry) < NUM_CLASSES:
                raise ValueError(
                    f"active_classes: class index {entry} is outside [0, {NUM_CLASSES})"
                )
            indices.append(int(entry))
        else:
            raise TypeError(
                f"active_classes: entries must be names or ints, got {type(entry).__name__}"
            )
    if len(set(indices)) != len(indices):
        raise ValueError(f"active_classes: repeated classes in {tuple(active_classes)}")
    return tuple(sorted(indices))


# ----------------------------------------------------------------------------------- records


@dataclass(frozen=True)
class SaliencyQuality:
    """How far the synthetic saliency map is from the true foreground.

    The map is built in this order: exact foreground -> missed chunks -> false-positive blobs ->
    Gaussian blur -> additive Gaussian noise -> clip to [0, 1]. The random draws do not depend on
    these settings, so raising one of them (others fixed) degrades the same map further.

    Attributes
    ----------
    blur_sigma
        Standard deviation (pixels) of the Gaussian blur that softens boundaries; 0 for none.
    noise_std
        Standard deviation of the additive per-pixel Gaussian noise; 0 for none.
    miss_prob
        Probability that an object loses a chunk of its saliency (set to 0).
    miss_fraction
        Fraction of a missed object's visible pixels that are dropped: those furthest along a
        random direction, so a whole end of the object disappears.
    false_positive_prob
        Probability that each body-like background distractor is marked salient.
    false_positive_strength
        Saliency value given to a false-positive blob, in [0, 1].

    Examples
    --------
    >>> SaliencyQuality.perfect().noise_std
    0.0
    >>> SaliencyQuality(noise_std=0.1).blur_sigma
    1.5
    """

    blur_sigma: float = 1.5
    noise_std: float = 0.05
    miss_prob: float = 0.25
    miss_fraction: float = 0.3
    false_positive_prob: float = 0.3
    false_positive_strength: float = 0.8

    def __post_init__(self) -> None:
        for name in ("blur_sigma", "noise_std"):
            value = _check_real(name, getattr(self, name))
            if value < 0:
                raise ValueError(f"{name}: must be >= 0, got {value}")
        probabilities = ("miss_prob", "miss_fraction", "false_positive_prob")
        for name in (*probabilities, "false_positive_strength"):
            value = _check_real(name, getattr(self, name))
            if not 0 <= value <= 1:
                raise ValueError(f"{name}: must lie in [0, 1], got {value}")

    @classmethod
    def perfect(cls) -> SaliencyQuality:
        """Saliency equal to the foreground mask (no blur, noise, misses or false positives)."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    @classmethod
    def poor(cls) -> SaliencyQuality:
        """A weak detector: heavy blur and noise, frequent misses and false positives."""
        return cls(3.0, 0.15, 0.5, 0.45, 0.7, 0.9)


@dataclass(frozen=True)
class SyntheticObject:
    """Geometry of one object of a :class:`SyntheticScene`.

    Attributes
    ----------
    class_index
        Class channel ``c`` in ``[0, 20)``; its pixels are labelled ``c + 1``.
    center
        ``(row, column)`` of the ellipse centre, in pixels.
    length, width
        Major and minor axis lengths (full diameters), in pixels.
    angle
        Direction of the major axis that points at the discriminative part, in radians
        (``0`` points right, ``pi / 2`` points down).
    area
        Number of pixels of the whole (unoccluded) object.
    part_area
        Number of pixels of its discriminative part, ``round(area * requested fraction)``; 0
        for an object drawn without its part (``SyntheticVOC(part_prob < 1)``).

    Examples
    --------
    >>> obj = SyntheticVOC(1, image_size=64, seed=0).scene(0).objects[0]
    >>> VOC_CLASSES[obj.class_index] in DEFAULT_ACTIVE_CLASSES
    True
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


# ----------------------------------------------------------------------------------- dataset


class SyntheticVOC(Sequence[Sample]):
    """Seeded procedural dataset in the VOC conventions (see the module docstring for the design).

    Parameters
    ----------
    num_images
        Number of samples (``len(dataset)``).
    image_size
        Side of the square images, in pixels (>= 32). Default 128.
    seed
        Non-negative integer; with ``split`` and the index it fixes every sample.
    split
        ``"train"`` or ``"val"``: two disjoint streams of images.
    saliency
        Quality of the saliency map, or ``None`` for samples without one.
    active_classes
        The classes that may appear, as VOC names or indices in ``[0, 20)``; the other channels
        of ``Sample.classes`` are always 0. Default :data:`DEFAULT_ACTIVE_CLASSES`.
    objects_per_image
        Inclusive range ``(min, max)`` of objects per image, default ``(1, 3)``; each object's
        class is drawn uniformly from ``active_classes``. An object that finds no free place in
        ``30`` tries is left out, so rare crowded images may hold fewer than ``min`` (never 0).
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
        Weight of the class tint in the body colour, in [0, 1]: 0 makes the body carry no class
        information, 1 a fixed class colour. Default 0.5 (weaker, noisier evidence than the
        part's).
    clutter
        Clutter level (>= 0): the mean number of background shapes is ``7 * clutter``, a quarter
        of them body-like distractors. Default 1.0; 0 leaves a plain gradient.
    max_overlap
        Largest fraction of an object that a later object may cover, in [0, 1), default 0.2.
    boundary_width
        Objects' outlines are labelled 255 on a band of pixels within this Chebyshev distance of a
        label change (VOC style); 0 for none. Default 1 (a 2-pixel band).

    Examples
    --------
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
    """

    #: The 20 VOC classes (all channels exist; only ``active_classes`` ever appear).
    class_names: tuple[str, ...] = VOC_CLASSES
    #: ``len(class_names)``.
    num_classes: int = NUM_CLASSES

    def __init__(
        self,
        num_images: int,
        *,
        image_size: int = 128,
        seed: int = 0,
        split: str = "train",
        saliency: SaliencyQuality | None = SaliencyQuality(),
        active_classes: Sequence[int | str] = DEFAULT_ACTIVE_CLASSES,
        objects_per_image: tuple[int, int] = (1, 3),
        object_scale: tuple[float, float] = (0.2, 0.5),
        part_fraction: tuple[float, float] = (0.07, 0.13),
        part_prob: float = 1.0,
        body_signal: float = 0.5,
        clutter: float = 1.0,
        max_overlap: float = 0.2,
        boundary_width: int = 1,
    ) -> None:
        self.num_images = _check_int("num_images", num_images, minimum=0)
        self.image_size = _check_int("image_size", image_size, minimum=32)
        self.seed = _check_int("seed", seed, minimum=0)
        if not isinstance(split, str):
            raise TypeError(f"split: expected a str, got {type(split).__name__}")
        if split not in _SPLIT_IDS:
            raise ValueError(f"split: expected one of {sorted(_SPLIT_IDS)}, got {split!r}")
        self.split = split
        if saliency is not None and not isinstance(saliency, SaliencyQuality):
            raise TypeError(
                f"saliency: expected a SaliencyQuality or None, got {type(saliency).__name__}"
            )
        self.saliency = saliency
        self.active_classes = _check_classes(active_classes)
        low, high = _check_range("objects_per_image", objects_per_image, integer=True)
        if low < 1:
            raise ValueError(f"objects_per_image: needs at least 1 object, got {objects_per_image}")
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
        self.part_prob = _check_real("part_prob", part_prob)
        if not 0 <= self.part_prob <= 1:
            raise ValueError(f"part_prob: must lie in [0, 1], got {part_prob}")
        self.body_signal = _check_real("body_signal", body_signal)
        if not 0 <= self.body_signal <= 1:
            raise ValueError(f"body_signal: must lie in [0, 1], got {body_signal}")
        self.clutter = _check_real("clutter", clutter)
        if self.clutter < 0:
            raise ValueError(f"clutter: must be >= 0, got {clutter}")
        self.max_overlap = _check_real("max_overlap", max_overlap)
        if not 0 <= self.max_overlap < 1:
            raise ValueError(f"max_overlap: must lie in [0, 1), got {max_overlap}")
        self.boundary_width = _check_int("boundary_width", boundary_width, minimum=0)

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
        """The constructor arguments (see :func:`wsss.data.protocol.describe_dataset`).

        Examples
        --------
        >>> SyntheticVOC(2, image_size=40).describe()["active_classes"]
        ('aeroplane', 'car', 'cat', 'dog', 'person')
        """
        return {
            "num_images": self.num_images,
            "image_size": self.image_size,
            "seed": self.seed,
            "split": self.split,
            "saliency": self.saliency,
            "active_classes": tuple(VOC_CLASSES[c] for c in self.active_classes),
            "objects_per_image": self.objects_per_image,
            "object_scale": self.object_scale,
            "part_fraction": self.part_fraction,
            "part_prob": self.part_prob,
            "body_signal": self.body_signal,
            "clutter": self.clutter,
            "max_overlap": self.max_overlap,
            "boundary_width": self.boundary_width,
        }

    def __repr__(self) -> str:
        names = ", ".join(VOC_CLASSES[c] for c in self.active_classes)
        return (
            f"SyntheticVOC({self.num_images}, image_size={self.image_size}, seed={self.seed}, "
            f"split={self.split!r}, active_classes=({names}))"
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
        canvas = _Canvas(self.image_size, scene_rng)
        distractor_masks = self._draw_background(canvas, scene_rng)
        part_rng = np.random.default_rng([self.seed, split_id, index, 2])
        objects, object_masks, part_masks = self._draw_objects(canvas, scene_rng, part_rng)

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
        classes = np.zeros(NUM_CLASSES, dtype=np.float32)
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

    def _draw_background(self, canvas: _Canvas, rng: np.random.Generator) -> list[np.ndarray]:
        """Paint a gradient and the clutter; return the full masks of the distractors."""
        size = canvas.size
        direction = rng.uniform(0, 2 * math.pi)
        ramp = (canvas.xs * math.cos(direction) + canvas.ys * math.sin(direction)) / size
        ramp = ramp - ramp.min()
        start, end = _muted_colour(rng), _muted_colour(rng)
        canvas.rgb[:] = start + (end - start) * (ramp / max(float(ramp.max()), 1e-6))[..., None]
        canvas.rgb *= (1 + 0.12 * canvas.coarse_noise)[..., None]

        distractors: list[np.ndarray] = []
        for _ in range(int(rng.poisson(_CLUTTER_PER_LEVEL * self.clutter))):
            kind = rng.random()
            if kind < _DISTRACTOR_SHARE:  # a body-like blob: same colours and shading as bodies
                length = rng.uniform(*self.object_scale) * size
                width = length * rng.uniform(*_BODY_ASPECT)
                shape = _Ellipse.random_placement(rng, size, length, width)
                window, mask = shape.rasterize(canvas)
                _paint_body(canvas, shape, window, mask, _muted_colour(rng), outline=False)
                full = np.zeros(canvas.shape, dtype=bool)
                full[window] = mask
                for earlier in distractors:
                    earlier &= ~full
                distractors.append(full)
                continue
            length = rng.uniform(0.1, 0.45) * size
            width = length * rng.uniform(0.25, 1.0)
            shape = _Ellipse.random_placement(rng, size, length, width, inside=False)
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

    def _draw_objects(
        self, canvas: _Canvas, rng: np.random.Generator, part_rng: np.random.Generator
    ) -> tuple[list[SyntheticObject], list[np.ndarray], list[np.ndarray]]:
        """Place and paint the objects; return them with their full and part masks.

        ``part_rng`` only decides which objects keep their part, so that ``part_prob`` never
        moves an object or changes a colour (the part's colours are drawn either way).
        """
        size = canvas.size
        low, high = self.objects_per_image
        count = int(rng.integers(low, high + 1))
        objects: list[SyntheticObject] = []
        masks: list[np.ndarray] = []
        parts: list[np.ndarray] = []  # the painted parts
        reserved: list[np.ndarray] = []  # where each part would be: no later object covers it
        for _ in range(count):
            class_index = int(rng.choice(self.active_classes))
            fraction = rng.uniform(*self.part_fraction)
            for _attempt in range(_MAX_PLACEMENT_TRIES):
                length = rng.uniform(*self.object_scale) * size
                width = length * rng.uniform(*_BODY_ASPECT)
                shape = _Ellipse.random_placement(rng, size, length, width)
                window, local = shape.rasterize(canvas)
                full = np.zeros(canvas.shape, dtype=bool)
                full[window] = local
                if self._fits(full, masks, reserved):
                    break
            else:
                continue  # no room for this object: leave it out
            area = int(local.sum())
            part_area = max(1, round(area * fraction))
            u, v = shape.local_coords(canvas, window)
            tip_distance = (u[local] - shape.half_length) ** 2 + v[local] ** 2
            nearest = np.argpartition(tip_distance, part_area - 1)[:part_area]
            local_part = np.zeros(int(local.sum()), dtype=bool)
            local_part[nearest] = True
            part_local = np.zeros_like(local)
            part_local[local] = local_part
            part = np.zeros(canvas.shape, dtype=bool)
            part[window] = part_local
            reserved.append(part)
            if part_rng.random() >= self.part_prob:  # drawn without its part: all body
                part_local = np.zeros_like(local)
                part = np.zeros(canvas.shape, dtype=bool)
                part_area = 0

            body = _body_colour(rng, class_index, self.body_signal)
            _paint_body(canvas, shape, window, local, body, outline=True)
            _paint_part(canvas, rng, class_index, window, part_local)
            objects.append(
                SyntheticObject(
                    class_index=class_index,
                    center=(shape.cy, shape.cx),
                    length=2 * shape.half_length,
                    width=2 * shape.half_width,
                    angle=shape.angle,
                    area=area,
                    part_area=part_area,
                )
            )
            masks.append(full)
            parts.append(part)
        return objects, masks, parts

    def _fits(self, new: np.ndarray, masks: list[np.ndarray], parts: list[np.ndarray]) -> bool:
        """A new object may not touch an earlier part nor cover much of an earlier object."""
        for mask, part in zip(masks, parts):
            if (new & part).any():
                return False
            if (new & mask).sum() > self.max_overlap * mask.sum():
                return False
        return True


# ----------------------------------------------------------------------------------- preview


def render_preview(dataset: Sequence[Sample], n: int = 4, *, gap: int = 2) -> np.ndarray:
    """Tile ``n`` samples as rows of ``image | ground truth in VOC colours | saliency``.

    Parameters
    ----------
    dataset
        Any sequence of :class:`~wsss.data.sample.Sample` with images of one size; missing
        labels or saliency maps are drawn in grey.
    n
        Number of rows (the first ``n`` samples).
    gap
        White margin between tiles, in pixels.

    Returns
    -------
    numpy.ndarray
        ``uint8`` of shape ``(n * H + (n - 1) * gap, 3 * W + 2 * gap, 3)``.

    Examples
    --------
    >>> render_preview(SyntheticVOC(2, image_size=40), 2).shape
    (82, 124, 3)
    """
    from .palette import colorize  # lazy: keeps this module importable on its own

    n = _check_int("n", n, minimum=1)
    gap = _check_int("gap", gap, minimum=0)
    if n > len(dataset):
        raise ValueError(f"n: asked for {n} rows, the dataset has {len(dataset)} samples")
    rows = []
    for i in range(n):
        sample = dataset[i]
        height, width = sample.image.shape[:2]
        grey = np.full((height, width, 3), 128, dtype=np.uint8)
        label = grey if sample.label is None else colorize(sample.label)
        if sample.saliency is None:
            saliency = grey
        else:
            level = np.round(np.clip(sample.saliency, 0, 1) * 255).astype(np.uint8)
            saliency = np.repeat(level[..., None], 3, axis=2)
        spacer = np.full((height, gap, 3), 255, dtype=np.uint8)
        rows.append(np.concatenate([sample.image, spacer, label, spacer, saliency], axis=1))
    if any(row.shape != rows[0].shape for row in rows):
        raise ValueError("dataset: samples must all have the same image size")
    spacer = np.full((gap, rows[0].shape[1], 3), 255, dtype=np.uint8)
    tiles = [rows[0]]
    for row in rows[1:]:
        tiles += [spacer, row]
    return np.concatenate(tiles, axis=0)


# ----------------------------------------------------------------------------------- drawing


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
class _Ellipse:
    """An ellipse (or its bounding box) with its major axis pointing at ``angle``."""

    cy: float
    cx: float
    half_length: float
    half_width: float
    angle: float

    @classmethod
    def random_placement(
        cls,
        rng: np.random.Generator,
        size: int,
        length: float,
        width: float,
        *,
        inside: bool = True,
    ) -> _Ellipse:
        """Random angle and centre; ``inside`` keeps the whole ellipse within the image."""
        angle = rng.uniform(0, 2 * math.pi)
        a, b = length / 2, width / 2
        extent_x = math.hypot(a * math.cos(angle), b * math.sin(angle))
        extent_y = math.hypot(a * math.sin(angle), b * math.cos(angle))
        if inside:
            cx = rng.uniform(extent_x + 1, size - 2 - extent_x)
            cy = rng.uniform(extent_y + 1, size - 2 - extent_y)
        else:
            cx, cy = rng.uniform(0, size - 1, size=2)
        return cls(float(cy), float(cx), a, b, float(angle))

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

    def rasterize(
        self, canvas: _Canvas, *, box: bool = False
    ) -> tuple[tuple[slice, slice], np.ndarray]:
        """Return the window and the boolean mask of the ellipse (or box) inside it."""
        window = self.window(canvas.size)
        u, v = self.local_coords(canvas, window)
        if box:
            mask = (np.abs(u) <= self.half_length) & (np.abs(v) <= self.half_width)
        else:
            mask = (u / self.half_length) ** 2 + (v / self.half_width) ** 2 <= 1
        return window, mask


def _paint_body(
    canvas: _Canvas,
    shape: _Ellipse,
    window: tuple[slice, slice],
    mask: np.ndarray,
    colour: np.ndarray,
    *,
    outline: bool,
) -> None:
    """Paint a shaded, textured body; objects (not distractors) get a dark outline."""
    u, v = shape.local_coords(canvas, window)
    radius2 = ((u / shape.half_length) ** 2 + (v / shape.half_width) ** 2)[mask]
    brightness = (0.72 + 0.28 * (1 - radius2)) * (1 + 0.18 * canvas.fine_noise[window][mask])
    if outline:
        edge = np.sqrt(radius2) > 1 - 1.5 / shape.half_width
        brightness = np.where(edge, 0.4 * brightness, brightness)
    canvas.rgb[window][mask] = colour * brightness[:, None]


def _paint_part(
    canvas: _Canvas,
    rng: np.random.Generator,
    class_index: int,
    window: tuple[slice, slice],
    part: np.ndarray,
) -> None:
    """Paint the discriminative part: class-coloured stripes of class-specific orientation."""
    hue, orientation, period = _class_part_style(class_index)
    hue += rng.uniform(-0.015, 0.015)
    bright = _hsv(hue, rng.uniform(0.8, 1.0), rng.uniform(0.85, 1.0))
    dark = _hsv(hue, 0.9, rng.uniform(0.35, 0.5))
    stripes = _stripes(canvas, window, orientation, period)[part]
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


def _body_colour(rng: np.random.Generator, class_index: int, body_signal: float) -> np.ndarray:
    """A shared muted colour pulled towards the class tint by ``body_signal``."""
    tint = _hsv(_class_part_style(class_index)[0], 0.5, 0.65)
    return (1 - body_signal) * _muted_colour(rng) + body_signal * tint


def _class_part_style(class_index: int) -> tuple[float, float, float]:
    """Hue, stripe direction (radians) and stripe period (pixels) of a class's part.

    Classes are ranked with :data:`DEFAULT_ACTIVE_CLASSES` first, and rank ``r`` gets hue
    ``0, .2, .4, .6, .8`` (r < 5), then ``.1, .3, .5, .7, .9``, then ``.05, .15, ..., .95``, so the
    default classes have the most distinct colours; direction and period cycle with the rank.
    """
    defaults = [VOC_CLASSES.index(name) for name in DEFAULT_ACTIVE_CLASSES]
    order = defaults + [c for c in range(NUM_CLASSES) if c not in defaults]
    rank = order.index(class_index)
    if rank < 5:
        hue = rank / 5
    elif rank < 10:
        hue = (rank - 5) / 5 + 0.1
    else:
        hue = (rank - 10) / 10 + 0.05
    return hue, (rank % 4) * math.pi / 4, 3.0 + (rank // 4) % 3


def _hsv(hue: float, saturation: float, value: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(hue % 1.0, saturation, value), dtype=np.float32)


# ----------------------------------------------------------------------------------- saliency


def _corrupt_saliency(
    rng: np.random.Generator,
    foreground: np.ndarray,
    objects: list[np.ndarray],
    distractors: list[np.ndarray],
    quality: SaliencyQuality,
) -> np.ndarray:
    """Foreground -> missed chunks -> false positives -> blur -> noise -> clip (see the module)."""
    saliency = foreground.astype(np.float32)
    for mask in objects:  # draws happen whatever the quality, so knobs act on the same map
        missed, direction = rng.random(), rng.uniform(0, 2 * math.pi)
        rows, cols = np.nonzero(mask)
        if missed < quality.miss_prob and quality.miss_fraction > 0 and rows.size:
            along = cols * math.cos(direction) + rows * math.sin(direction)
            cut = np.quantile(along, 1 - quality.miss_fraction)
            drop = along >= cut
            saliency[rows[drop], cols[drop]] = 0
    for mask in distractors:
        if rng.random() < quality.false_positive_prob:
            saliency[mask] = np.maximum(saliency[mask], quality.false_positive_strength)
    if quality.blur_sigma > 0:
        saliency = ndimage.gaussian_filter(saliency, quality.blur_sigma, mode="nearest")
    noise = rng.standard_normal(saliency.shape, dtype=np.float32)
    saliency += np.float32(quality.noise_std) * noise
    return np.clip(saliency, 0, 1).astype(np.float32)
