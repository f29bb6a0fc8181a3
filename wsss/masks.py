"""Attention normalisation and SeeNet's ternary mask.

See :ref:`How SeeNet works, section 1 <seenet-ternary-mask>`.

The ternary mask splits every feature position of an image into three zones, from the class
maps ``Z`` of the first branch (S_A) and the image's classes ``y``:

.. math::

    P_c = \\max(Z_c, 0), \\qquad
    M_c = \\begin{cases} \\dfrac{P_c - \\min P_c}{\\max P_c - \\min P_c + \\epsilon} & y_c = 1 \\\\
                       0 & y_c = 0 \\end{cases}, \\qquad
    M = \\max_c M_c

.. math::

    T = \\begin{cases} 0 & M > \\delta_h \\quad\\text{(attention zone: erased)} \\\\
                       -1 & M < \\delta_l \\quad\\text{(background zone: reversed)} \\\\
                       +1 & \\text{otherwise} \\quad\\text{(potential zone: kept)} \\end{cases}

Everything here runs without gradient: the mask is a constant for the layers that use it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._validation import (
    check_eps,
    check_float_tensor,
    check_labels,
    check_probability,
    check_thresholds,
)

__all__ = ["DEFAULT_EPS", "attention_map", "normalize_class_maps", "ternary_mask"]

#: The ``eps`` added to denominators of min-max and max normalisation.
DEFAULT_EPS: float = 1e-5


@torch.no_grad()
def normalize_class_maps(
    cams: Tensor, labels: Tensor | None = None, *, eps: float = DEFAULT_EPS
) -> Tensor:
    """ReLU and spatial min-max normalisation of class maps, zero for absent classes.

    .. math:: M_c = y_c \\, \\frac{P_c - \\min P_c}{\\max P_c - \\min P_c + \\epsilon},
              \\quad P_c = \\max(Z_c, 0)

    A constant map (``max == min``) normalises to 0, never NaN.

    Parameters
    ----------
    cams
        Raw class maps ``Z``, float tensor of shape ``(N, C, h, w)``.
    labels
        Multi-hot classes ``y`` of shape ``(N, C)`` (bool, int or float with values in {0, 1});
        ``None`` treats every class as present.
    eps
        Added to the denominator: a finite number ``>= 0``.

    Returns
    -------
    Tensor
        Normalised maps ``M`` of shape ``(N, C, h, w)`` in ``[0, 1)``, no gradient.

    Examples
    --------
    >>> z = torch.tensor([[[[-1.0, 1.0], [3.0, 5.0]]]])
    >>> normalize_class_maps(z, torch.tensor([[1]]), eps=0.0)
    tensor([[[[0.0000, 0.2000],
              [0.6000, 1.0000]]]])
    """
    check_float_tensor("cams", cams, 4)
    eps = check_eps("eps", eps)
    n, c = cams.shape[:2]
    if 0 in cams.shape[2:]:
        raise ValueError(f"cams: expected h, w >= 1, got shape {tuple(cams.shape)}")
    p = cams.detach().clamp_min(0)
    flat = p.flatten(2)
    lo = flat.amin(dim=2, keepdim=True)
    hi = flat.amax(dim=2, keepdim=True)
    # clamp_min keeps a constant map at 0 (never NaN), even with eps == 0
    m = ((flat - lo) / (hi - lo + eps).clamp_min(torch.finfo(p.dtype).tiny)).view_as(p)
    if labels is not None:
        present = check_labels("labels", labels, n, c, allow_empty=True).to(p.device)
        m = m * present[:, :, None, None].to(m.dtype)
    return m


@torch.no_grad()
def attention_map(cams: Tensor, labels: Tensor, *, eps: float = DEFAULT_EPS) -> Tensor:
    """Class-agnostic attention ``M = max_c M_c`` over the image's classes.

    Parameters
    ----------
    cams
        Raw class maps of shape ``(N, C, h, w)``.
    labels
        Multi-hot classes of shape ``(N, C)``; every sample needs at least one class.
    eps
        Added to the min-max denominator (see :func:`normalize_class_maps`).

    Returns
    -------
    Tensor
        Attention of shape ``(N, h, w)`` in ``[0, 1)``.

    Examples
    --------
    >>> z = torch.zeros(1, 2, 1, 3)
    >>> z[0, 0, 0] = torch.tensor([0.0, 1.0, 2.0])
    >>> z[0, 1, 0] = torch.tensor([2.0, 0.0, 0.0])
    >>> attention_map(z, torch.tensor([[1, 1]]), eps=0.0)
    tensor([[[1.0000, 0.5000, 1.0000]]])
    >>> attention_map(z, torch.tensor([[1, 0]]), eps=0.0)
    tensor([[[0.0000, 0.5000, 1.0000]]])
    """
    check_float_tensor("cams", cams, 4)
    check_labels("labels", labels, cams.shape[0], cams.shape[1])
    eps = check_eps("eps", eps)
    return normalize_class_maps(cams, labels, eps=eps).amax(dim=1)


@torch.no_grad()
def ternary_mask(
    cams: Tensor,
    labels: Tensor | None = None,
    *,
    delta_h: float = 0.7,
    delta_l: float = 0.05,
    eps: float = DEFAULT_EPS,
) -> Tensor:
    """SeeNet's ternary mask: 0 = attention zone, -1 = background zone, +1 = potential zone.

    ``T = 0`` where ``M > delta_h``, ``T = -1`` where ``M < delta_l``, ``T = +1`` elsewhere, with
    ``M`` the attention from :func:`attention_map` (or given directly).

    Parameters
    ----------
    cams
        Either raw class maps of shape ``(N, C, h, w)`` (then ``labels`` is required), or a
        ready attention map of shape ``(N, h, w)`` with values in [0, 1] (then ``labels`` must be
        ``None``).
    labels
        Multi-hot classes of shape ``(N, C)``: the ground truth during training, the classes the
        caller names at inference. Every sample needs at least one class.
    delta_h, delta_l
        Thresholds with ``delta_l < delta_h``. Defaults are the paper's training values; the
        released inference file used ``0.8 / 0.0``.
    eps
        Added to the min-max denominator (a finite number ``>= 0``).

    Returns
    -------
    Tensor
        Mask of shape ``(N, h, w)`` with values in {-1, 0, +1}, in the dtype of ``cams``, no
        gradient.

    Raises
    ------
    ValueError
        For a wrong rank, NaN, ``delta_l >= delta_h``, labels of the wrong shape or an empty
        label set, or an attention map outside [0, 1].
    TypeError
        For a non-float map.

    Examples
    --------
    >>> att = torch.tensor([[[0.0, 0.04, 0.3, 0.7, 0.71, 1.0]]])
    >>> ternary_mask(att)
    tensor([[[-1., -1.,  1.,  1.,  0.,  0.]]])
    >>> z = torch.tensor([[[[0.0, 1.0, 10.0]]]])
    >>> ternary_mask(z, torch.tensor([[1]]), delta_h=0.5, delta_l=0.05)
    tensor([[[-1.,  1.,  0.]]])
    """
    check_thresholds(delta_h, delta_l)
    eps = check_eps("eps", eps)
    if labels is None:
        if isinstance(cams, Tensor) and cams.ndim == 4:
            raise ValueError("labels: required when cams are (N, C, h, w) class maps")
        check_float_tensor("cams", cams, 3)
        check_probability("cams", cams)
        m = cams.detach()
    else:
        if isinstance(cams, Tensor) and cams.ndim == 3:
            raise ValueError(
                "cams: a 3-D attention map takes labels=None; pass (N, C, h, w) class maps "
                "to build the mask from labelled classes"
            )
        m = attention_map(cams, labels, eps=eps)
    one = torch.ones((), dtype=m.dtype, device=m.device)
    return torch.where(m > delta_h, 0 * one, torch.where(m < delta_l, -one, one))
