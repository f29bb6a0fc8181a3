"""Proxy labels from attention and saliency (the paper's Algorithm 1).

See :ref:`How SeeNet works, section 6 <seenet-proxy-labels>`.

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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

import numpy as np
import torch
from torch import Tensor

from ._validation import (
    as_tensor,
    check_choice,
    check_eps,
    check_float_tensor,
    check_labels,
    check_probability,
    check_real,
)
from .data.sample import IGNORE_INDEX

__all__ = ["FUSION_PRESETS", "IGNORE_INDEX", "FusionRule", "fuse_saliency", "harmonic_mean"]


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
        A non-negative number added to the denominator. ``0 / 0`` gives 0 whatever ``eps``.

    Returns
    -------
    numpy.ndarray or Tensor
        The broadcast shape, same library as the inputs, in their promoted dtype (at least
        float32 while computing, so that half-precision inputs cannot overflow). It is computed
        as ``m * 2xy / (x + y + eps / m)`` with ``m = max(a, b)``, ``x = a / m``, ``y = b / m``,
        which never overflows: the result lies in ``[0, max(a, b)]``.

    Examples
    --------
    >>> harmonic_mean(np.array([1.0, 0.5, 0.0]), np.array([1.0, 1.0, 0.0]), eps=0.0 + 1e-12)
    array([1.        , 0.66666667, 0.        ])
    """
    if isinstance(a, Tensor) != isinstance(b, Tensor):
        raise TypeError("a, b: pass both as numpy arrays or both as torch tensors")
    shapes = []
    for name, value in (("a", a), ("b", b)):
        t = as_tensor(name, value)
        if not t.is_floating_point():
            raise TypeError(f"{name}: expected floating-point values, got dtype {t.dtype}")
        if t.numel() and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: contains NaN or infinite values")
        if t.numel() and bool((t < 0).any()):
            raise ValueError(f"{name}: values must be non-negative")
        shapes.append(tuple(t.shape))
    try:
        torch.broadcast_shapes(*shapes)
    except RuntimeError:
        raise ValueError(f"a, b: shapes {shapes[0]} and {shapes[1]} do not broadcast") from None
    eps = check_eps("eps", eps)
    if isinstance(a, Tensor):
        dtype = torch.promote_types(a.dtype, b.dtype)
        work = torch.promote_types(dtype, torch.float32)
        x, y = a.to(work), b.to(work)
        m = torch.maximum(x, y)
        scale = torch.where(m > 0, m, torch.ones((), dtype=work, device=m.device))
        x, y = x / scale, y / scale  # max(x, y) = 1 where m > 0: the denominator is >= 1
        return (2 * x * y / (x + y + eps / scale).clamp_min(1) * m).to(dtype)
    dtype = np.result_type(a, b)
    work = np.promote_types(dtype, np.float32)
    x, y = np.asarray(a, dtype=work), np.asarray(b, dtype=work)
    m = np.maximum(x, y)
    scale = np.where(m > 0, m, 1).astype(work)
    x, y = x / scale, y / scale
    return (2 * x * y / np.maximum(x + y + eps / scale, 1) * m).astype(dtype)


#: The :class:`FusionRule` fields that ``None`` disables.
_OPTIONAL_RULES = ("conflict_threshold", "background_threshold", "background_attention_threshold")


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

    Examples
    --------
    >>> FusionRule().conflict_threshold, FUSION_PRESETS["oaa"].attention_floor
    (0.7, 0.3)
    >>> FusionRule(attention_floor=1.5)
    Traceback (most recent call last):
    ...
    ValueError: attention_floor: must be <= 1.0, got 1.5
    """

    foreground: Literal["harmonic", "attention"] = "harmonic"
    attention_floor: float = 0.0
    conflict_threshold: float | None = 0.7
    background_threshold: float | None = 32 / 255
    background_attention_threshold: float | None = None
    min_foreground: float = 0.0

    def __post_init__(self) -> None:
        check_choice("foreground", self.foreground, ("harmonic", "attention"))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "foreground" or (value is None and field.name in _OPTIONAL_RULES):
                continue
            check_real(field.name, value, minimum=0.0, maximum=1.0)


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


def _check_unit_range(name: str, x: Tensor) -> None:
    """Raise unless every value of ``x`` is finite and in [0, 1] (one pass when it is)."""
    if not x.numel():
        return
    lo, hi = torch.aminmax(x)  # NaN propagates into both, so one comparison catches it
    if bool(lo >= 0) and bool(hi <= 1):
        return
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: contains NaN or infinite values")
    check_probability(name, x)


def _is(compare: Callable[..., Tensor], x: Tensor, y: Tensor | float) -> Tensor:
    """``compare(x, y)`` as 0.0 / 1.0 in ``x``'s dtype.

    On CPU a comparison that writes floats runs several times faster than one that writes
    bools, and the label arithmetic below stays in float (``lerp`` with weights 0 / 1 is exact).
    """
    return compare(x, y, out=torch.empty_like(x))


def _fuse_one(
    att: Tensor, sal: Tensor, class_ids: list[int], rule: FusionRule, eps: float
) -> Tensor:
    """Label map ``(H, W)`` uint8 from the attention ``(k, H, W)`` of the image's ``k`` classes.

    The argmax over ``[Q_0, Q_c...]`` is a running maximum over the ``k`` planes (strictly
    greater wins, so ties go to the earlier score, as ``argmax`` does): a reduction over the
    leading dimension of a ``(k + 1, H, W)`` stack is many times slower on CPU.
    """
    if rule.attention_floor > 0:
        att = att * _is(torch.ge, att, rule.attention_floor)
    best = 1 - sal
    label = torch.zeros_like(sal)  # float label values, exact small integers
    for j, class_id in enumerate(class_ids):
        if rule.foreground == "harmonic":  # 2 * att * sal / (att + sal + eps), op for op
            score = att[j] * 2
            score.mul_(sal).div_((att[j] + sal).add_(eps))
        else:
            score = att[j]
        label.lerp_(label.new_tensor(class_id + 1.0), _is(torch.gt, score, best))
        if j + 1 < len(class_ids):
            torch.maximum(best, score, out=best)
    ignore = torch.zeros_like(sal)
    if rule.conflict_threshold is not None and len(class_ids) > 1:
        confident = cast(
            Tensor, sum(_is(torch.gt, att[j], rule.conflict_threshold) for j in range(len(att)))
        )
        ignore = _is(torch.ge, confident, 2.0)
    background = _is(torch.eq, label, 0.0)
    if rule.background_threshold is not None:
        torch.maximum(ignore, background * _is(torch.ge, sal, rule.background_threshold),
                      out=ignore)
    if rule.background_attention_threshold is not None:
        strongest = att[0].clone()
        for plane in att[1:]:
            torch.maximum(strongest, plane, out=strongest)
        threshold = rule.background_attention_threshold
        torch.maximum(ignore, background * _is(torch.gt, strongest, threshold), out=ignore)
    label.lerp_(label.new_tensor(float(IGNORE_INDEX)), ignore)
    out = label.to(torch.uint8)
    if rule.min_foreground > 0:
        foreground = int(((out > 0) & (out != IGNORE_INDEX)).sum())
        if foreground < rule.min_foreground * out.numel():
            out.fill_(IGNORE_INDEX)
    return out


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
    conflict_threshold
        A pixel where two or more of the image's classes have attention above it is ignored;
        ``None`` disables the rule. Default: the preset's (``"harmonic"`` 0.7, ``"oaa"`` 0.9).
    background_threshold
        A pixel labelled background whose saliency is ``>=`` it is ignored; ``None`` disables
        the rule. Default: the preset's (32 / 255 in both).
    min_foreground
        An image whose foreground covers less than this fraction of its pixels is ignored
        whole; 0 disables the rule. Default: the preset's (``"harmonic"`` 0, ``"oaa"`` 0.01).
    attention_floor
        Attention below it is set to 0 before scoring. Default: the preset's
        (``"harmonic"`` 0, ``"oaa"`` 0.3).
    background_attention_threshold
        A pixel labelled background where some class has attention above it is ignored;
        ``None`` disables the rule. Default: the preset's (``"harmonic"`` ``None``,
        ``"oaa"`` 0.8).
    eps
        Added to the harmonic mean's denominator (a finite number ``>= 0``).

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
    check_choice("method", method, sorted(FUSION_PRESETS))
    eps = check_eps("eps", eps)
    overrides: dict[str, Any] = {
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
    att: Tensor = check_float_tensor(
        "attention", as_tensor("attention", attention), (3, 4), finite=False
    )
    sal = check_float_tensor("saliency", as_tensor("saliency", saliency), (2, 3), finite=False)
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
    _check_unit_range("saliency", sal)
    lab = as_tensor("labels", labels)
    if single:
        if lab.ndim != 1:
            raise ValueError(f"labels: expected shape ({att.shape[1]},), got {tuple(lab.shape)}")
        lab = lab[None]
    present = check_labels("labels", lab, att.shape[0], att.shape[1])
    sal = sal.to(device=att.device, dtype=att.dtype)
    out = torch.empty((att.shape[0], *att.shape[2:]), dtype=torch.uint8, device=att.device)
    for n in range(att.shape[0]):
        wanted = present[n].nonzero().flatten().to(att.device)
        image_att = att[n].index_select(0, wanted)  # only the image's classes are read
        class_ids = wanted.tolist()
        _check_unit_range("attention", image_att)
        out[n] = _fuse_one(image_att, sal[n], class_ids, rule, eps)
    if single:
        out = out[0]
    return cast(ArrayT, out.cpu().numpy() if as_numpy else out)
