"""Segmentation scores from one confusion matrix, and the CAM background-threshold curve.

The PASCAL VOC protocol (:ref:`How SeeNet works, section 7 <seenet-deeplab>`): accumulate ONE
confusion matrix over the
whole split, rows = ground truth, columns = prediction, pixels labelled ``ignore_index`` (255)
skipped; then per class ``k``

.. math::

    \\mathrm{IoU}_k = \\frac{M_{kk}}{\\sum_j M_{kj} + \\sum_i M_{ik} - M_{kk}},

and mIoU is the mean over the classes that occur in the ground truth or the prediction (a class
absent from both has an undefined IoU, reported as NaN and left out of the mean). Averaging
per-image IoUs instead gives a different, non-standard number.

:class:`CAMThresholdCurve` scores attention maps (CAMs) directly: at background threshold ``t`` a
pixel is labelled with the image class of highest attention, or background when no class beats
``t``. Its best point is chosen on the ground truth, so it is an oracle number, not a test score.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from wsss._validation import (
    MAX_COUNT,
    check_int,
    check_integer_dtype,
    to_numpy,
)
from wsss.data.sample import VOC_CLASSES

__all__ = [
    "ORACLE_NOTE",
    "VOC_LABEL_NAMES",
    "CAMThresholdCurve",
    "ConfusionMatrix",
    "SegmentationScores",
    "ThresholdCurve",
    "mean_iou",
]

#: Names of the 21 PASCAL VOC labels: background (0), then the 20 object classes.
VOC_LABEL_NAMES: tuple[str, ...] = ("background", *VOC_CLASSES)

ArrayLike = np.ndarray | torch.Tensor

#: The caveat that travels with every best point of a :class:`ThresholdCurve`.
ORACLE_NOTE = "tuned on ground truth: an oracle, not a test score"


# --------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------


#: Shared checks under the names the counters below use.
_to_numpy = to_numpy
_check_integer = check_integer_dtype


def _check_num_classes(num_classes: object) -> int:
    return check_int("num_classes", num_classes, minimum=1, maximum=MAX_COUNT)


def _check_ignore_index(ignore_index: object, num_classes: int) -> int | None:
    if ignore_index is None:
        return None
    ignore_index = check_int("ignore_index", ignore_index)
    if 0 <= ignore_index < num_classes:
        raise ValueError(
            f"ignore_index: {ignore_index} is a class label (0..{num_classes - 1}); "
            "choose a value outside the label range"
        )
    return int(ignore_index)


def _default_names(num_classes: int, class_names: Sequence[str] | None) -> tuple[str, ...]:
    if class_names is None:
        if num_classes == len(VOC_LABEL_NAMES):
            return VOC_LABEL_NAMES
        return tuple(f"class_{k}" for k in range(num_classes))
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, Sequence):
        raise TypeError(
            f"class_names: expected a sequence of names, got {type(class_names).__name__}"
        )
    names = tuple(str(n) for n in class_names)
    if len(names) != num_classes:
        raise ValueError(f"class_names: expected {num_classes} names, got {len(names)}")
    return names


def _attention_inputs(
    attention: ArrayLike, classes: ArrayLike, target: ArrayLike, num_maps: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Check one image's attention ``(C, H, W)`` in [0, 1], multi-hot ``classes`` ``(C,)`` and
    integer ``target`` ``(H, W)``; ``num_maps`` fixes ``C`` (``None``: any)."""
    att = _to_numpy("attention", attention)
    present = _to_numpy("classes", classes)
    tgt = _to_numpy("target", target)
    if att.dtype.kind != "f":
        raise TypeError(f"attention: expected a floating-point dtype, got {att.dtype}")
    if att.ndim != 3 or (num_maps is not None and att.shape[0] != num_maps):
        expected = "C" if num_maps is None else num_maps
        raise ValueError(f"attention: expected shape ({expected}, H, W), got {tuple(att.shape)}")
    c = att.shape[0]
    if not np.isfinite(att).all():
        raise ValueError("attention: contains NaN or infinite values")
    if att.size and (att.min() < 0 or att.max() > 1):
        lo, hi = float(att.min()), float(att.max())
        raise ValueError(f"attention: values must lie in [0, 1], got range [{lo:.4g}, {hi:.4g}]")
    if present.dtype.kind not in "biuf":
        raise TypeError(f"classes: expected a numeric or bool dtype, got {present.dtype}")
    if present.shape != (c,):
        raise ValueError(f"classes: expected shape ({c},), got {tuple(present.shape)}")
    if not np.isin(present, (0, 1)).all():
        raise ValueError("classes: multi-hot labels must contain only 0 and 1")
    _check_integer("target", tgt)
    if tgt.shape != att.shape[1:]:
        raise ValueError(
            f"target: shape {tuple(tgt.shape)} does not match the attention's "
            f"{tuple(att.shape[1:])}"
        )
    return att, present, tgt


def _valid_targets(
    target: np.ndarray, num_classes: int, ignore_index: int | None, name: str = "target"
) -> tuple[np.ndarray, np.ndarray | None]:
    """Return the flat int64 target labels that count, and the flat mask that selects them.

    The mask is ``None`` when every pixel counts.
    """
    flat = target.reshape(-1)
    mask = None if ignore_index is None else flat != ignore_index
    kept = flat if mask is None else flat[mask]
    if kept.size and (int(kept.min()) < 0 or int(kept.max()) >= num_classes):
        bad = kept[(kept < 0) | (kept >= num_classes)]
        raise ValueError(
            f"{name}: values must be class labels 0..{num_classes - 1} or the ignore index "
            f"{ignore_index}, found {np.unique(bad)[:8].tolist()}"
        )
    return kept.astype(np.int64, copy=False), mask


def _all_reduce_sum(array: np.ndarray) -> np.ndarray:
    """Sum an int64 array over the ranks of the default process group (a copy without one)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return array.copy()
    device = torch.device("cpu")
    if dist.get_backend() == "nccl":
        device = torch.device("cuda", torch.cuda.current_device())
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.int64)).to(device)
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.cpu().numpy()


def _readonly(x: np.ndarray) -> np.ndarray:
    x = np.array(x, copy=True)
    x.flags.writeable = False
    return x


def _nanmean(x: np.ndarray) -> float:
    """Mean over the finite entries, NaN (without a warning) when there are none."""
    finite = x[~np.isnan(x)]
    return float(finite.mean()) if finite.size else math.nan


def _safe_ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.full(num.shape, np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _json_float(x: float) -> float | None:
    return None if math.isnan(x) else float(x)


# --------------------------------------------------------------------------------------------
# Scores
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SegmentationScores:
    """Scores of one confusion matrix (see :meth:`ConfusionMatrix.compute`).

    Per-class arrays have shape ``(K,)``, dtype float64, and hold NaN where the score is
    undefined: IoU for a class absent from both ground truth and prediction, recall for a class
    absent from the ground truth, precision for a class never predicted.

    Attributes
    ----------
    iou
        ``TP / (TP + FP + FN)`` per class.
    miou
        Mean of ``iou`` over its defined entries (absent classes excluded).
    pixel_accuracy
        ``sum TP / number of counted pixels``.
    mean_class_accuracy
        Mean of ``recall`` over its defined entries.
    precision
        ``TP / (TP + FP)`` per class: of the pixels predicted as ``k``, the share that are ``k``
        (for pseudo labels: how clean the label is).
    recall
        ``TP / (TP + FN)`` per class: of the pixels of class ``k``, the share predicted as ``k``
        (for pseudo labels: how much of the object the label covers).
    class_names
        One name per class, in label order.

    Examples
    --------
    >>> matrix = np.array([[3, 1, 0], [0, 2, 0], [0, 0, 0]])  # rows: ground truth; no dog
    >>> scores = SegmentationScores.from_matrix(matrix, ("background", "cat", "dog"))
    >>> scores.iou.round(4), round(scores.miou, 4)  # IoU = (3/4, 2/3, undefined)
    (array([0.75  , 0.6667,    nan]), 0.7083)
    >>> scores.precision.round(4), scores.recall, round(scores.pixel_accuracy, 4)
    (array([1.    , 0.6667,    nan]), array([0.75, 1.  ,  nan]), 0.8333)
    """

    iou: np.ndarray
    miou: float
    pixel_accuracy: float
    mean_class_accuracy: float
    precision: np.ndarray
    recall: np.ndarray
    class_names: tuple[str, ...]

    @classmethod
    def from_matrix(cls, matrix: np.ndarray, class_names: Sequence[str]) -> SegmentationScores:
        """Compute the scores of a ``(K, K)`` confusion matrix (rows ground truth).

        ``matrix`` holds non-negative finite counts (numpy or torch); ``class_names`` has ``K``
        names.
        """
        m = to_numpy("matrix", matrix)
        if m.dtype.kind not in "iuf":
            raise TypeError(f"matrix: expected counts of a numeric dtype, got {m.dtype}")
        if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] == 0:
            raise ValueError(f"matrix: expected a square (K, K) matrix, got shape {m.shape}")
        m = m.astype(np.float64)
        if not np.isfinite(m).all():
            raise ValueError("matrix: contains NaN or infinite values")
        if (m < 0).any():
            raise ValueError("matrix: counts must be non-negative")
        if isinstance(class_names, (str, bytes)) or not isinstance(class_names, Sequence):
            raise TypeError(
                f"class_names: expected a sequence of names, got {type(class_names).__name__}"
            )
        if len(class_names) != m.shape[0]:
            raise ValueError(
                f"class_names: expected {m.shape[0]} names, got {len(class_names)}"
            )
        tp = np.diag(m)
        gt = m.sum(axis=1)
        pred = m.sum(axis=0)
        iou = _safe_ratio(tp, gt + pred - tp)
        recall = _safe_ratio(tp, gt)
        total = m.sum()
        return cls(
            iou=_readonly(iou),
            miou=_nanmean(iou),
            pixel_accuracy=float(tp.sum() / total) if total > 0 else math.nan,
            mean_class_accuracy=_nanmean(recall),
            precision=_readonly(_safe_ratio(tp, pred)),
            recall=_readonly(recall),
            class_names=tuple(class_names),
        )

    def to_table(self, digits: int = 1) -> str:
        """Return a Markdown table of the per-class IoU in percent, with the mIoU last.

        Undefined entries (classes absent from both ground truth and prediction) show ``-``.

        Examples
        --------
        >>> cm = ConfusionMatrix(num_classes=2, class_names=("background", "cat"))
        >>> cm.update(np.array([0, 1, 1]), np.array([0, 1, 0]))
        >>> print(cm.compute().to_table())
        | class | IoU (%) |
        |---|---:|
        | background | 50.0 |
        | cat | 50.0 |
        | **mIoU** | **50.0** |
        """

        def pct(x: float) -> str:
            return "-" if math.isnan(x) else f"{100 * x:.{digits}f}"

        rows = ["| class | IoU (%) |", "|---|---:|"]
        rows += [f"| {n} | {pct(v)} |" for n, v in zip(self.class_names, self.iou.tolist())]
        rows.append(f"| **mIoU** | **{pct(self.miou)}** |")
        return "\n".join(rows)

    def to_dict(self) -> dict[str, object]:
        """Return plain Python values for a JSON line (NaN becomes ``None``).

        Examples
        --------
        >>> cm = ConfusionMatrix(num_classes=2, class_names=("bg", "cat"))
        >>> cm.update(np.array([0, 0]), np.array([0, 0]))
        >>> d = cm.compute().to_dict()
        >>> d["miou"], d["iou"]
        (1.0, {'bg': 1.0, 'cat': None})
        """

        def per_class(values: np.ndarray) -> dict[str, float | None]:
            return {n: _json_float(v) for n, v in zip(self.class_names, values.tolist())}

        return {
            "miou": _json_float(self.miou),
            "pixel_accuracy": _json_float(self.pixel_accuracy),
            "mean_class_accuracy": _json_float(self.mean_class_accuracy),
            "iou": per_class(self.iou),
            "precision": per_class(self.precision),
            "recall": per_class(self.recall),
        }


# --------------------------------------------------------------------------------------------
# Confusion matrix
# --------------------------------------------------------------------------------------------


class ConfusionMatrix:
    """A ``(K, K)`` int64 confusion matrix accumulated over many images.

    ``matrix[g, p]`` counts the pixels whose ground truth is ``g`` and prediction is ``p``;
    pixels whose target is ``ignore_index`` are skipped.

    Parameters
    ----------
    num_classes
        ``K``, background included (21 on PASCAL VOC).
    ignore_index
        Target value to skip (255), or ``None``. It must not be a class label.
    class_names
        ``K`` names for the reports; default: background + the VOC classes when ``K == 21``,
        else ``class_0 ... class_{K-1}``.

    Examples
    --------
    >>> cm = ConfusionMatrix(num_classes=3)
    >>> cm.update(np.array([[0, 1], [2, 2]]), np.array([[0, 1], [1, 255]]))
    >>> cm.matrix
    array([[1, 0, 0],
           [0, 1, 1],
           [0, 0, 0]])
    >>> round(cm.compute().miou, 4)  # IoU = (1, 1/2, 0)
    0.5
    """

    def __init__(
        self,
        num_classes: int = 21,
        ignore_index: int | None = 255,
        class_names: Sequence[str] | None = None,
    ) -> None:
        self.num_classes = _check_num_classes(num_classes)
        self.ignore_index = _check_ignore_index(ignore_index, self.num_classes)
        self.class_names = _default_names(self.num_classes, class_names)
        self._matrix = np.zeros((self.num_classes, self.num_classes), dtype=np.int64)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(num_classes={self.num_classes}, "
            f"ignore_index={self.ignore_index}, pixels={int(self._matrix.sum())})"
        )

    @property
    def matrix(self) -> np.ndarray:
        """Read-only copy of the ``(K, K)`` int64 counts (rows ground truth, columns prediction)."""
        return _readonly(self._matrix)

    def update(self, prediction: ArrayLike, target: ArrayLike) -> None:
        """Add one batch of labelled pixels.

        Parameters
        ----------
        prediction
            Integer labels in ``[0, K)``, any shape (e.g. ``(H, W)`` or ``(N, H, W)``); pixels
            whose target is ``ignore_index`` are not read. To score pseudo labels that contain
            ignore pixels, ignore those in the target too: ``np.where(pred == 255, 255, target)``.
        target
            Integer labels of the same shape: ``0 .. K-1`` or ``ignore_index``.

        Notes
        -----
        One vectorised ``np.bincount(K * target + prediction, minlength=K * K)`` over the
        counted pixels.
        """
        self._update(prediction, target, ("prediction", "target"))

    def _update(self, prediction: ArrayLike, target: ArrayLike, names: tuple[str, str]) -> None:
        """:meth:`update`, with the argument names its errors start with."""
        pname, tname = names
        pred = _to_numpy(pname, prediction)
        tgt = _to_numpy(tname, target)
        _check_integer(pname, pred)
        _check_integer(tname, tgt)
        if pred.shape != tgt.shape:
            raise ValueError(
                f"{pname}: shape {tuple(pred.shape)} does not match {tname} {tuple(tgt.shape)}"
            )
        k = self.num_classes
        t, mask = _valid_targets(tgt, k, self.ignore_index, tname)
        p = pred.reshape(-1) if mask is None else pred.reshape(-1)[mask]
        if p.size and (int(p.min()) < 0 or int(p.max()) >= k):
            raise ValueError(
                f"{pname}: values must lie in [0, {k}), got range "
                f"[{int(p.min())}, {int(p.max())}] on the counted pixels"
            )
        counts = np.bincount(k * t + p.astype(np.int64, copy=False), minlength=k * k)
        self._matrix += counts.reshape(k, k)

    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add the counts of ``other`` (same ``num_classes``) to this matrix; return ``self``."""
        if not isinstance(other, ConfusionMatrix):
            raise TypeError(f"other: expected a ConfusionMatrix, got {type(other).__name__}")
        if other.num_classes != self.num_classes:
            raise ValueError(
                f"other: has {other.num_classes} classes, this matrix has {self.num_classes}"
            )
        self._matrix += other._matrix
        return self

    def reset(self) -> None:
        """Set every count back to zero."""
        self._matrix[...] = 0

    def all_reduce(self) -> ConfusionMatrix:
        """Sum the matrix over all ``torch.distributed`` ranks (no-op without a process group).

        Every rank must call it (it is a collective); afterwards every rank holds the total.
        Returns ``self``.
        """
        self._matrix = _all_reduce_sum(self._matrix)
        return self

    def compute(self) -> SegmentationScores:
        """Return the :class:`SegmentationScores` of the counts so far."""
        return SegmentationScores.from_matrix(self._matrix, self.class_names)


def _as_list(name: str, arrays: object) -> list:
    if isinstance(arrays, (str, bytes)) or not isinstance(arrays, Iterable):
        raise TypeError(
            f"{name}: expected an array or a sequence of arrays, got {type(arrays).__name__}"
        )
    return list(arrays)


def mean_iou(
    predictions: ArrayLike | Iterable[ArrayLike],
    targets: ArrayLike | Iterable[ArrayLike],
    num_classes: int = 21,
    ignore_index: int | None = 255,
) -> float:
    """mIoU of predictions against targets from one confusion matrix (one-shot form).

    Parameters
    ----------
    predictions, targets
        One integer array each (any matching shape), or two equally long sequences of arrays
        (images of different sizes).
    num_classes, ignore_index
        As in :class:`ConfusionMatrix`.

    Returns
    -------
    float
        The mIoU over the classes present in the ground truth or the prediction (NaN when no
        pixel counts). Use :class:`ConfusionMatrix` for the per-class scores.

    Examples
    --------
    >>> mean_iou(np.array([0, 1, 1, 0]), np.array([0, 1, 0, 255]), num_classes=2)
    0.5
    """
    cm = ConfusionMatrix(num_classes, ignore_index)
    if isinstance(predictions, (np.ndarray, torch.Tensor)) or isinstance(
        targets, (np.ndarray, torch.Tensor)
    ):
        cm._update(predictions, targets, ("predictions", "targets"))  # type: ignore[arg-type]
    else:
        preds, tgts = _as_list("predictions", predictions), _as_list("targets", targets)
        if len(preds) != len(tgts):
            raise ValueError(f"predictions: {len(preds)} arrays but {len(tgts)} targets")
        for p, t in zip(preds, tgts):
            cm._update(p, t, ("predictions", "targets"))
    return cm.compute().miou


# --------------------------------------------------------------------------------------------
# CAM threshold curve
# --------------------------------------------------------------------------------------------


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
