"""Counters for where attention falls: ternary-mask zones and part / body / background means.

Research diagnostics, not metrics of the pipeline: they score stored attention maps against the
ground truth (:class:`TernaryZoneCounter`) and, where the data knows its objects' discriminative
parts, against those (:class:`AttentionProfileCounter`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from .._validation import MAX_SIDE, check_int, check_thresholds
from ..metrics.scores import ArrayLike, _attention_inputs, _to_numpy

__all__ = [
    "PROFILE_REGIONS",
    "ZONES",
    "AttentionProfile",
    "AttentionProfileCounter",
    "TernaryZoneCounter",
    "ZoneShares",
]


# --------------------------------------------------------------------------------------------
# Ternary-mask zones against the ground truth (a diagnostic for erasing)

#: The zones of a ternary mask, in the order :class:`ZoneShares` uses.
ZONES: tuple[str, ...] = ("attention", "potential", "background")


@dataclass(frozen=True)
class ZoneShares:
    """Where the zones of a ternary mask fall relative to the ground truth.

    SeeNet's branch S_B learns from the *potential* zone and S_C teaches it that the
    *background* zone holds no class, so erasing can only extend the attention over the
    objects when the potential zone is mostly object and little object lies in the background
    zone. These shares say whether that holds.

    Attributes
    ----------
    counts
        ``int64`` ``(2, 3)``: ground-truth object pixels (row 0) and background pixels (row 1)
        in each zone of :data:`ZONES` (columns).

    Examples
    --------
    >>> shares = ZoneShares(np.array([[6, 3, 1], [0, 3, 7]]))
    >>> shares.object_in_zones.tolist()  # where the object pixels are
    [0.6, 0.3, 0.1]
    >>> shares.object_share.tolist()  # how much of each zone is object
    [1.0, 0.5, 0.125]
    """

    counts: np.ndarray

    @property
    def object_in_zones(self) -> np.ndarray:
        """``(3,)``: the fraction of the object pixels in each zone."""
        return self.counts[0] / max(int(self.counts[0].sum()), 1)

    @property
    def background_in_zones(self) -> np.ndarray:
        """``(3,)``: the fraction of the background pixels in each zone."""
        return self.counts[1] / max(int(self.counts[1].sum()), 1)

    @property
    def object_share(self) -> np.ndarray:
        """``(3,)``: the fraction of each zone's pixels that are object (NaN for an empty zone)."""
        total = self.counts.sum(axis=0).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, self.counts[0] / total, np.nan)


class TernaryZoneCounter:
    """Count the ground-truth object and background pixels in each ternary-mask zone.

    For each image the class-agnostic attention ``M = max_c A_c`` over the image's classes
    (0 where it has none) is split as the ternary mask splits it: attention zone ``M > delta_h``,
    background zone ``M < delta_l``, potential zone otherwise. The maps given here are the
    stored, max-normalised attention at image resolution, so the zones approximate those of
    training (min-max normalised raw maps of S_A at feature resolution).

    Parameters
    ----------
    delta_h, delta_l
        The mask's thresholds, ``delta_l < delta_h`` (SeeNet trains with 0.7 and 0.05).
    ignore_index
        Ground-truth value that is not counted (255).

    Examples
    --------
    >>> counter = TernaryZoneCounter()
    >>> attention = np.array([[[0.9, 0.5, 0.5, 0.01]]])  # (C=1, H=1, W=4)
    >>> counter.update(attention, np.array([1]), np.array([[1, 1, 0, 0]]))
    >>> counter.compute().counts.tolist()
    [[1, 1, 0], [0, 1, 1]]
    """

    def __init__(
        self, delta_h: float = 0.7, delta_l: float = 0.05, ignore_index: int = 255
    ) -> None:
        check_thresholds(delta_h, delta_l)
        self.delta_h, self.delta_l = float(delta_h), float(delta_l)
        self.ignore_index = check_int("ignore_index", ignore_index)
        self._counts = np.zeros((2, 3), dtype=np.int64)

    def update(self, attention: ArrayLike, classes: ArrayLike, target: ArrayLike) -> None:
        """Add one image: ``attention`` ``(C, H, W)`` in [0, 1], ``classes`` ``(C,)``
        multi-hot, ``target`` ``(H, W)`` integer labels (0 background)."""
        att, present, tgt = _attention_inputs(attention, classes, target, None)
        chosen = att[present.astype(bool)]
        peak = chosen.max(axis=0) if chosen.shape[0] else np.zeros(att.shape[1:])
        zone = np.where(peak > self.delta_h, 0, np.where(peak < self.delta_l, 2, 1))
        objects = (tgt > 0) & (tgt != self.ignore_index)
        self._counts[0] += np.bincount(zone[objects], minlength=3)
        self._counts[1] += np.bincount(zone[tgt == 0], minlength=3)

    def compute(self) -> ZoneShares:
        """The counts so far as :class:`ZoneShares`."""
        return ZoneShares(self._counts.copy())


# --------------------------------------------------------------------------------------------
# Attention on the parts of the objects (a diagnostic for data whose parts are known)

#: The regions of :class:`AttentionProfile`, in its order.
PROFILE_REGIONS: tuple[str, ...] = ("part", "body", "near background", "far background")


@dataclass(frozen=True)
class AttentionProfile:
    """Mean attention of each object's own class on its part, its body and the background.

    The failure SeeNet exists to fix is a class map that is high on an object's
    discriminative part and low on the rest of its body; the cure must raise the body without
    raising the background next to the object. These means say which of the two limits a map:
    a map whose body is nearly as high as its part but whose *near* background is high too is
    limited by blur at the object border, which erasing cannot fix.

    Attributes
    ----------
    sums, counts
        ``float64`` / ``int64`` ``(4,)``: the attention summed over, and the number of, the
        (object, pixel) pairs of each region of :data:`PROFILE_REGIONS`.
    radius
        Pixels from an object within which background counts as *near*.

    Examples
    --------
    >>> profile = AttentionProfile(np.array([1.8, 3.0, 1.0, 0.5]), np.array([2, 6, 4, 10]), 8)
    >>> profile.means.round(2).tolist()
    [0.9, 0.5, 0.25, 0.05]
    >>> profile.as_dict()["body"]
    0.5
    """

    sums: np.ndarray
    counts: np.ndarray
    radius: int

    @property
    def means(self) -> np.ndarray:
        """``(4,)`` mean attention per region (NaN for a region with no pixel)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sums / np.maximum(self.counts, 1), np.nan)

    def as_dict(self) -> dict[str, float]:
        """``{region: mean}`` in the order of :data:`PROFILE_REGIONS`."""
        return {name: float(m) for name, m in zip(PROFILE_REGIONS, self.means)}


class AttentionProfileCounter:
    """Accumulate :class:`AttentionProfile`: attention on parts, bodies and background.

    For every class ``c`` of an image, its map ``A_c`` is read on four regions: the *part*
    pixels of its objects (``target == c + 1`` and ``parts``), their *body* (the other object
    pixels), the *near background* (``target == 0`` within ``radius`` pixels, chessboard
    distance, of an object of class ``c``) and the *far background* (``target == 0`` farther
    than ``radius`` from every labelled pixel). Means are pooled over pixels and classes of
    all the images added, so large objects weigh more, as they do in mIoU.

    Parameters
    ----------
    radius
        Width in pixels of the near-background ring (>= 1).
    ignore_index
        Ground-truth value of unlabelled pixels (counted in no region).

    Examples
    --------
    One 1x6 image of class 0: a part pixel, two body pixels, then background.

    >>> counter = AttentionProfileCounter(radius=1)
    >>> attention = np.array([[[1.0, 0.5, 0.3, 0.2, 0.0, 0.0]]])
    >>> target = np.array([[1, 1, 1, 0, 0, 0]])
    >>> parts = np.array([[True, False, False, False, False, False]])
    >>> counter.update(attention, np.array([1]), target, parts)
    >>> counter.compute().as_dict()
    {'part': 1.0, 'body': 0.4, 'near background': 0.2, 'far background': 0.0}
    """

    def __init__(self, radius: int = 8, ignore_index: int = 255) -> None:
        self.radius = check_int("radius", radius, minimum=1, maximum=MAX_SIDE)
        self.ignore_index = check_int("ignore_index", ignore_index)
        self._sums = np.zeros(len(PROFILE_REGIONS), dtype=np.float64)
        self._counts = np.zeros(len(PROFILE_REGIONS), dtype=np.int64)

    def _grow(self, mask: np.ndarray) -> np.ndarray:
        """Chessboard dilation by ``radius``: a separable max filter (a square window)."""
        size = 2 * self.radius + 1
        grown = ndimage.maximum_filter(mask.astype(np.uint8), size=size, mode="constant", cval=0)
        return grown.astype(bool)

    def update(
        self, attention: ArrayLike, classes: ArrayLike, target: ArrayLike, parts: ArrayLike
    ) -> None:
        """Add one image.

        Parameters
        ----------
        attention
            ``(C, H, W)`` float in [0, 1], one map per foreground class.
        classes
            ``(C,)`` multi-hot image labels.
        target
            ``(H, W)`` integer ground truth (0 background, ``c + 1`` class ``c``).
        parts
            ``(H, W)`` bool (or 0/1): where the objects' discriminative parts are.
        """
        att, present, tgt = _attention_inputs(attention, classes, target, None)
        part = _to_numpy("parts", parts)
        if part.shape != tgt.shape:
            raise ValueError(
                f"parts: shape {tuple(part.shape)} does not match the target's {tuple(tgt.shape)}"
            )
        if part.dtype != bool:
            if part.dtype.kind not in "iuf" or not np.isin(part, (0, 1)).all():
                raise ValueError("parts: expected a bool mask (or 0/1 values)")
            part = part.astype(bool)
        background = tgt == 0
        far = background & ~self._grow((tgt != 0) & (tgt != self.ignore_index))
        for c in np.flatnonzero(present):
            objects = tgt == c + 1
            regions = (
                objects & part,
                objects & ~part,
                background & self._grow(objects),
                far,
            )
            for k, region in enumerate(regions):
                self._sums[k] += float(att[c][region].sum(dtype=np.float64))
                self._counts[k] += int(region.sum())

    def compute(self) -> AttentionProfile:
        """The means so far as :class:`AttentionProfile`."""
        return AttentionProfile(self._sums.copy(), self._counts.copy(), self.radius)
