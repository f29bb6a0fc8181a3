"""Argument checks shared by every public function and class of ``wsss`` (private module).

This is the one place where arguments are checked: scalars (:func:`check_int`,
:func:`check_real`, :func:`check_eps`, :func:`check_bool`, :func:`check_choice`), random
generators (:func:`check_rng`), arrays and tensors (:func:`as_tensor`, :func:`to_numpy`,
:func:`check_float_tensor`, :func:`check_integer_dtype`, :func:`check_probability`,
:func:`check_labels`) and network inputs (:func:`check_images`, used by every model's
``forward``).

Every check raises :class:`TypeError` for a wrong type or dtype and :class:`ValueError` for a
wrong rank, shape or value, and every message starts with the argument's name, so that a user
reading the traceback knows which argument to fix.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "MAX_CHANNELS",
    "MAX_COUNT",
    "MAX_SIDE",
    "as_tensor",
    "backbone_input",
    "check_bool",
    "check_choice",
    "check_dropout",
    "check_eps",
    "check_float_tensor",
    "check_images",
    "check_init_std",
    "check_int",
    "check_integer_dtype",
    "check_labels",
    "check_path",
    "check_probability",
    "check_real",
    "check_reals",
    "check_rng",
    "check_size",
    "check_thresholds",
    "to_numpy",
]

#: Largest channel count a layer may be built with (a bigger one cannot be allocated anyway).
MAX_CHANNELS = 2**16
#: Largest image side, in pixels, that a size argument may ask for.
MAX_SIDE = 2**15
#: Largest number of classes, iterations or other counts.
MAX_COUNT = 2**16


def check_int(
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Check that ``value`` is an integer (not a bool) in ``[minimum, maximum]``; return it.

    Examples
    --------
    >>> check_int("seed", np.int64(3), minimum=0)
    3
    >>> check_int("seed", 2.0)
    Traceback (most recent call last):
    ...
    TypeError: seed: expected an int, got float
    >>> check_int("seed", -1, minimum=0)
    Traceback (most recent call last):
    ...
    ValueError: seed: must be >= 0, got -1
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: must be <= {maximum}, got {value}")
    return value


def check_real(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    exclusive_maximum: bool = False,
) -> float:
    """Check that ``value`` is a finite real number in the given range; return it as a float.

    ``minimum`` / ``maximum`` are inclusive unless ``exclusive_minimum`` /
    ``exclusive_maximum``. Bools, ``None``, strings and arrays are refused with a TypeError;
    NaN and infinities with a ValueError.

    Examples
    --------
    >>> check_real("p", 0.5, minimum=0, maximum=1)
    0.5
    >>> check_real("eps", float("nan"), minimum=0)
    Traceback (most recent call last):
    ...
    ValueError: eps: must be a finite number, got nan
    >>> check_real("std", 0, minimum=0, exclusive_minimum=True)
    Traceback (most recent call last):
    ...
    ValueError: std: must be > 0, got 0.0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    if isinstance(value, (complex, np.complexfloating)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    try:
        out = float(value)
    except OverflowError:  # an int beyond the float range
        raise ValueError(f"{name}: must be a finite number, got {value}") from None
    if not math.isfinite(out):
        raise ValueError(f"{name}: must be a finite number, got {out}")
    if minimum is not None and (out <= minimum if exclusive_minimum else out < minimum):
        sign = ">" if exclusive_minimum else ">="
        raise ValueError(f"{name}: must be {sign} {minimum}, got {out}")
    if maximum is not None and (out >= maximum if exclusive_maximum else out > maximum):
        sign = "<" if exclusive_maximum else "<="
        raise ValueError(f"{name}: must be {sign} {maximum}, got {out}")
    return out


def check_eps(name: str, value: object) -> float:
    """Check a denominator guard: a finite number ``>= 0``.

    Examples
    --------
    >>> check_eps("eps", 1e-5)
    1e-05
    >>> check_eps("eps", -1.0)
    Traceback (most recent call last):
    ...
    ValueError: eps: must be >= 0.0, got -1.0
    """
    return check_real(name, value, minimum=0.0)


def check_reals(
    name: str,
    values: object,
    *,
    length: int | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> tuple[float, ...]:
    """Check a non-empty sequence of finite numbers (each as :func:`check_real`); return a tuple.

    Examples
    --------
    >>> check_reals("scales", [1, 0.5], minimum=0, exclusive_minimum=True)
    (1.0, 0.5)
    >>> check_reals("scales", 1.0)
    Traceback (most recent call last):
    ...
    TypeError: scales: expected a sequence of numbers, got float
    """
    if isinstance(values, (str, bytes, Tensor)) or not isinstance(values, (Sequence, np.ndarray)):
        raise TypeError(f"{name}: expected a sequence of numbers, got {type(values).__name__}")
    if isinstance(values, np.ndarray) and values.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D sequence, got shape {values.shape}")
    out = tuple(
        check_real(
            f"{name}[{i}]",
            v,
            minimum=minimum,
            maximum=maximum,
            exclusive_minimum=exclusive_minimum,
        )
        for i, v in enumerate(values)
    )
    if not out:
        raise ValueError(f"{name}: expected at least one value")
    if length is not None and len(out) != length:
        raise ValueError(f"{name}: expected {length} values, got {len(out)}")
    return out


def check_init_std(init_std: object) -> float | None:
    """Check an ``init_std`` argument: ``None`` or a number in ``(0, 10]``; return it.

    Examples
    --------
    >>> check_init_std(float("inf"))
    Traceback (most recent call last):
    ...
    ValueError: init_std: must be a finite number, got inf
    """
    if init_std is None:
        return None
    # a std over 10 only makes overflowing weights (1e300 gave infinite ones)
    return check_real("init_std", init_std, minimum=0.0, maximum=10.0, exclusive_minimum=True)


def check_dropout(dropout: object) -> float:
    """Check a ``dropout`` probability: a number in ``[0, 1)``; return it as a float.

    Examples
    --------
    >>> check_dropout(None)
    Traceback (most recent call last):
    ...
    TypeError: dropout: expected a real number, got NoneType
    """
    return check_real("dropout", dropout, minimum=0.0, maximum=1.0, exclusive_maximum=True)


def check_bool(name: str, value: object) -> bool:
    """Check a flag: a bool (``numpy.bool_`` included); return it as a bool.

    Examples
    --------
    >>> check_bool("flip", np.True_)
    True
    >>> check_bool("flip", None)
    Traceback (most recent call last):
    ...
    TypeError: flip: expected a bool, got NoneType
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__}")
    return bool(value)


def check_choice(name: str, value: object, choices: Sequence[object]) -> object:
    """Check that ``value`` is one of ``choices`` (compared with ``==``, hashable or not).

    Examples
    --------
    >>> check_choice("layout", "seenet", ("seenet", "largefov"))
    'seenet'
    >>> check_choice("layout", [], ("seenet", "largefov"))
    Traceback (most recent call last):
    ...
    ValueError: layout: expected one of ('seenet', 'largefov'), got []
    """
    if not isinstance(value, (str, int, float, type(None))) or isinstance(value, bool):
        raise ValueError(f"{name}: expected one of {tuple(choices)}, got {value!r}")
    if value not in tuple(choices):
        raise ValueError(f"{name}: expected one of {tuple(choices)}, got {value!r}")
    return value


def check_path(name: str, path: object) -> Path:
    """Check a file or folder argument: a ``str`` or ``os.PathLike``, not empty; return a Path.

    Examples
    --------
    >>> check_path("path", "labels/a.png").as_posix()
    'labels/a.png'
    >>> check_path("path", None)
    Traceback (most recent call last):
    ...
    TypeError: path: expected a str or os.PathLike, got NoneType
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{name}: expected a str or os.PathLike, got {type(path).__name__}")
    text = os.fspath(path)
    if not isinstance(text, str):
        raise TypeError(f"{name}: expected a text path, got {type(text).__name__}")
    if not text or "\x00" in text:
        raise ValueError(f"{name}: expected a file name, got {text!r}")
    return Path(text)


def check_size(
    name: str, size: object, *, square: bool = True, minimum: int = 1
) -> tuple[int, int]:
    """Check an image size: ``(height, width)`` ints in ``[minimum, MAX_SIDE]``.

    With ``square``, one int means a square. Returns the pair.

    Examples
    --------
    >>> check_size("size", 321), check_size("size", (2, 3))
    ((321, 321), (2, 3))
    >>> check_size("expected_size", 4, square=False)
    Traceback (most recent call last):
    ...
    TypeError: expected_size: expected a pair of ints (height, width), got 4
    """
    if square and isinstance(size, (int, np.integer)) and not isinstance(size, (bool, np.bool_)):
        pair: tuple[object, ...] = (size, size)
    elif isinstance(size, (tuple, list)):
        pair = tuple(size)
    else:
        what = "an int or a pair of ints" if square else "a pair of ints"
        raise TypeError(f"{name}: expected {what} (height, width), got {size!r}")
    if len(pair) != 2:
        raise TypeError(f"{name}: expected two values (height, width), got {size!r}")
    return (
        check_int(name, pair[0], minimum=minimum, maximum=MAX_SIDE),
        check_int(name, pair[1], minimum=minimum, maximum=MAX_SIDE),
    )


def check_rng(name: str, rng: object) -> np.random.Generator:
    """Check a random generator: a :class:`numpy.random.Generator` (``default_rng(seed)``).

    Examples
    --------
    >>> check_rng("rng", None)
    Traceback (most recent call last):
    ...
    TypeError: rng: expected a numpy.random.Generator (default_rng), got NoneType
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{name}: expected a numpy.random.Generator (default_rng), got {type(rng).__name__}"
        )
    return rng


def to_numpy(name: str, x: object) -> np.ndarray:
    """Return a numpy array or a tensor (detached, on the CPU) as a numpy array.

    Examples
    --------
    >>> to_numpy("target", torch.tensor([1, 2]))
    array([1, 2])
    >>> to_numpy("target", [1, 2])
    Traceback (most recent call last):
    ...
    TypeError: target: expected a numpy.ndarray or torch.Tensor, got list
    """
    if isinstance(x, Tensor):
        try:
            return x.detach().cpu().numpy()
        except TypeError:  # bfloat16 and other dtypes numpy lacks
            raise TypeError(f"{name}: unsupported dtype {x.dtype}") from None
    if isinstance(x, np.ndarray):
        return x
    raise TypeError(f"{name}: expected a numpy.ndarray or torch.Tensor, got {type(x).__name__}")


def check_integer_dtype(name: str, x: np.ndarray) -> np.ndarray:
    """Check that the array ``x`` holds (signed or unsigned) integers; return it.

    Examples
    --------
    >>> check_integer_dtype("label", np.zeros(2, np.float32))
    Traceback (most recent call last):
    ...
    TypeError: label: expected an integer dtype, got float32
    """
    if x.dtype.kind not in "iu":
        raise TypeError(f"{name}: expected an integer dtype, got {x.dtype}")
    return x


def backbone_input(backbone: torch.nn.Module) -> tuple[int | None, int]:
    """The input a backbone takes: ``(channels, smallest side)``, read from its attributes.

    ``in_channels`` (``None`` when the module does not say) and ``min_input_size`` (1 when it
    does not say), as :func:`check_images` takes them.

    Examples
    --------
    >>> backbone_input(torch.nn.Conv2d(3, 4, 3))
    (3, 1)
    """
    channels = getattr(backbone, "in_channels", None)
    min_size = getattr(backbone, "min_input_size", 1)
    return (channels if isinstance(channels, int) else None), (
        min_size if isinstance(min_size, int) else 1
    )


def check_images(
    name: str,
    x: object,
    module: torch.nn.Module | None = None,
    *,
    channels: int | None = 3,
    min_size: int = 1,
    finite: bool = False,
) -> Tensor:
    """The input check of every network's ``forward``: ``(N, channels, H, W)`` floating point.

    Cheap (no pass over the values): rank 4, ``N >= 1``, the channel count, ``H, W >=
    min_size`` (the smallest input the network's pools reduce to at least one cell) and a
    floating dtype equal to ``module``'s parameters' (unless autocast is on), so that none of
    these reaches a convolution as a deep torch error. The values are not read unless
    ``finite`` (then NaN and infinities are refused): a plain network gives NaN for NaN input.

    Examples
    --------
    >>> conv = torch.nn.Conv2d(3, 4, 3)
    >>> check_images("images", torch.zeros(1, 3, 8, 8), conv, min_size=3).shape
    torch.Size([1, 3, 8, 8])
    >>> check_images("images", torch.zeros(1, 3, 8, 8, dtype=torch.float64), conv)
    Traceback (most recent call last):
    ...
    TypeError: images: dtype torch.float64 differs from the network's (torch.float32)
    >>> check_images("images", torch.zeros(1, 3, 8, 8), conv, min_size=16)
    Traceback (most recent call last):
    ...
    ValueError: images: height and width must be >= 16 for this network, got (1, 3, 8, 8)
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        want = "N, C, H, W" if channels is None else f"N, {channels}, H, W"
        raise ValueError(f"{name}: expected a 4-D tensor ({want}), got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{name}: expected {channels} channels (N, {channels}, H, W), got shape "
                         f"{tuple(x.shape)}")
    if x.shape[0] < 1:
        raise ValueError(f"{name}: expected at least one image, got shape {tuple(x.shape)}")
    if min(x.shape[2:]) < min_size:
        raise ValueError(
            f"{name}: height and width must be >= {min_size} for this network, got "
            f"{tuple(x.shape)}"
        )
    if finite and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name}: contains NaN or infinite values")
    if module is not None and not torch.is_autocast_enabled(x.device.type):
        weight = next((p for p in module.parameters() if p.is_floating_point()), None)
        if weight is not None and weight.dtype != x.dtype:
            raise TypeError(
                f"{name}: dtype {x.dtype} differs from the network's ({weight.dtype})"
            )
    return x


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
    check_real("delta_h", delta_h)
    check_real("delta_l", delta_l)
    if not delta_l < delta_h:
        raise ValueError(
            f"delta_l must be smaller than delta_h, got delta_l={delta_l}, delta_h={delta_h}"
        )
