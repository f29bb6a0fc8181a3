"""Argument checks shared by the public functions (private module).

Every check raises :class:`TypeError` for a wrong type or dtype and :class:`ValueError` for a
wrong rank, shape or value, and every message starts with the argument's name, so that a user
reading the traceback knows which argument to fix.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "as_tensor",
    "check_float_tensor",
    "check_labels",
    "check_probability",
    "check_thresholds",
]


def as_tensor(name: str, value: object) -> Tensor:
    """Return ``value`` as a tensor (numpy arrays are wrapped without a copy).

    Parameters
    ----------
    name
        The argument's name, put at the start of error messages.
    value
        A :class:`torch.Tensor` (returned as is) or a :class:`numpy.ndarray` of any shape with a
        bool, integer or floating-point dtype.

    Returns
    -------
    Tensor
        ``value``'s shape and dtype; it shares memory with a C-contiguous array.

    Raises
    ------
    TypeError
        For any other type, or a numpy dtype torch cannot hold (complex, strings, objects).

    Examples
    --------
    >>> as_tensor("labels", np.array([[0, 1]], dtype=np.uint8))
    tensor([[0, 1]], dtype=torch.uint8)
    >>> as_tensor("labels", [0, 1])
    Traceback (most recent call last):
    ...
    TypeError: labels: expected a torch.Tensor or numpy.ndarray, got list
    """
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype == np.float16 or value.dtype.kind in "fiub":
            return torch.from_numpy(np.ascontiguousarray(value))
        raise TypeError(f"{name}: unsupported numpy dtype {value.dtype}")
    raise TypeError(f"{name}: expected a torch.Tensor or numpy.ndarray, got {type(value).__name__}")


def check_float_tensor(
    name: str,
    x: object,
    ndim: int | Sequence[int],
    *,
    finite: bool = True,
) -> Tensor:
    """Check that ``x`` is a finite floating-point tensor of one of the ranks ``ndim``.

    Parameters
    ----------
    name
        The argument's name, put at the start of error messages.
    x
        The value to check: a tensor of any floating-point dtype (float16 to float64).
    ndim
        The accepted rank, or several, e.g. ``(3, 4)`` for ``(C, H, W)`` or ``(N, C, H, W)``.
    finite
        Also refuse NaN and infinite values.

    Returns
    -------
    Tensor
        ``x`` itself, unchanged.

    Examples
    --------
    >>> check_float_tensor("maps", torch.zeros(2, 5, 5), (3, 4)).shape
    torch.Size([2, 5, 5])
    >>> check_float_tensor("maps", torch.zeros(2, 5), (3, 4))
    Traceback (most recent call last):
    ...
    ValueError: maps: expected a 3 or 4-D tensor, got shape (2, 5)
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    ranks = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in ranks:
        want = " or ".join(str(r) for r in ranks)
        raise ValueError(f"{name}: expected a {want}-D tensor, got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    if finite and x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: contains NaN or infinite values")
    return x


def check_probability(name: str, x: Tensor) -> Tensor:
    """Check that every value of the float tensor ``x`` (any shape) lies in [0, 1].

    NaN passes (no comparison with it is true): check it first with :func:`check_float_tensor`.
    Returns ``x`` itself.

    Examples
    --------
    >>> check_probability("saliency", torch.tensor([0.0, 0.5, 1.0]))
    tensor([0.0000, 0.5000, 1.0000])
    >>> check_probability("saliency", torch.tensor([0.5, 1.5]))
    Traceback (most recent call last):
    ...
    ValueError: saliency: values must lie in [0, 1], got range [0.5, 1.5]
    """
    if x.numel() and (bool((x < 0).any()) or bool((x > 1).any())):
        lo, hi = float(x.min()), float(x.max())
        raise ValueError(f"{name}: values must lie in [0, 1], got range [{lo:.4g}, {hi:.4g}]")
    return x


def check_labels(
    name: str,
    labels: object,
    batch: int | None,
    num_classes: int | None,
    *,
    allow_empty: bool = False,
) -> Tensor:
    """Check multi-hot labels ``(N, C)`` with values in {0, 1}; return them as a bool tensor.

    Parameters
    ----------
    name
        The argument's name, put at the start of error messages.
    labels
        A tensor or numpy array of shape ``(N, C)``, dtype bool, integer or float (0 and 1 only).
    batch, num_classes
        The expected ``N`` and ``C`` (``None`` skips the check).
    allow_empty
        Accept samples that name no class (otherwise every sample needs at least one).

    Returns
    -------
    Tensor
        ``bool`` of shape ``(N, C)``, on ``labels``' device: ``True`` where a sample has the class.

    Examples
    --------
    >>> check_labels("labels", np.array([[0, 1, 1]]), batch=1, num_classes=3)
    tensor([[False,  True,  True]])
    >>> check_labels("labels", torch.tensor([[1.0, 0.0], [0.0, 0.0]]), None, None)
    Traceback (most recent call last):
    ...
    ValueError: labels: sample(s) [1] name no class; every sample needs at least one class
    """
    labels = as_tensor(name, labels)
    if labels.ndim != 2:
        raise ValueError(
            f"{name}: expected multi-hot labels of shape (N, C), got {tuple(labels.shape)}"
        )
    if batch is not None and labels.shape[0] != batch:
        raise ValueError(f"{name}: batch size {labels.shape[0]} does not match the maps' {batch}")
    if num_classes is not None and labels.shape[1] != num_classes:
        raise ValueError(
            f"{name}: labels have {labels.shape[1]} classes, the maps have {num_classes}"
        )
    if labels.dtype == torch.bool:
        present = labels
    else:
        if labels.is_complex():
            raise TypeError(f"{name}: complex dtype {labels.dtype} is not a label type")
        if labels.is_floating_point() and not bool(torch.isfinite(labels).all()):
            raise ValueError(f"{name}: contains NaN or infinite values")
        if labels.numel() and not bool(((labels == 0) | (labels == 1)).all()):
            raise ValueError(f"{name}: multi-hot labels must contain only 0 and 1")
        present = labels != 0
    if not allow_empty and present.shape[0]:  # also when C == 0: then no sample has a class
        empty = (~present.any(dim=1)).nonzero().flatten()
        if empty.numel():
            raise ValueError(
                f"{name}: sample(s) {empty.tolist()[:8]} name no class; "
                "every sample needs at least one class"
            )
    return present


def check_thresholds(delta_h: float, delta_l: float) -> None:
    """Check the ternary-mask thresholds: finite numbers with ``delta_l < delta_h``.

    Examples
    --------
    >>> check_thresholds(0.7, 0.05)  # valid: returns None
    >>> check_thresholds(0.05, 0.7)
    Traceback (most recent call last):
    ...
    ValueError: delta_l must be smaller than delta_h, got delta_l=0.7, delta_h=0.05
    """
    for arg, value in (("delta_h", delta_h), ("delta_l", delta_l)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{arg}: expected a float, got {type(value).__name__}")
        if not math.isfinite(value):
            raise ValueError(f"{arg}: must be finite, got {value}")
    if not delta_l < delta_h:
        raise ValueError(
            f"delta_l must be smaller than delta_h, got delta_l={delta_l}, delta_h={delta_h}"
        )
