"""Segmentation scores from one confusion matrix: :class:`ConfusionMatrix`,
:class:`SegmentationScores`, :func:`mean_iou` (and the argument checks the metrics share)."""

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

__all__ = ["VOC_LABEL_NAMES", "ConfusionMatrix", "SegmentationScores", "mean_iou"]

#: Names of the 21 PASCAL VOC labels: background (0), then the 20 object classes.
VOC_LABEL_NAMES: tuple[str, ...] = ("background", *VOC_CLASSES)

ArrayLike = np.ndarray | torch.Tensor


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
