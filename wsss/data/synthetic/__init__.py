"""A procedural, VOC-like dataset that reproduces the failure SeeNet exists to fix.

:class:`SyntheticVOC` draws small images in the PASCAL VOC conventions (20 class channels by
default, labels ``0`` background / ``c + 1`` class ``c`` / ``255`` boundary) with their
image-level labels, ground-truth masks and an imperfect saliency map, so that the whole weakly
supervised pipeline (classifier -> attention maps -> saliency fusion -> segmentation network)
runs on a laptop CPU in minutes, with nothing to download.

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
    quality never changes the image. Draws the original generator did not make (outlines,
    textures, random part anchors, the noise background) come from a fourth stream,
    ``default_rng([seed, split_id, i, 3])``, so options that change only how things look
    (``body_evidence``, ``part_evidence``, ``background``) keep every object, class and label
    of the scene.

Variants
    Every rendering choice above is an option of :class:`SyntheticVOC`, and
    :data:`SYNTHETIC_PRESETS` names coherent sets of them (:func:`synthetic_dataset` builds
    one): what carries the class (``body_evidence``: colour, texture or outline;
    ``part_evidence``: colour or texture), where the part sits and its shape
    (``part_placement``, ``part_shape``), the bodies' outlines (``body_shapes``), object
    scales, the classes (``class_names``, ``active_classes``) and the background
    (``background``, ``clutter``). The ``"default"`` preset is the generator described above,
    sample for sample. The numbers quoted above are measured on it; a variant moves them.
"""

from __future__ import annotations

from .dataset import SyntheticVOC, synthetic_dataset
from .presets import (
    BACKGROUNDS,
    BODY_EVIDENCE,
    BODY_SHAPES,
    DEFAULT_ACTIVE_CLASSES,
    PART_EVIDENCE,
    PART_PLACEMENTS,
    PART_SHAPES,
    SYNTHETIC_PRESETS,
    SyntheticPreset,
)
from .preview import render_preview
from .saliency import SaliencyQuality
from .scene import SyntheticObject, SyntheticScene

__all__ = [
    "BACKGROUNDS",
    "BODY_EVIDENCE",
    "BODY_SHAPES",
    "DEFAULT_ACTIVE_CLASSES",
    "PART_EVIDENCE",
    "PART_PLACEMENTS",
    "PART_SHAPES",
    "SYNTHETIC_PRESETS",
    "SaliencyQuality",
    "SyntheticObject",
    "SyntheticPreset",
    "SyntheticScene",
    "SyntheticVOC",
    "render_preview",
    "synthetic_dataset",
]

# The dataset, its records and functions are known by this package's name (``describe_dataset``
# records ``wsss.data.synthetic.SyntheticVOC``, as before the package was split), wherever their
# code lives. The scene records keep their module: their ``np.ndarray`` fields resolve there.
for _public in (SaliencyQuality, SyntheticPreset, SyntheticVOC, render_preview,
                synthetic_dataset):
    _public.__module__ = __name__
del _public
