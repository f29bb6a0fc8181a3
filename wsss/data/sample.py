"""The record that every ``wsss`` dataset yields."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["IGNORE_INDEX", "NUM_CLASSES", "VOC_CLASSES", "Sample", "sample_names"]

#: The 20 PASCAL VOC foreground classes, in label order (label ``c + 1`` is ``VOC_CLASSES[c]``).
VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip

#: Label value for "ignore" (object boundaries and unlabelled pixels), in every label map.
IGNORE_INDEX: int = 255

#: Number of PASCAL VOC foreground classes (no background channel).
NUM_CLASSES: int = len(VOC_CLASSES)


@dataclass(frozen=True)
class Sample:
    """One image with its image-level labels and, where known, its masks.

    Attributes
    ----------
    name
        Image identifier (the VOC file stem, e.g. ``"2007_000032"``).
    image
        RGB image, ``uint8`` of shape ``(H, W, 3)``.
    classes
        Multi-hot image-level labels, ``float32`` of shape ``(C,)`` (no background entry).
    label
        Pixel labels, ``uint8`` of shape ``(H, W)``: 0 background, ``c + 1`` class ``c``,
        255 ignore; ``None`` when the dataset has no masks for this image.
    saliency
        Saliency map, ``float32`` of shape ``(H, W)`` in [0, 1], or ``None``.

    Examples
    --------
    >>> person = np.eye(NUM_CLASSES, dtype=np.float32)[VOC_CLASSES.index("person")]
    >>> sample = Sample("2007_000032", np.zeros((2, 3, 3), np.uint8), person)
    >>> sample.image.shape, sample.classes.shape, sample.label is None
    ((2, 3, 3), (20,), True)
    >>> sample.name = "2007_000033"
    Traceback (most recent call last):
    ...
    dataclasses.FrozenInstanceError: cannot assign to field 'name'
    """

    name: str
    image: np.ndarray
    classes: np.ndarray
    label: np.ndarray | None = None
    saliency: np.ndarray | None = None


def sample_names(dataset: Sequence[Sample]) -> list[str]:
    """The image names of ``dataset``: its ``names`` attribute, else each sample's ``name``.

    Examples
    --------
    >>> sample_names([Sample("a", np.zeros((1, 1, 3), np.uint8), np.zeros(20, np.float32))])
    ['a']
    """
    names = getattr(dataset, "names", None)
    return list(names) if names is not None else [s.name for s in dataset]
