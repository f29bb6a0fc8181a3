"""Argument checks shared by the synthetic dataset's records and constructor.

Each check returns the normalised value or raises ``TypeError`` / ``ValueError`` whose message
starts with the argument's name.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

from ..._validation import check_int, check_real

__all__: list[str] = []


def _check_int(name: str, value: object, *, minimum: int, maximum: int | None = None) -> int:
    return check_int(name, value, minimum=minimum, maximum=maximum)


def _check_real(name: str, value: object) -> float:
    return check_real(name, value)


def _check_unit(name: str, value: object, *, closed: bool = True) -> float:
    """A real in [0, 1] (or [0, 1) when ``closed`` is false)."""
    value = _check_real(name, value)
    inside, interval = (value <= 1, "[0, 1]") if closed else (value < 1, "[0, 1)")
    if not (0 <= value and inside):
        raise ValueError(f"{name}: must lie in {interval}, got {value}")
    return value


def _check_range(name: str, value: object, *, integer: bool = False) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name}: expected a (low, high) pair, got {value!r}")
    low: float
    high: float
    if integer:
        low, high = (_check_int(name, v, minimum=0) for v in value)
    else:
        low, high = (_check_real(name, v) for v in value)
    if low > high:
        raise ValueError(f"{name}: low must not exceed high, got {tuple(value)}")
    return low, high


def _check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a str, got {type(value).__name__}")
    if value not in choices:
        raise ValueError(f"{name}: expected one of {tuple(choices)}, got {value!r}")
    return value


def _check_names(name: str, value: object, *, choices: Sequence[str] | None = None,
                 maximum: int | None = None) -> tuple[str, ...]:
    """A non-empty sequence of distinct, non-empty strings (from ``choices`` if given)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise TypeError(f"{name}: expected a sequence of str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name}: needs at least one entry")
    for entry in value:
        if not isinstance(entry, str):
            raise TypeError(f"{name}: entries must be str, got {type(entry).__name__}")
        if not entry:
            raise ValueError(f"{name}: entries must not be empty")
        if choices is not None and entry not in choices:
            raise ValueError(f"{name}: expected entries from {tuple(choices)}, got {entry!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"{name}: repeated entries in {tuple(value)}")
    if maximum is not None and len(value) > maximum:
        raise ValueError(f"{name}: at most {maximum} entries, got {len(value)}")
    return tuple(value)


def _check_classes(active_classes: object, class_names: Sequence[str]) -> tuple[int, ...]:
    """Indices into ``class_names`` (sorted) of names or indices in ``active_classes``."""
    if isinstance(active_classes, (str, bytes)) or not isinstance(active_classes, Sequence):
        raise TypeError(
            f"active_classes: expected a sequence of class names or indices, "
            f"got {type(active_classes).__name__}"
        )
    if not active_classes:
        raise ValueError("active_classes: needs at least one class")
    indices = []
    for entry in active_classes:
        if isinstance(entry, str):
            if entry not in class_names:
                raise ValueError(f"active_classes: unknown class name {entry!r}")
            indices.append(class_names.index(entry))
        elif isinstance(entry, numbers.Integral) and not isinstance(entry, bool):
            if not 0 <= int(entry) < len(class_names):
                raise ValueError(
                    f"active_classes: class index {entry} is outside [0, {len(class_names)})"
                )
            indices.append(int(entry))
        else:
            raise TypeError(
                f"active_classes: entries must be names or ints, got {type(entry).__name__}"
            )
    if len(set(indices)) != len(indices):
        raise ValueError(f"active_classes: repeated classes in {tuple(active_classes)}")
    return tuple(sorted(indices))
