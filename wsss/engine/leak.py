"""How much of an attention map lies on the objects, how much on the background.

For each image, the peak attention of its classes ``P(p) = max_{c: y_c = 1} A_c(p)`` (maps in
[0, 1]) is averaged over the ground truth's object pixels (labels ``1 .. C``) and over its
background pixels (label 0), pooled over all images; ignored pixels (255) count for neither:

.. math::

    \\bar a_{obj} = \\frac{\\sum_{p \\in O} P(p)}{|O|}, \\qquad
    \\bar a_{bg} = \\frac{\\sum_{p \\in B} P(p)}{|B|}, \\qquad
    \\text{leak} = \\bar a_{bg} / \\bar a_{obj}

A map that covers the objects and nothing else has ``a_obj = 1`` and ``a_bg = 0``; one that
spreads evenly has a leak of 1. The measure needs only pixel masks, so it works on any dataset
with ground truth (unlike part-level probes that need the synthetic data's part masks).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.sample import Sample
from ..fusion import IGNORE_INDEX
from .stages import stored_attention

__all__ = ["AttentionLeak", "AttentionLeakCounter", "attention_leak"]


@dataclass(frozen=True)
class AttentionLeak:
    """Mean attention on the ground truth's object and background pixels.

    Attributes
    ----------
    on_object, on_background
        Mean peak attention of the image's classes on object pixels and on background pixels,
        pooled over all images (fractions in [0, 1]).
    object_pixels, background_pixels
        How many pixels each mean is over.

    Examples
    --------
    >>> leak = AttentionLeak(on_object=0.8, on_background=0.2, object_pixels=10,
    ...                      background_pixels=30)
    >>> round(leak.ratio, 6)
    0.25
    """

    on_object: float
    on_background: float
    object_pixels: int
    background_pixels: int

    @property
    def ratio(self) -> float:
        """``on_background / on_object`` (lower is better); NaN when no attention is on the
        objects at all."""
        return self.on_background / self.on_object if self.on_object > 0 else math.nan


class AttentionLeakCounter:
    """Accumulates :class:`AttentionLeak` over images, one :meth:`update` per image.

    Examples
    --------
    One image, two classes, the second in the image; a 1 x 4 ground truth (background,
    object, object, ignored):

    >>> counter = AttentionLeakCounter()
    >>> maps = np.array([[[0.9, 0.9, 0.9, 0.9]],    # class 0: not in the image, not read
    ...                  [[0.2, 1.0, 0.6, 0.5]]])   # class 1
    >>> counter.update(maps, np.array([0, 1]), np.array([[0, 2, 2, 255]], np.uint8))
    >>> leak = counter.compute()
    >>> round(leak.on_object, 6), round(leak.on_background, 6), round(leak.ratio, 6)
    (0.8, 0.2, 0.25)
    """

    def __init__(self) -> None:
        self._sums = np.zeros(2, np.float64)  # object, background
        self._counts = np.zeros(2, np.int64)

    def update(self, maps: np.ndarray, classes: np.ndarray, label: np.ndarray) -> None:
        """Add one image.

        Parameters
        ----------
        maps
            Attention ``(C, H, W)``, float, in [0, 1] (maps of classes not in the image are not
            read).
        classes
            Multi-hot image classes ``(C,)``; an image without classes has zero attention.
        label
            Ground truth ``(H, W)``, integers: 0 background, ``1 .. C`` objects, 255 ignored.
        """
        if not isinstance(maps, np.ndarray) or maps.ndim != 3 or maps.dtype.kind != "f":
            raise ValueError(f"maps: expected a float (C, H, W) array, got "
                             f"{getattr(maps, 'shape', type(maps).__name__)}")
        present = np.asarray(classes)
        if present.shape != (maps.shape[0],) or not np.all((present == 0) | (present == 1)):
            raise ValueError(f"classes: expected 0/1 values of shape ({maps.shape[0]},), got "
                             f"shape {present.shape}")
        truth = np.asarray(label)
        if truth.shape != maps.shape[1:] or truth.dtype.kind not in "iu":
            raise ValueError(f"label: expected integers of shape {maps.shape[1:]}, got "
                             f"{truth.dtype} {truth.shape}")
        valid = truth != IGNORE_INDEX
        if truth[valid].size and (truth[valid].min() < 0 or truth[valid].max() > maps.shape[0]):
            raise ValueError(f"label: values must be 0 .. {maps.shape[0]} or {IGNORE_INDEX}")
        chosen = maps[present.astype(bool)].astype(np.float64)
        if chosen.size and (not np.all(np.isfinite(chosen)) or chosen.min() < 0
                            or chosen.max() > 1):
            raise ValueError("maps: values of the image's classes must be finite, in [0, 1]")
        peak = chosen.max(axis=0) if chosen.size else np.zeros(maps.shape[1:])
        for k, where in enumerate((valid & (truth > 0), truth == 0)):
            self._sums[k] += peak[where].sum()
            self._counts[k] += int(where.sum())

    def compute(self) -> AttentionLeak:
        """The pooled means.

        Raises
        ------
        ValueError
            No object pixel or no background pixel was seen.
        """
        for k, what in enumerate(("object", "background")):
            if self._counts[k] == 0:
                raise ValueError(f"label: no ground-truth {what} pixels to average over")
        means = self._sums / self._counts
        return AttentionLeak(on_object=float(means[0]), on_background=float(means[1]),
                             object_pixels=int(self._counts[0]),
                             background_pixels=int(self._counts[1]))


def attention_leak(
    dataset: Sequence[Sample], attention_dir: str | Path, branch: str | None = None
) -> AttentionLeak:
    """:class:`AttentionLeak` of the attention stored in ``attention_dir`` for ``dataset``.

    ``branch`` picks a stored branch (``"a"``, ``"b"``); ``None`` the fused maps (see
    :func:`~wsss.engine.stored_attention`).

    Raises
    ------
    ValueError
        An image has no ground truth, or a file does not fit the dataset.

    Examples
    --------
    >>> import tempfile
    >>> from wsss.engine import DataConfig, build_model, load_dataset, make_attention
    >>> from wsss.engine import ModelConfig
    >>> config = ModelConfig("cam_classifier", backbone="resnet_tiny")
    >>> train_set = load_dataset(DataConfig(synthetic_train=2, image_size=48), "train")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = make_attention(build_model(config, 20), train_set, tmp,
    ...                        normalizer=config.normalizer, progress=False)
    ...     leak = attention_leak(train_set, tmp)
    >>> 0.0 <= leak.on_background <= 1.0, leak.object_pixels + leak.background_pixels <= 2 * 48**2
    (True, True)
    """
    counter = AttentionLeakCounter()
    for sample, maps in stored_attention(dataset, attention_dir, branch):
        if sample.label is None:
            raise ValueError(f"dataset: image {sample.name} has no ground truth to score against")
        counter.update(maps, sample.classes, sample.label)
    return counter.compute()
