"""Class-balancing weights of a pixel loss (:func:`class_balance_weights`).

On segmentation data the background holds most pixels and each foreground class a small
share, which shrinks as the number of classes grows. With an unweighted pixel cross-entropy the
foreground classes' distinctions then carry a small part of the gradient, and a network can sit
for a long time predicting "some object" without telling the classes apart. Weighting each
class by a power of its inverse pixel frequency gives each class an equal (``"inverse"``) or a
more even (``"sqrt_inverse"``) share of the loss; the weights are scaled so that a labelled
pixel weighs 1 on average, which keeps the loss's scale and hence the learning rate comparable.

A network trained with weights ``w`` predicts ``w_c p(c | x)`` (normalised) instead of the
posterior ``p(c | x)``, so it labels too many pixels with the up-weighted classes; adding
:func:`logit_adjustment` to its logits (to the last layer's bias) undoes that (Menon et al.,
*Long-tail learning via logit adjustment*, ICLR 2021).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor

from ._validation import check_choice, check_int
from .data.images import check_label_values
from .data.sample import IGNORE_INDEX

__all__ = ["CLASS_WEIGHTINGS", "class_balance_weights", "logit_adjustment", "pixel_class_counts"]

#: Weightings of a pixel loss: ``"none"`` (every class 1), ``"inverse"`` (``1 / f_c``) and
#: ``"sqrt_inverse"`` (``f_c ** -0.5``), before scaling to an average weight of 1.
CLASS_WEIGHTINGS: tuple[str, ...] = ("none", "inverse", "sqrt_inverse")

def _non_negative_vector(name: str, x: object) -> Tensor:
    """``x`` as float64 after checking that it is a non-empty 1-D real tensor of finite values
    >= 0 (errors name ``name``)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a Tensor, got {type(x).__name__}")
    if x.dim() != 1 or x.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D tensor, got shape {tuple(x.shape)}")
    if x.dtype == torch.bool or x.is_complex():
        raise TypeError(f"{name}: expected a real tensor, got {x.dtype}")
    values = x.detach().to(torch.float64)
    if not bool(torch.isfinite(values).all()) or bool((values < 0).any()):
        raise ValueError(f"{name}: expected finite, non-negative values")
    return values


def pixel_class_counts(labels: Iterable[np.ndarray], num_classes: int) -> Tensor:
    """Labelled pixels of each class over a set of label maps.

    Parameters
    ----------
    labels
        Label maps, integer arrays of any shape with values ``0 .. num_classes - 1`` or 255
        (ignored).
    num_classes
        ``K``, the classes counted (with the background, for a segmentation network).

    Returns
    -------
    Tensor
        ``(K,)`` float64 counts ``n_c``.

    Raises
    ------
    ValueError
        A label map holding a value that is neither a class nor 255 (naming the map's position
        and the values).

    Examples
    --------
    >>> maps = [np.array([[0, 0, 1], [255, 2, 0]], np.uint8), np.array([[0, 1]], np.uint8)]
    >>> pixel_class_counts(maps, 3).tolist()
    [4.0, 2.0, 1.0]
    """
    check_int("num_classes", num_classes, minimum=1, maximum=IGNORE_INDEX)
    if isinstance(labels, (str, bytes, np.ndarray, Tensor)) or not isinstance(labels, Iterable):
        raise TypeError(f"labels: expected an iterable of label maps, got {type(labels).__name__}")
    counts = np.zeros(IGNORE_INDEX + 1, dtype=np.int64)
    for index, label in enumerate(labels):
        if not isinstance(label, (np.ndarray, Tensor)):
            raise TypeError(f"labels[{index}]: expected an array, got {type(label).__name__}")
        array = np.asarray(label)
        if array.dtype.kind not in "ui":
            raise TypeError(f"labels[{index}]: expected an integer array, got dtype {array.dtype}")
        check_label_values(f"labels[{index}]", array, num_classes - 1)
        counts += np.bincount(array.ravel().astype(np.int64), minlength=IGNORE_INDEX + 1)
    return torch.from_numpy(counts[:num_classes].astype(np.float64))


def class_balance_weights(counts: Tensor, mode: str = "inverse") -> Tensor:
    r"""Per-class weights of a pixel loss from the classes' pixel counts.

    With pixel frequencies :math:`f_c = n_c / \sum_k n_k`, the raw weight is
    :math:`\tilde w_c = f_c^{-p}` (:math:`p = 1` for ``"inverse"``, :math:`1/2` for
    ``"sqrt_inverse"``, :math:`0` for ``"none"``) and the weight

    .. math:: w_c = \frac{\tilde w_c}{\sum_k f_k \tilde w_k},

    so that :math:`\sum_c f_c w_c = 1`: a labelled pixel weighs 1 on average. A class without
    pixels gets weight 0 (it adds nothing to the loss either way). With ``"inverse"`` every
    present class holds the same share of the loss.

    Parameters
    ----------
    counts
        ``(K,)`` non-negative, finite pixel counts (e.g. :func:`pixel_class_counts`), at least
        one of them positive.
    mode
        One of :data:`CLASS_WEIGHTINGS`.

    Returns
    -------
    Tensor
        ``(K,)`` float32 weights, for ``torch.nn.functional.cross_entropy(weight=...)``.

    Examples
    --------
    >>> counts = torch.tensor([6.0, 2.0, 0.0, 2.0])
    >>> [round(w, 4) for w in class_balance_weights(counts).tolist()]
    [0.5556, 1.6667, 0.0, 1.6667]
    >>> [round(w, 4) for w in class_balance_weights(counts, "sqrt_inverse").tolist()]
    [0.7735, 1.3397, 0.0, 1.3397]
    >>> class_balance_weights(counts, "none").tolist()
    [1.0, 1.0, 0.0, 1.0]
    """
    check_choice("mode", mode, CLASS_WEIGHTINGS)
    values = _non_negative_vector("counts", counts)
    total = float(values.sum())
    if total <= 0:
        raise ValueError("counts: no class has a pixel (every label ignored or an empty set)")
    freq = values / total
    present = freq > 0
    power = {"none": 0.0, "inverse": 1.0, "sqrt_inverse": 0.5}[mode]
    raw = torch.zeros_like(freq)
    raw[present] = freq[present] ** -power
    weights = raw / float((freq * raw).sum())
    return weights.to(torch.float32)


def logit_adjustment(weights: Tensor) -> Tensor:
    r"""What to add to the logits of a network trained with class weights ``w``.

    The weighted cross-entropy is minimised by :math:`q_c(x) = w_c\,p(c \mid x) / \sum_k w_k\,
    p(k \mid x)`, so :math:`\log p(c \mid x) = \log q_c(x) - \log w_c + \text{const}`: adding
    :math:`-\log w_c` to the logits turns the weighted network's prediction back into the
    posterior (its argmax is the plain loss's decision). A class of weight 0 (one without
    pixels) gets 0.

    Parameters
    ----------
    weights
        ``(K,)`` finite, non-negative class weights (:func:`class_balance_weights`).

    Returns
    -------
    Tensor
        ``(K,)`` float32 offsets ``-log w_c`` (0 where ``w_c = 0``).

    Examples
    --------
    >>> w = class_balance_weights(torch.tensor([6.0, 2.0, 0.0, 2.0]))
    >>> [round(b, 4) for b in logit_adjustment(w).tolist()]  # -log(5/9), -log(5/3)
    [0.5878, -0.5108, 0.0, -0.5108]
    """
    values = _non_negative_vector("weights", weights)
    out = torch.zeros_like(values)
    positive = values > 0
    out[positive] = -torch.log(values[positive])
    return out.to(torch.float32)
