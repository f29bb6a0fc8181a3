"""Named variants of the synthetic dataset: :class:`SyntheticPreset` and :data:`SYNTHETIC_PRESETS`.

A preset is a complete set of rendering options of :class:`~wsss.data.SyntheticVOC` (everything
but the number of images, their size, the seed, the split and the saliency quality). Its field
defaults are the original generator, which is the ``"default"`` preset; every other preset
changes a few of them, named in its ``description``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any

from ..sample import VOC_CLASSES

__all__ = [
    "BACKGROUNDS",
    "BODY_EVIDENCE",
    "BODY_SHAPES",
    "DEFAULT_ACTIVE_CLASSES",
    "PART_EVIDENCE",
    "PART_PLACEMENTS",
    "PART_SHAPES",
    "SYNTHETIC_PRESETS",
    "SyntheticPreset",
]

#: The classes that appear by default (5 of the 20 VOC channels, so a tiny CPU model learns them).
DEFAULT_ACTIVE_CLASSES: tuple[str, ...] = ("aeroplane", "car", "cat", "dog", "person")

#: What carries an object body's weak class evidence: its colour (a class tint), its texture
#: (faint class-specific stripes or checks) or its outline (a class-specific shape).
BODY_EVIDENCE: tuple[str, ...] = ("colour", "texture", "shape")

#: What makes the discriminative part name its class: its saturated class colour and stripes,
#: or only its high-contrast class texture (in a random saturated colour).
PART_EVIDENCE: tuple[str, ...] = ("colour", "texture")

#: Where the part is grown: at the end of the major axis, at the body's centre, or around a
#: random point inside the body.
PART_PLACEMENTS: tuple[str, ...] = ("end", "centre", "random")

#: The part's shape in the body's frame: the pixels nearest its anchor in Euclidean distance
#: (``"round"``), in Chebyshev distance (``"square"``), or along the major axis only (``"band"``,
#: a band across the body).
PART_SHAPES: tuple[str, ...] = ("round", "square", "band")

#: Outlines a body may take.
BODY_SHAPES: tuple[str, ...] = ("ellipse", "rectangle", "triangle", "diamond", "hexagon")

#: Base layers of the background: a two-colour gradient with coarse shading, fine textured
#: noise, or one flat colour.
BACKGROUNDS: tuple[str, ...] = ("gradient", "noise", "plain")


@dataclass(frozen=True)
class SyntheticPreset:
    """One named variant of the synthetic dataset: a value for every rendering option.

    The fields are :class:`~wsss.data.SyntheticVOC`'s options of the same names (see there);
    their defaults are the original generator.

    Attributes
    ----------
    description
        One line saying what the preset changes and why.
    class_names, active_classes
        The class channels and the classes that appear (names from ``class_names``).
    objects_per_image, object_scale, max_overlap
        How many objects, how large (fraction of the image side) and how much they may overlap.
    body_evidence, body_signal, body_shapes
        What carries the body's weak class evidence (:data:`BODY_EVIDENCE`), how strongly, and
        the outlines bodies take (:data:`BODY_SHAPES`).
    part_evidence, part_placement, part_shape, part_fraction, part_prob
        The discriminative part: what names its class (:data:`PART_EVIDENCE`), where it sits
        (:data:`PART_PLACEMENTS`), its shape (:data:`PART_SHAPES`), its share of the object and
        the probability that an object shows it.
    background, clutter
        The background's base layer (:data:`BACKGROUNDS`) and the amount of clutter on it.
    boundary_width
        Width of the 255 band on outlines.

    Examples
    --------
    >>> SYNTHETIC_PRESETS["texture"].body_evidence, SYNTHETIC_PRESETS["default"].body_evidence
    ('texture', 'colour')
    >>> SYNTHETIC_PRESETS["few_classes"].options()["class_names"]
    ('cat', 'dog', 'person')
    """

    description: str
    class_names: tuple[str, ...] = VOC_CLASSES
    active_classes: tuple[str, ...] = DEFAULT_ACTIVE_CLASSES
    objects_per_image: tuple[int, int] = (1, 3)
    object_scale: tuple[float, float] = (0.2, 0.5)
    max_overlap: float = 0.2
    body_evidence: str = "colour"
    body_signal: float = 0.5
    body_shapes: tuple[str, ...] = ("ellipse",)
    part_evidence: str = "colour"
    part_placement: str = "end"
    part_shape: str = "round"
    part_fraction: tuple[float, float] = (0.07, 0.13)
    part_prob: float = 1.0
    background: str = "gradient"
    clutter: float = 1.0
    boundary_width: int = 1

    def options(self) -> dict[str, Any]:
        """The rendering options as :class:`~wsss.data.SyntheticVOC` keyword arguments.

        Examples
        --------
        >>> SYNTHETIC_PRESETS["default"].options()["part_placement"]
        'end'
        """
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "description"}


_OTHER_TEN = ("bicycle", "bird", "boat", "bottle", "bus", "chair", "cow", "horse", "sheep", "train")

#: The named variants, by name; ``"default"`` is the original generator. The docs' synthetic
#: benchmark page tabulates them.
SYNTHETIC_PRESETS: Mapping[str, SyntheticPreset] = MappingProxyType({
    "default": SyntheticPreset(
        "The original generator: the body's colour leans to a class tint, the part at the end "
        "of the major axis has a saturated class colour and stripes."
    ),
    "texture": SyntheticPreset(
        "Texture instead of colour carries the class: bodies have faint class stripes or checks "
        "and untinted colours, parts show their class texture in a random saturated colour.",
        body_evidence="texture",
        part_evidence="texture",
    ),
    "shape": SyntheticPreset(
        "The body's outline, not its colour, is its weak class evidence (five outlines, the "
        "class's with probability body_signal, else a random one); parts as by default.",
        body_evidence="shape",
        body_shapes=("ellipse", "rectangle", "triangle", "diamond", "hexagon"),
    ),
    "centre_part": SyntheticPreset(
        "The discriminative part sits at the body's centre instead of at one end.",
        part_placement="centre",
    ),
    "random_part": SyntheticPreset(
        "The discriminative part sits around a random point inside the body.",
        part_placement="random",
    ),
    "band_part": SyntheticPreset(
        "The discriminative part is a band across the end of the body instead of a round cap.",
        part_shape="band",
    ),
    "few_classes": SyntheticPreset(
        "Three classes with three class channels (cat, dog, person) instead of five of VOC's "
        "twenty.",
        class_names=("cat", "dog", "person"),
        active_classes=("cat", "dog", "person"),
    ),
    "ten_classes": SyntheticPreset(
        "Ten of VOC's twenty classes appear instead of five.",
        active_classes=("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
                        "dog", "person"),
    ),
    "all_classes": SyntheticPreset(
        "All twenty VOC classes appear.",
        active_classes=VOC_CLASSES,
    ),
    "small_objects": SyntheticPreset(
        "Objects 12-30 % of the image side long instead of 20-50 %.",
        object_scale=(0.12, 0.3),
    ),
    "large_objects": SyntheticPreset(
        "One or two objects 45-80 % of the image side long.",
        object_scale=(0.45, 0.8),
        objects_per_image=(1, 2),
    ),
    "plain_background": SyntheticPreset(
        "A flat background colour and no clutter.",
        background="plain",
        clutter=0.0,
    ),
    "noise_background": SyntheticPreset(
        "A background of fine coloured noise (with the usual clutter) instead of a gradient.",
        background="noise",
    ),
    "hard": SyntheticPreset(
        "Every rendering choice changed at once: texture evidence, five class-independent "
        "outlines, a square part at a random place, a noise background and ten other VOC "
        "classes.",
        active_classes=_OTHER_TEN,
        body_evidence="texture",
        body_shapes=("ellipse", "rectangle", "triangle", "diamond", "hexagon"),
        part_evidence="texture",
        part_placement="random",
        part_shape="square",
        background="noise",
    ),
})
