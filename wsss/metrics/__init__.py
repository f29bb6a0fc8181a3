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

from .curve import ORACLE_NOTE, CAMThresholdCurve, ThresholdCurve
from .scores import VOC_LABEL_NAMES, ConfusionMatrix, SegmentationScores, mean_iou

__all__ = [
    "ORACLE_NOTE",
    "VOC_LABEL_NAMES",
    "CAMThresholdCurve",
    "ConfusionMatrix",
    "SegmentationScores",
    "ThresholdCurve",
    "mean_iou",
]
