"""The CAM background-threshold curve: :class:`CAMThresholdCurve` accumulates, for many
thresholds at once, the segmentation that attention maps give; :class:`ThresholdCurve` holds
the result. Its best point is tuned on the ground truth (an oracle, :data:`ORACLE_NOTE`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .scores import (
    ArrayLike,
    SegmentationScores,
    _all_reduce_sum,
    _attention_inputs,
    _check_ignore_index,
    _check_num_classes,
    _default_names,
    _json_float,
    _readonly,
    _valid_targets,
)

__all__ = ["ORACLE_NOTE", "CAMThresholdCurve", "ThresholdCurve"]

#: The caveat that travels with every best point of a :class:`ThresholdCurve`.
ORACLE_NOTE = "tuned on ground truth: an oracle, not a test score"

@dataclass(frozen=True, eq=False)
class ThresholdCurve:
    """mIoU of attention maps as a function of the background threshold.

    Attributes
    ----------
    thresholds
        ``(T,)`` float64 background thresholds, increasing.
    miou
        ``(T,)`` float64 mIoU at each threshold: the whole curve, which is the fair thing to
        report or plot.
    best_threshold
        The threshold of highest mIoU. It is **tuned on the ground truth** (an oracle choice):
        ``best_miou`` is an upper bound for this attention, not a fair test number; a fair
        protocol fixes the threshold beforehand or picks it on a separate split.
    best_miou
        The mIoU at ``best_threshold`` (same caveat: tuned on ground truth).

    Examples
    --------
    >>> counter = CAMThresholdCurve([0.2, 0.5], num_classes=2)
    >>> counter.update(np.array([[[0.9, 0.4, 0.1]]]), np.array([1]), np.array([[1, 1, 0]]))
    >>> curve = counter.compute()
    >>> curve.thresholds, curve.miou
    (array([0.2, 0.5]), array([1. , 0.5]))
    >>> curve.best_threshold, curve.best_miou, curve.to_dict()["best_note"] == ORACLE_NOTE
    (0.2, 1.0, True)
    """

    thresholds: np.ndarray
    miou: np.ndarray
    best_threshold: float
    best_miou: float

    def summary(self) -> str:
        """One line for logs, with the oracle caveat spelled out.

        Examples
        --------
        >>> curve = ThresholdCurve(np.array([0.1, 0.2]), np.array([0.4, 0.5]), 0.2, 0.5)
        >>> curve.summary()[:48]
        'best mIoU 50.0 % at background threshold 0.2 (tu'
        """
        return (
            f"best mIoU {100 * self.best_miou:.1f} % at background threshold "
            f"{self.best_threshold:.3g} ({ORACLE_NOTE})"
        )

    def to_dict(self) -> dict[str, object]:
        """Plain Python values for a JSON line (NaN becomes ``None``)."""
        return {
            "thresholds": [float(t) for t in self.thresholds],
            "miou": [_json_float(v) for v in self.miou.tolist()],
            "best_threshold": _json_float(self.best_threshold),
            "best_miou": _json_float(self.best_miou),
            "best_note": ORACLE_NOTE,
        }


def _check_curve_thresholds(thresholds: object) -> np.ndarray:
    if isinstance(thresholds, torch.Tensor):
        thresholds = thresholds.detach().cpu().numpy()
    try:
        t = np.asarray(thresholds, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"thresholds: expected a sequence of floats ({err})") from None
    if t.ndim != 1 or t.size == 0:
        raise ValueError(f"thresholds: expected a non-empty 1-D sequence, got shape {t.shape}")
    if not np.isfinite(t).all():
        raise ValueError("thresholds: contains NaN or infinite values")
    if t.size > 1 and not (np.diff(t) > 0).all():
        raise ValueError("thresholds: must be strictly increasing")
    return t


class CAMThresholdCurve:
    """Accumulate, for many background thresholds at once, the segmentation that CAMs give.

    At background threshold ``t`` the label of a pixel is the argmax over
    ``[t, A_c for the image's classes c]``: background (0) when no class of the image has
    attention above ``t`` (a tie goes to background), else ``c + 1`` for the class ``c`` of highest
    attention (the lowest index on a tie). Classes absent from the image are never predicted.
    Comparisons are made in float64.

    Implementation: each counted pixel falls in bin ``j = #{thresholds < m}`` where ``m`` is its
    highest image-class attention; it is foreground ``f`` for thresholds ``0 .. j-1`` and
    background from ``j`` on. One ``np.bincount`` per image fills a ``(T + 1, K, K)`` histogram
    of (bin, ground truth, foreground label); :meth:`compute` turns it into the ``T`` confusion
    matrices with two cumulative sums, so no loop runs over pixels or thresholds.

    Parameters
    ----------
    thresholds
        Increasing background thresholds; default ``0, 0.05, ..., 1`` (21 values).
    num_classes
        ``K``, background included; attention maps have ``K - 1`` channels.
    ignore_index
        Target value to skip (255), or ``None``.
    class_names
        As in :class:`ConfusionMatrix`.

    Examples
    --------
    >>> curve = CAMThresholdCurve([0.2, 0.5], num_classes=2)
    >>> attention = np.array([[[0.9, 0.4, 0.1]]])  # (C=1, H=1, W=3)
    >>> curve.update(attention, np.array([1]), np.array([[1, 1, 0]]))
    >>> result = curve.compute()
    >>> result.miou.tolist()  # t=0.2: labels 1 1 0 (all right); t=0.5: labels 1 0 0
    [1.0, 0.5]
    >>> result.best_threshold
    0.2
    """

    def __init__(
        self,
        thresholds: Sequence[float] | np.ndarray | None = None,
        num_classes: int = 21,
        ignore_index: int | None = 255,
        class_names: Sequence[str] | None = None,
    ) -> None:
        if thresholds is None:
            thresholds = np.round(np.arange(0.0, 1.0001, 0.05), 2)
        self.thresholds = _readonly(_check_curve_thresholds(thresholds))
        self.num_classes = _check_num_classes(num_classes)
        if self.num_classes < 2:
            raise ValueError("num_classes: needs background plus at least one class, got 1")
        self.ignore_index = _check_ignore_index(ignore_index, self.num_classes)
        self.class_names = _default_names(self.num_classes, class_names)
        k = self.num_classes
        self._hist = np.zeros((self.thresholds.size + 1, k, k), dtype=np.int64)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.thresholds.size} thresholds, "
            f"num_classes={self.num_classes}, pixels={int(self._hist.sum())})"
        )

    def update(self, attention: ArrayLike, classes: ArrayLike, target: ArrayLike) -> None:
        """Add one image.

        Parameters
        ----------
        attention
            ``(C, H, W)`` float in [0, 1], one map per foreground class (``C = K - 1``); maps of
            classes absent from the image are not used (zeros by convention).
        classes
            ``(C,)`` multi-hot image labels (0/1 or bool).
        target
            ``(H, W)`` integer ground truth: ``0 .. K-1`` or ``ignore_index``.
        """
        att, present, tgt = _attention_inputs(attention, classes, target, self.num_classes - 1)

        t, mask = _valid_targets(tgt, self.num_classes, self.ignore_index)
        if t.size == 0:
            return
        present = present.astype(bool)
        n_thresholds = self.thresholds.size
        if present.any():
            idx = np.flatnonzero(present)
            scores = att[idx].reshape(idx.size, -1)
            if mask is not None:
                scores = scores[:, mask]
            best = scores.argmax(axis=0)
            top = scores[best, np.arange(scores.shape[1])].astype(np.float64)
            foreground = idx[best] + 1
            # number of thresholds strictly below the top attention: foreground for those
            level = np.searchsorted(self.thresholds, top, side="left")
        else:  # no class to predict: background at every threshold
            foreground = np.zeros_like(t)
            level = np.zeros_like(t)
        k = self.num_classes
        flat = (level.astype(np.int64) * k + t) * k + foreground
        self._hist += np.bincount(flat, minlength=(n_thresholds + 1) * k * k).reshape(
            n_thresholds + 1, k, k
        )

    def confusion_matrices(self) -> np.ndarray:
        """The ``(T, K, K)`` int64 confusion matrices, one per threshold."""
        # A pixel in bin b is foreground at thresholds i < b and background at i >= b, so
        # matrix i = (ground truth, foreground) pairs of the bins b > i ...
        above = np.cumsum(self._hist[::-1], axis=0)[::-1][1:]
        # ... plus, in the background column, the ground-truth counts of the bins b <= i.
        below = np.cumsum(self._hist.sum(axis=2), axis=0)[:-1]
        matrices = above.copy()
        matrices[:, :, 0] += below
        return matrices

    def scores_at(self, threshold: float) -> SegmentationScores:
        """Full :class:`SegmentationScores` at one of the curve's thresholds."""
        hits = np.flatnonzero(np.isclose(self.thresholds, threshold, rtol=0, atol=1e-12))
        if hits.size == 0:
            raise ValueError(
                f"threshold: {threshold} is not one of the curve's thresholds "
                f"{self.thresholds.tolist()}"
            )
        return SegmentationScores.from_matrix(self.confusion_matrices()[hits[0]], self.class_names)

    def merge(self, other: CAMThresholdCurve) -> CAMThresholdCurve:
        """Add the counts of ``other`` (same thresholds and classes); return ``self``."""
        if not isinstance(other, CAMThresholdCurve):
            raise TypeError(f"other: expected a CAMThresholdCurve, got {type(other).__name__}")
        if other._hist.shape != self._hist.shape or not np.array_equal(
            other.thresholds, self.thresholds
        ):
            raise ValueError("other: has different thresholds or number of classes")
        self._hist += other._hist
        return self

    def reset(self) -> None:
        """Set every count back to zero."""
        self._hist[...] = 0

    def all_reduce(self) -> CAMThresholdCurve:
        """Sum the counts over all ``torch.distributed`` ranks (no-op without a process group)."""
        self._hist = _all_reduce_sum(self._hist)
        return self

    def compute(self) -> ThresholdCurve:
        """Return the mIoU at every threshold and the (ground-truth-tuned) best point."""
        mious = np.array(
            [
                SegmentationScores.from_matrix(m, self.class_names).miou
                for m in self.confusion_matrices()
            ],
            dtype=np.float64,
        )
        if np.isnan(mious).all():
            best_t, best_m = math.nan, math.nan
        else:
            j = int(np.nanargmax(mious))
            best_t, best_m = float(self.thresholds[j]), float(mious[j])
        return ThresholdCurve(
            thresholds=self.thresholds,
            miou=_readonly(mious),
            best_threshold=best_t,
            best_miou=best_m,
        )
