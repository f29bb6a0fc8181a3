"""Proxy labels from attention alone, by two confidence thresholds (no saliency model).

Methods that train without a saliency detector (IRN, AffinityNet) turn attention maps into
labels they trust only where the attention is clearly high or clearly low. With ``A_c`` the
attention of the image's classes (``y_c = 1``) and ``m = max_c A_c``:

.. math::

    G = \\begin{cases} 1 + \\mathop{\\mathrm{argmax}}_{c:\\,y_c = 1} A_c & m \\ge t_{fg}
                       \\quad\\text{(confident foreground)} \\\\
                       0 & m < t_{bg} \\quad\\text{(confident background)} \\\\
                       255 & \\text{otherwise (ignored)} \\end{cases}

The defaults ``t_fg = 0.30`` and ``t_bg = 0.05`` are IRN's (Ahn et al., CVPR 2019). Unlike
:func:`wsss.fuse_saliency`, nothing here uses extra supervision: it is the baseline for proxy
labels without a saliency model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar, cast

import numpy as np
import torch
from torch import Tensor

from ._validation import as_tensor, check_float_tensor, check_labels, check_probability
from .fusion import IGNORE_INDEX

__all__ = ["ThresholdRule", "threshold_labels"]

ArrayT = TypeVar("ArrayT", np.ndarray, Tensor)


@dataclass(frozen=True)
class ThresholdRule:
    """The two confidence thresholds of :func:`threshold_labels`.

    Attributes
    ----------
    foreground
        ``t_fg``: a pixel whose highest attention (over the image's classes) is ``>=`` it is
        labelled with that class. IRN: 0.30.
    background
        ``t_bg``: a pixel whose highest attention is ``<`` it is background. IRN: 0.05.
        ``background <= foreground``; pixels in between are ignored (255).

    Examples
    --------
    >>> ThresholdRule()
    ThresholdRule(foreground=0.3, background=0.05)
    >>> ThresholdRule(foreground=0.1, background=0.2)
    Traceback (most recent call last):
    ...
    ValueError: background: must not exceed foreground, got background=0.2, foreground=0.1
    """

    foreground: float = 0.30
    background: float = 0.05

    def __post_init__(self) -> None:
        for name in ("foreground", "background"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name}: expected a float, got {type(value).__name__}")
            if not 0.0 <= value <= 1.0:  # also refuses NaN
                raise ValueError(f"{name}: expected a value in [0, 1], got {value}")
        if self.background > self.foreground:
            raise ValueError(
                f"background: must not exceed foreground, got background={self.background}, "
                f"foreground={self.foreground}"
            )


def threshold_labels(
    attention: ArrayT, labels: ArrayT, rule: ThresholdRule | None = None
) -> ArrayT:
    """Label map from attention by confidence thresholds (see the module docstring).

    Parameters
    ----------
    attention
        Attention maps in [0, 1] for all ``C`` classes, ``(C, H, W)`` for one image or
        ``(N, C, H, W)`` for a batch (numpy or torch). Channels of classes not in the image are
        not read.
    labels
        Multi-hot image classes, ``(C,)`` or ``(N, C)``; at least one class per image.
    rule
        The thresholds; ``None`` is IRN's ``ThresholdRule(0.30, 0.05)``.

    Returns
    -------
    numpy.ndarray or Tensor
        ``uint8`` labels ``(H, W)`` or ``(N, H, W)``: 0 background, ``c + 1`` class ``c``, 255
        ignored; numpy if ``attention`` is numpy, else a tensor on its device. Where two classes
        tie for the highest attention the lower class index wins.

    Examples
    --------
    >>> att = np.zeros((3, 1, 5), np.float32)
    >>> att[0] = [0.9, 0.3, 0.29, 0.05, 0.04]
    >>> att[2] = [0.5, 0.6, 0.0, 0.0, 0.0]
    >>> threshold_labels(att, np.array([1, 0, 1]))
    array([[  1,   3, 255, 255,   0]], dtype=uint8)
    >>> threshold_labels(att, np.array([1, 0, 0]), ThresholdRule(0.5, 0.5))
    array([[1, 0, 0, 0, 0]], dtype=uint8)
    """
    if rule is None:
        rule = ThresholdRule()
    elif not isinstance(rule, ThresholdRule):
        raise TypeError(f"rule: expected a ThresholdRule, got {type(rule).__name__}")
    as_numpy = isinstance(attention, np.ndarray)
    att: Tensor = check_float_tensor(
        "attention", as_tensor("attention", attention), (3, 4), finite=False
    )
    single = att.ndim == 3
    if single:
        att = att[None]
    if 0 in att.shape[2:]:
        raise ValueError(f"attention: expected H, W >= 1, got shape {tuple(att.shape)[single:]}")
    lab = as_tensor("labels", labels)
    if single:
        if lab.ndim != 1:
            raise ValueError(f"labels: expected shape ({att.shape[1]},), got {tuple(lab.shape)}")
        lab = lab[None]
    present = check_labels("labels", lab, att.shape[0], att.shape[1]).to(att.device)
    out = torch.empty((att.shape[0], *att.shape[2:]), dtype=torch.uint8, device=att.device)
    for n in range(att.shape[0]):
        wanted = present[n].nonzero().flatten()
        image_att = att[n].index_select(0, wanted)  # only the image's classes are read
        if not bool(torch.isfinite(image_att).all()):
            raise ValueError("attention: contains NaN or infinite values")
        check_probability("attention", image_att)
        strongest, which = image_att.max(dim=0)  # ties: the first maximal index
        label = (wanted[which] + 1).to(torch.uint8)
        label[strongest < rule.foreground] = IGNORE_INDEX
        label[strongest < rule.background] = 0
        out[n] = label
    if single:
        out = out[0]
    return cast(ArrayT, out.cpu().numpy() if as_numpy else out)
