"""Proxy labels from attention and saliency (design, section 7; the paper's Algorithm 1).

For an image with classes ``y``, attention maps ``A_c`` in [0, 1] and a saliency map ``S`` in
[0, 1], every pixel gets the label with the highest score among

.. math::

    Q_0 = 1 - S, \\qquad Q_c = \\frac{2 A_c S}{A_c + S + \\epsilon} \\quad (y_c = 1)

(classes absent from the image are never chosen), then ignore rules turn doubtful pixels into
255. The rule set is a :class:`FusionRule`; :data:`FUSION_PRESETS` holds the paper's
(``"harmonic"``) and the OAA release's (``"oaa"``).
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Literal, TypeVar

import numpy as np
import torch
from torch import Tensor

from ._validation import as_tensor, check_float_tensor, check_labels, check_probability

__all__ = ["FUSION_PRESETS", "IGNORE_INDEX", "FusionRule", "fuse_saliency", "harmonic_mean"]

#: Label value of pixels excluded from training and evaluation.
IGNORE_INDEX: int = 255

ArrayT = TypeVar("ArrayT", np.ndarray, Tensor)


def harmonic_mean(a: ArrayT, b: ArrayT, *, eps: float = 1e-5) -> ArrayT:
    """Element-wise harmonic mean ``2ab / (a + b + eps)`` of non-negative maps.

    It is high only where both maps are high, which is why SeeNet uses it to combine attention
    (which class) with saliency (where the object is).

    Parameters
    ----------
    a, b
        Arrays or tensors of broadcastable shapes with non-negative values (both numpy or both
        torch).
    eps
        Keeps ``0 / 0`` at 0.

    Returns
    -------
    numpy.ndarray or Tensor
        The broadcast shape, same library as the inputs.

    Examples
    --------
    >>> harmonic_mean(np.array([1.0, 0.5, 0.0]), np.array([1.0, 1.0, 0.0]), eps=0.0 + 1e-12)
    array([1.        , 0.66666667, 0.        ])
    """
    if isinstance(a, Tensor) != isinstance(b, Tensor):
        raise TypeError("a, b: pass both as numpy arrays or both as torch tensors")
    for name, value in (("a", a), ("b", b)):
        t = as_tensor(name, value)
        if not t.is_floating_point():
            raise TypeError(f"{name}: expected floating-point values, got dtype {t.dtype}")
        if t.numel() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: contains NaN or infinite values")
        if t.numel() and bool((t < 0).any()):
            raise ValueError(f"{name}: values must be non-negative")
    return 2 * a * b / (a + b + eps)


@dataclass(frozen=True)
class FusionRule:
    """How attention and saliency become a label map.

    Attributes
    ----------
    foreground
        ``"harmonic"``: ``Q_c = 2 A_c S / (A_c + S + eps)``; ``"attention"``: ``Q_c = A_c``.
    attention_floor
        Attention values below it are set to 0 before scoring (OAA: 0.3).
    conflict_threshold
        A pixel where two or more of the image's classes have attention above it is ignored
        (``None`` disables the rule).
    background_threshold
        A pixel labelled background whose saliency is ``>=`` it is ignored: background must be
        clearly non-salient (``None`` disables the rule).
    background_attention_threshold
        A pixel labelled background where some class has attention above it is ignored (OAA:
        0.8; ``None`` disables the rule).
    min_foreground
        An image whose foreground (labels 1..C after the other rules) covers less than this
        fraction of its pixels is ignored whole (0 disables the rule).
    """

    foreground: Literal["harmonic", "attention"] = "harmonic"
    attention_floor: float = 0.0
    conflict_threshold: float | None = 0.7
    background_threshold: float | None = 32 / 255
    background_attention_threshold: float | None = None
    min_foreground: float = 0.0

    def __post_init__(self) -> None:
        if self.foreground not in ("harmonic", "attention"):
            raise ValueError(
                f"foreground: expected 'harmonic' or 'attention', got {self.foreground!r}"
            )
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "foreground" or value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{field.name}: expected a float, got {type(value).__name__}")
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{field.name}: expected a value in [0, 1], got {value}")


#: Named rule sets. ``"harmonic"``: the paper's Algorithm 1 with the authors' ignore rules;
#: ``"oaa"``: the rules of the same lab's OAA release (ICCV 2019).
FUSION_PRESETS: dict[str, FusionRule] = {
    "harmonic": FusionRule(),
    "oaa": FusionRule(
        foreground="attention",
        attention_floor=0.3,
        conflict_threshold=0.9,
        background_threshold=32 / 255,
        background_attention_threshold=0.8,
        min_foreground=0.01,
    ),
}


class _Preset(enum.Enum):
    VALUE = "the preset's value"

    def __repr__(self) -> str:
        return "<preset>"


PRESET = _Preset.VALUE


def _fuse_one(att: Tensor, sal: Tensor, class_ids: Tensor, rule: FusionRule, eps: float) -> Tensor:
    """Label map ``(H, W)`` uint8 from the attention ``(k, H, W)`` of the image's ``k`` classes."""
    if rule.attention_floor > 0:
        att = torch.where(att >= rule.attention_floor, att, torch.zeros((), dtype=att.dtype))
    fg = 2 * att * sal / (att + sal + eps) if rule.foreground == "harmonic" else att
    scores = torch.cat([(1 - sal)[None], fg])
    lookup = torch.cat([class_ids.new_zeros(1), class_ids + 1]).to(torch.uint8)
    label = lookup[scores.argmax(dim=0)]
    ignore = torch.zeros_like(label, dtype=torch.bool)
    if rule.conflict_threshold is not None and att.shape[0] > 1:
        ignore |= (att > rule.conflict_threshold).sum(dim=0) >= 2
    background = label == 0
    if rule.background_threshold is not None:
        ignore |= background & (sal >= rule.background_threshold)
    if rule.background_attention_threshold is not None:
        ignore |= background & (att.amax(dim=0) > rule.background_attention_threshold)
    label[ignore] = IGNORE_INDEX
    if rule.min_foreground > 0:
        foreground = int(((label > 0) & (label != IGNORE_INDEX)).sum())
        if foreground < rule.min_foreground * label.numel():
            label.fill_(IGNORE_INDEX)
    return label


def fuse_saliency(
    attention: ArrayT,
    saliency: ArrayT,
    labels: ArrayT,
    *,
    method: str = "harmonic",
    conflict_threshold: float | _Preset | None = PRESET,
    background_threshold: float | _Preset | None = PRESET,
    min_foreground: float | _Preset = PRESET,
    attention_floor: float | _Preset = PRESET,
    background_attention_threshold: float | _Preset | None = PRESET,
    eps: float = 1e-5,
) -> ArrayT:
    """Fuse attention maps with a saliency map into a proxy label map (Algorithm 1).

    1. Background score ``Q_0 = 1 - S``.
    2. Foreground score ``Q_c`` for each of the image's classes: the harmonic mean of ``A_c`` and
       ``S`` (``method="harmonic"``) or the raw attention (``method="oaa"``); absent classes are
       never chosen.
    3. ``G = argmax_k Q_k`` (ties go to background).
    4. Ignore rules (label 255), see :class:`FusionRule`.

    Parameters
    ----------
    attention
        Attention maps in [0, 1] for all ``C`` classes, shape ``(C, H, W)`` for one image or
        ``(N, C, H, W)`` for a batch. Channels of absent classes are not read.
    saliency
        Saliency in [0, 1], shape ``(H, W)`` or ``(N, H, W)``.
    labels
        Multi-hot image classes, shape ``(C,)`` or ``(N, C)``; at least one class per image.
    method
        A key of :data:`FUSION_PRESETS`: ``"harmonic"`` (the paper) or ``"oaa"``.
    conflict_threshold, background_threshold, min_foreground
        The ignore rules; default to the preset's values (see :class:`FusionRule`).
    attention_floor, background_attention_threshold
        Override the preset's :class:`FusionRule` fields (``None`` disables a threshold rule).
    eps
        Added to the harmonic mean's denominator.

    Returns
    -------
    numpy.ndarray or Tensor
        ``uint8`` labels of shape ``(H, W)`` or ``(N, H, W)``: 0 background, ``c + 1`` class
        ``c``, 255 ignore; numpy if ``attention`` is numpy, else a tensor on its device.

    Examples
    --------
    >>> att = np.zeros((3, 1, 4), np.float32)
    >>> att[1] = [0.9, 0.6, 0.1, 0.0]
    >>> sal = np.array([[0.9, 0.8, 0.3, 0.0]], np.float32)
    >>> fuse_saliency(att, sal, np.array([0, 1, 0]))
    array([[  2,   2, 255,   0]], dtype=uint8)
    """
    if method not in FUSION_PRESETS:
        raise ValueError(f"method: expected one of {sorted(FUSION_PRESETS)}, got {method!r}")
    overrides = {
        "conflict_threshold": conflict_threshold,
        "background_threshold": background_threshold,
        "min_foreground": min_foreground,
        "attention_floor": attention_floor,
        "background_attention_threshold": background_attention_threshold,
    }
    rule = dataclasses.replace(
        FUSION_PRESETS[method], **{k: v for k, v in overrides.items() if v is not PRESET}
    )
    as_numpy = isinstance(attention, np.ndarray)
    att = check_float_tensor("attention", as_tensor("attention", attention), (3, 4))
    sal = check_float_tensor("saliency", as_tensor("saliency", saliency), (2, 3))
    single = att.ndim == 3
    if sal.ndim != att.ndim - 1:
        want = "(H, W)" if single else "(N, H, W)"
        raise ValueError(f"saliency: expected shape {want}, got {tuple(sal.shape)}")
    if single:
        att, sal = att[None], sal[None]
    if sal.shape != (att.shape[0], *att.shape[2:]):
        raise ValueError(
            f"saliency: shape {tuple(sal.shape)[single:]} does not match attention's "
            f"{(att.shape[0], *att.shape[2:])[single:]}"
        )
    check_probability("attention", att)
    check_probability("saliency", sal)
    lab = as_tensor("labels", labels)
    if single:
        if lab.ndim != 1:
            raise ValueError(f"labels: expected shape ({att.shape[1]},), got {tuple(lab.shape)}")
        lab = lab[None]
    present = check_labels("labels", lab, att.shape[0], att.shape[1])
    sal = sal.to(device=att.device, dtype=att.dtype)
    out = torch.empty((att.shape[0], *att.shape[2:]), dtype=torch.uint8, device=att.device)
    for n in range(att.shape[0]):
        class_ids = present[n].nonzero().flatten().to(att.device)
        out[n] = _fuse_one(att[n, class_ids], sal[n], class_ids, rule, eps)
    if single:
        out = out[0]
    return out.cpu().numpy() if as_numpy else out
