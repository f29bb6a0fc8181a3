"""The dataset protocol: what the pipeline needs from any segmentation dataset.

Any object with these five members is a dataset ``wsss`` can train and label on, whatever its
origin (PASCAL VOC, COCO, a folder of your own images, a class of your own):

``class_names``
    The foreground classes, a ``tuple[str, ...]`` in label order: pixel label ``c + 1`` and
    entry ``c`` of ``Sample.classes`` are ``class_names[c]``. Label 0 is the background and 255
    is "ignore"; neither is listed.
``num_classes``
    ``len(class_names)``.
``names``
    The image ids, a sequence of ``str`` in dataset order (``names[i] == dataset[i].name``).
``__len__``
    The number of images.
``__getitem__(i)``
    A :class:`~wsss.data.sample.Sample` whose ``classes`` vector has length ``num_classes``.

:func:`check_dataset` checks an object against the protocol with a message that names what is
missing; :func:`describe_dataset` gives the JSON record the pipeline stores with its outputs so a
run says which data it saw. A dataset shows its constructor arguments through a ``describe()``
method (or a ``describe`` attribute holding a dict); the built-in datasets all have one.

A dataset may also offer ``image_labels() -> numpy.ndarray`` of shape ``(N, C)``: every image's
``classes`` vector without decoding any image. :func:`wsss.data.subset.split_by_labels` uses it
when it is there and reads the samples otherwise.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from wsss.data.sample import Sample

__all__ = ["SegmentationDataset", "check_dataset", "describe_dataset"]

_MEMBERS = ("class_names", "num_classes", "names", "__len__", "__getitem__")


@runtime_checkable
class SegmentationDataset(Protocol):
    """A sequence of :class:`~wsss.data.sample.Sample` that knows its classes and image names.

    ``isinstance(obj, SegmentationDataset)`` tests that the five members exist;
    :func:`check_dataset` also tests their types and that they agree.

    Attributes
    ----------
    class_names
        Foreground classes in label order; pixel label ``c + 1`` is ``class_names[c]``.
    num_classes
        ``len(class_names)`` (no background entry).
    names
        Image ids in dataset order.

    Examples
    --------
    >>> class Tiny:
    ...     class_names = ("cat", "dog")
    ...     num_classes = 2
    ...     names = ("a",)
    ...     def __len__(self):
    ...         return 1
    ...     def __getitem__(self, index):
    ...         return Sample("a", np.zeros((2, 2, 3), np.uint8), np.array([0, 1], np.float32))
    >>> isinstance(Tiny(), SegmentationDataset), isinstance([1, 2], SegmentationDataset)
    (True, False)
    """

    @property
    def class_names(self) -> tuple[str, ...]: ...

    @property
    def num_classes(self) -> int: ...

    @property
    def names(self) -> Sequence[str]: ...

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> Sample: ...


def check_dataset(dataset: object, argument: str = "dataset") -> None:
    """Check that ``dataset`` follows :class:`SegmentationDataset`.

    Reads no sample: only the members and their agreement are checked.

    Parameters
    ----------
    dataset
        The object to check.
    argument
        The argument name the messages start with.

    Raises
    ------
    TypeError
        If members are missing (all are named) or have the wrong type.
    ValueError
        If ``num_classes != len(class_names)``, a class name is empty or repeated, or
        ``len(names) != len(dataset)``.

    Examples
    --------
    >>> check_dataset([], argument="train_data")
    Traceback (most recent call last):
    ...
    TypeError: train_data: a list is not a segmentation dataset: it lacks class_names, \
num_classes, names (see wsss.data.SegmentationDataset)
    """
    missing = [member for member in _MEMBERS if not hasattr(dataset, member)]
    if missing:
        raise TypeError(
            f"{argument}: a {type(dataset).__name__} is not a segmentation dataset: it lacks "
            f"{', '.join(missing)} (see wsss.data.SegmentationDataset)"
        )
    class_names = dataset.class_names  # type: ignore[attr-defined]
    if not isinstance(class_names, tuple) or not all(isinstance(c, str) for c in class_names):
        raise TypeError(
            f"{argument}: class_names must be a tuple of str, got {type(class_names).__name__}"
        )
    if not class_names:
        raise ValueError(f"{argument}: class_names is empty; a dataset needs at least one class")
    if any(not c for c in class_names):
        raise ValueError(f"{argument}: class_names holds an empty name")
    repeated = sorted({c for c in class_names if class_names.count(c) > 1})
    if repeated:
        raise ValueError(f"{argument}: class_names repeats {repeated}")
    num_classes = dataset.num_classes  # type: ignore[attr-defined]
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(f"{argument}: num_classes must be an int, got {type(num_classes).__name__}")
    if num_classes != len(class_names):
        raise ValueError(
            f"{argument}: num_classes is {num_classes} but class_names has {len(class_names)} "
            "entries"
        )
    names = dataset.names  # type: ignore[attr-defined]
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise TypeError(f"{argument}: names must be a sequence of str, got {type(names).__name__}")
    length = len(dataset)  # type: ignore[arg-type]
    if len(names) != length:
        raise ValueError(f"{argument}: names has {len(names)} entries but the dataset {length}")


def _jsonable(value: Any) -> Any:
    """``value`` as JSON types: paths become strings, tuples lists, dataclasses dicts."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else str(number)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(item) for item in value]
    return repr(value)


def describe_dataset(dataset: object) -> dict[str, Any]:
    """A JSON-able record of ``dataset``: its class, constructor arguments and classes.

    Returns
    -------
    dict
        ``{"class": "module.QualName", "arguments": {...}, "num_classes": n,
        "class_names": [...]}``. ``arguments`` is what the dataset's ``describe()`` returns (or
        its ``describe`` dict), with paths as strings; ``{}`` for a dataset without one.

    Raises
    ------
    TypeError
        If ``dataset`` does not follow :class:`SegmentationDataset`, or ``describe()`` does not
        return a mapping.

    Examples
    --------
    >>> from wsss.data.synthetic import SyntheticVOC
    >>> record = describe_dataset(SyntheticVOC(3, image_size=40, seed=1))
    >>> record["class"], record["arguments"]["num_images"], record["num_classes"]
    ('wsss.data.synthetic.SyntheticVOC', 3, 20)
    """
    check_dataset(dataset)
    describe = getattr(dataset, "describe", None)
    arguments = describe() if callable(describe) else describe
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, Mapping):
        raise TypeError(
            f"dataset: describe() must return a mapping, got {type(arguments).__name__}"
        )
    cls = type(dataset)
    return {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "arguments": _jsonable(arguments),
        "num_classes": int(dataset.num_classes),  # type: ignore[attr-defined]
        "class_names": list(dataset.class_names),  # type: ignore[attr-defined]
    }
