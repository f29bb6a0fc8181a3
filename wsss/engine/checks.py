"""Did a network learn? Checks a run applies to its trainings, with numbers a user can act on.

A weakly supervised pipeline fails quietly when a classifier never learns its image labels: the
attention is noise, the proxy labels are noise, and the final mIoU is low for a reason that has
nothing to do with the method. Two checks catch the common cases:

- :func:`classifier_check`: the final training loss of a classifier against the loss of always
  predicting each class's frequency (the *base-rate* loss, the best a network that ignores the
  image can do);
- :func:`segmentation_check`: the classes of the ground truth that a segmentation network never
  gets right (IoU below a floor).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .._validation import check_real
from ..data.sample import Sample
from ..data.subset import image_labels
from ..metrics import SegmentationScores

__all__ = ["base_rate_loss", "class_frequencies", "class_weighting_hint", "classifier_check",
           "segmentation_check"]


def class_frequencies(dataset: Sequence[Sample]) -> np.ndarray:
    """``float64`` ``(C,)``: the share of images that contain each class.

    Examples
    --------
    >>> from wsss.data import Sample
    >>> image = np.zeros((1, 1, 3), np.uint8)
    >>> data = [Sample("a", image, np.array([1, 0], np.float32)),
    ...         Sample("b", image, np.array([1, 1], np.float32))]
    >>> class_frequencies(data).tolist()
    [1.0, 0.5]
    """
    if isinstance(dataset, (str, bytes)) or not hasattr(dataset, "__getitem__"):
        raise TypeError(f"dataset: expected a dataset of samples, got {type(dataset).__name__}")
    if hasattr(dataset, "class_names"):
        labels = image_labels(dataset)  # a dataset's own labels, without decoding its images
    else:
        samples = [dataset[i] for i in range(len(dataset))]
        if not all(isinstance(sample, Sample) for sample in samples):
            raise TypeError("dataset: expected samples")
        labels = np.array([np.asarray(sample.classes) for sample in samples])
    if labels.shape[0] == 0:
        raise ValueError("dataset: expected at least one image")
    return (labels > 0).mean(axis=0, dtype=np.float64)


def base_rate_loss(frequencies: Sequence[float] | np.ndarray) -> float:
    """Mean binary cross-entropy of predicting each class's frequency ``p_c`` for every image.

    .. math::

        L_0 = -\\frac{1}{C} \\sum_c \\left[ p_c \\log p_c + (1 - p_c) \\log (1 - p_c) \\right]

    the loss of a classifier that ignores the image (classes with ``p_c`` of 0 or 1 add 0).

    Examples
    --------
    >>> round(base_rate_loss([0.5, 0.5]), 4)  # log 2
    0.6931
    >>> base_rate_loss([0.0, 1.0])
    0.0
    """
    if isinstance(frequencies, (str, bytes)) or not isinstance(frequencies, (Sequence, np.ndarray)):
        raise TypeError(f"frequencies: expected a sequence of shares, got "
                        f"{type(frequencies).__name__}")
    try:
        p = np.asarray(frequencies, np.float64)
    except (TypeError, ValueError):
        raise TypeError("frequencies: expected numbers (shares in [0, 1])") from None
    if p.ndim != 1 or p.size == 0 or not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"frequencies: expected shares in [0, 1], got {p.tolist()}")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = -(np.where(p > 0, p * np.log(p), 0.0)
                  + np.where(p < 1, (1 - p) * np.log1p(-p), 0.0))
    return float(terms.mean())


def classifier_check(
    name: str, final_loss: float, frequencies: Sequence[float] | np.ndarray, *,
    ratio: float = 0.8,
) -> str | None:
    """A warning when classifier ``name`` ended with a loss above ``ratio`` x the base-rate loss.

    ``final_loss`` is a per-class binary cross-entropy of the image labels (for SeeNet, its
    branch S_A's term). Returns ``None`` when the classifier learnt.

    Examples
    --------
    >>> print(classifier_check("seenet", 0.66, [0.5, 0.5]))
    seenet did not learn the image labels: final loss 0.660 against 0.693 ... (95%)
    >>> classifier_check("seenet", 0.2, [0.5, 0.5]) is None
    True
    """
    if isinstance(final_loss, bool) or not isinstance(final_loss, (int, float, np.number)):
        raise TypeError(f"final_loss: expected a number, got {type(final_loss).__name__}")
    ratio = check_real("ratio", ratio, minimum=0.0)
    if not math.isfinite(final_loss):
        return f"{name} did not learn the image labels: its final loss is {final_loss}"
    base = base_rate_loss(frequencies)
    if base > 0 and final_loss > ratio * base:
        return (f"{name} did not learn the image labels: final loss {final_loss:.3f} against "
                f"{base:.3f} for predicting each class's frequency ({final_loss / base:.0%})")
    return None


def segmentation_check(name: str, scores: SegmentationScores, *, floor: float = 0.05) -> list[str]:
    """Warnings for the classes of the ground truth on which ``name`` reached an IoU < ``floor``.

    Only classes present in the ground truth (a defined recall) are checked.

    Examples
    --------
    >>> from wsss.metrics import ConfusionMatrix
    >>> cm = ConfusionMatrix(3, class_names=("background", "cat", "dog"))
    >>> cm.update(np.array([[0, 1, 0]]), np.array([[0, 1, 2]]))
    >>> segmentation_check("DeepLab", cm.compute())
    ['DeepLab did not learn class dog (IoU 0.0%)']
    """
    if not isinstance(scores, SegmentationScores):
        raise TypeError(f"scores: expected SegmentationScores, got {type(scores).__name__}")
    floor = check_real("floor", floor, minimum=0.0, maximum=1.0)
    return [f"{name} did not learn class {cls} (IoU {iou:.1%})"
            for cls, iou, recall in zip(scores.class_names, scores.iou, scores.recall)
            if not math.isnan(recall) and iou < floor]


def class_weighting_hint(missed: Sequence[str], class_weighting: str) -> str | None:
    """What to try when DeepLab on the *ground truth* missed classes (``missed``: the warnings
    of :func:`segmentation_check`) and its loss was unweighted; ``None`` otherwise.

    Examples
    --------
    >>> hint = class_weighting_hint(["DeepLab on the ground truth did not learn class dog "
    ...                              "(IoU 0.0%)"], "none")
    >>> "--deeplab-class-weighting inverse" in hint
    True
    >>> class_weighting_hint([], "none") is None, class_weighting_hint(["..."], "inverse")
    (True, None)
    """
    if isinstance(missed, (str, bytes)) or not isinstance(missed, Sequence):
        raise TypeError(f"missed: expected a sequence of warnings, got {type(missed).__name__}")
    if not isinstance(class_weighting, str):
        raise TypeError(f"class_weighting: expected a str, got {type(class_weighting).__name__}")
    if not missed or class_weighting != "none":
        return None
    return ("DeepLab did not learn every class even from the ground truth: with many classes or "
            "scarce class evidence, try --deeplab-class-weighting inverse and a longer "
            "--deeplab-iterations (docs: Synthetic benchmark, 'Does the recipe learn every "
            "preset?')")
