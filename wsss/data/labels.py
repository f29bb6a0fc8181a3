"""Image-level (multi-hot) labels: from VOC XML annotations, from masks, or from ``cls_labels.npy``.

Every function returns ``float32`` vectors of shape ``(C,)`` with ``C = 20`` on VOC: entry ``c`` is
1 when class ``VOC_CLASSES[c]`` (pixel label ``c + 1``) appears in the image.

``cls_labels.npy`` is the file the field ships with its code: ``np.save`` of a ``dict`` mapping an
image name to its vector. ``np.save`` stores a dict as a pickle, and ``np.load(allow_pickle=True)``
would run whatever code that pickle names. :func:`load_cls_labels` never does that: it parses the
``.npy`` header itself and unpickles the payload with an allow-list that only admits the numpy
callables needed to rebuild arrays (``_reconstruct``, ``_frombuffer``, ``ndarray``, ``dtype``,
``scalar``, under their numpy 1 and numpy 2 module names), a few harmless builtin types and a
latin-1-only ``_codecs.encode`` (protocol-2 pickles spell bytes with it). A file that names
anything else (``os.system``, ``eval``, ...) is refused before any of its code runs.
"""

from __future__ import annotations

import builtins
import os
import pickle
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from wsss._validation import MAX_COUNT, check_int, check_path
from wsss.data.images import IGNORE_INDEX, CorruptFileError, check_stem
from wsss.data.sample import VOC_CLASSES

__all__ = ["labels_from_mask", "labels_from_xml", "load_cls_labels", "normalize_image_name"]

PathLike = str | os.PathLike


def labels_from_xml(path: PathLike, class_names: Sequence[str] = VOC_CLASSES) -> np.ndarray:
    """Read image-level labels from a VOC XML annotation.

    Every ``<object>`` contributes its own ``<name>`` (the names of ``<part>`` elements inside a
    person, such as ``hand``, are not classes). Difficult and truncated objects count.

    Parameters
    ----------
    path
        ``Annotations/<name>.xml``.
    class_names
        Class names in label order (``VOC_CLASSES``).

    Returns
    -------
    numpy.ndarray
        ``float32`` of shape ``(len(class_names),)``, 1 for each class that has an object.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CorruptFileError
        If the file is not well-formed XML or an object has no name.
    ValueError
        If an object's name is not one of ``class_names`` (the message names the file and name).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.xml"
    >>> _ = p.write_text("<annotation><object><name>dog</name></object></annotation>")
    >>> np.flatnonzero(labels_from_xml(p)).tolist()
    [11]
    """
    path = check_path("path", path)
    if isinstance(class_names, (str, bytes)) or not isinstance(class_names, Sequence):
        raise TypeError(
            f"class_names: expected a sequence of names, got {type(class_names).__name__}"
        )
    if not class_names or not all(isinstance(n, str) for n in class_names):
        raise ValueError("class_names: expected one or more class names (str)")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: annotation file not found")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise CorruptFileError(f"{path}: not well-formed XML ({exc})") from exc
    index = {name: c for c, name in enumerate(class_names)}
    labels = np.zeros(len(class_names), dtype=np.float32)
    for obj in root.iter("object"):
        name_element = obj.find("name")  # direct child only: skips <part><name>
        if name_element is None or not (name_element.text or "").strip():
            raise CorruptFileError(f"{path}: an <object> has no <name>")
        name = (name_element.text or "").strip()
        if name not in index:
            raise ValueError(f"{path}: unknown class name {name!r} (expected one of {list(index)})")
        labels[index[name]] = 1.0
    return labels


def labels_from_mask(label: np.ndarray, num_classes: int) -> np.ndarray:
    """Image-level labels from a pixel label map: the classes that own at least one pixel.

    ``y[c] = 1`` if any pixel equals ``c + 1``; background (0) and ignore (255) do not count.

    Parameters
    ----------
    label
        Integer array of shape ``(H, W)`` with values in ``{0, ..., num_classes, 255}``.
    num_classes
        Number of foreground classes, 1 to 254 (255 is the ignore label, never a class).

    Returns
    -------
    numpy.ndarray
        ``float32`` of shape ``(num_classes,)``.

    Examples
    --------
    >>> np.flatnonzero(labels_from_mask(np.array([[0, 1, 15, 255]], np.uint8), 20)).tolist()
    [0, 14]
    """
    if not isinstance(label, np.ndarray):
        raise TypeError(f"label: expected a numpy.ndarray, got {type(label).__name__}")
    if label.dtype.kind not in "iu":
        raise TypeError(f"label: expected an integer array, got dtype {label.dtype}")
    if label.ndim != 2:
        raise ValueError(f"label: expected shape (H, W), got {label.shape}")
    num_classes = check_int("num_classes", num_classes, minimum=1, maximum=IGNORE_INDEX - 1)
    values = np.unique(label)
    bad = values[((values < 0) | (values > num_classes)) & (values != IGNORE_INDEX)]
    if bad.size:
        raise ValueError(
            f"label: values must lie in {{0, ..., {num_classes}, {IGNORE_INDEX}}}, "
            f"found {[int(v) for v in bad[:10]]}"
        )
    labels = np.zeros(num_classes, dtype=np.float32)
    present = values[(values >= 1) & (values <= num_classes)].astype(np.int64)
    labels[present - 1] = 1.0
    return labels


def normalize_image_name(key: object) -> str:
    """Turn a ``cls_labels`` key into the VOC file stem ``"YYYY_NNNNNN"``.

    Integer keys (``2007000032``, as in codebases that store names as numbers) are split after
    the year; string keys are kept as they are.

    Examples
    --------
    >>> normalize_image_name(2007000032), normalize_image_name("2008_000002")
    ('2007_000032', '2008_000002')
    """
    if isinstance(key, bytes):
        key = key.decode("ascii")
    if isinstance(key, (int, np.integer)) and not isinstance(key, (bool, np.bool_)):
        digits = str(int(key))
        if len(digits) != 10:
            raise ValueError(
                f"key: integer image name {int(key)} does not have the 10 digits of YYYYNNNNNN"
            )
        return f"{digits[:4]}_{digits[4:]}"
    if isinstance(key, (str, np.str_)):
        return check_stem(str(key), "key")
    raise TypeError(f"key: expected an int or str image name, got {type(key).__name__}")


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for bytes, limited to latin-1."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError(f"refused _codecs.encode(..., {encoding!r})")
    return text.encode("latin1")


def _allowed_globals() -> dict[tuple[str, str], Any]:
    """The only globals a ``cls_labels.npy`` pickle may name (numpy 1.x and 2.x spellings)."""
    reconstruct = np.zeros(1).__reduce__()[0]
    from_buffer = np.zeros(1).__reduce_ex__(5)[0]  # protocol 5 spells arrays this way
    scalar = np.float32(0).__reduce__()[0]
    allowed: dict[tuple[str, str], Any] = {}
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{package}.multiarray", "scalar")] = scalar
        allowed[(f"{package}.numeric", "_frombuffer")] = from_buffer
    allowed[("numpy", "ndarray")] = np.ndarray
    allowed[("numpy", "dtype")] = np.dtype
    allowed[("_codecs", "encode")] = _latin1_encode  # bytes in protocol-2 pickles
    for name in ("dict", "list", "tuple", "set", "frozenset", "int", "float", "bool", "str"):
        allowed[("builtins", name)] = getattr(builtins, name)
    return allowed


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only allow-listed globals, so it cannot call foreign code."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="latin1")
        self._path = path
        self._allowed = _allowed_globals()

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{self._path}: refused to load: the pickle asks for {module}.{name}, which is "
                "not needed for a dict of label arrays (it could run code)"
            ) from None


def _read_npy_object(path: Path) -> Any:
    """Read the object stored by ``np.save(path, obj)`` without running foreign pickled code."""
    with open(path, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except ValueError as exc:
            raise CorruptFileError(f"{path}: not a readable .npy file ({exc})") from exc
        if dtype != np.dtype(object):
            raise CorruptFileError(
                f"{path}: expected a pickled dict (object array), got a {dtype} array of "
                f"shape {shape}"
            )
        try:
            return _RestrictedUnpickler(f, path).load()
        except pickle.UnpicklingError as exc:
            if str(exc).startswith(str(path)):
                raise CorruptFileError(str(exc)) from None
            raise CorruptFileError(f"{path}: damaged pickle payload ({exc})") from exc
        except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
            raise CorruptFileError(f"{path}: damaged pickle payload ({exc!r})") from exc


def load_cls_labels(path: PathLike, num_classes: int) -> dict[str, np.ndarray]:
    """Load the field's ``cls_labels.npy``: a dict from image name to multi-hot labels.

    Keys may be integers (``2007000032``) or strings (``"2007_000032"``); both are returned as
    ``"YYYY_NNNNNN"`` strings. The pickle inside the file is read with an allow-list of numpy
    array constructors: it is never loaded with ``np.load(allow_pickle=True)``, and a file whose
    pickle names any other callable is refused before that callable can run.

    Parameters
    ----------
    path
        The ``.npy`` file.
    num_classes
        Expected vector length (20 on VOC).

    Returns
    -------
    dict[str, numpy.ndarray]
        Name -> ``float32`` array of shape ``(num_classes,)`` with values in {0, 1}.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CorruptFileError
        If the file is not a pickled dict, is damaged, or its pickle asks for code outside the
        allow-list (the message names the file).
    ValueError
        If a key is not an image name, or a vector has the wrong length or values.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "cls_labels.npy"
    >>> np.save(p, {2007000032: np.eye(20, dtype=np.float32)[0]})
    >>> labels = load_cls_labels(p, num_classes=20)
    >>> list(labels), labels["2007_000032"][:3].tolist()
    (['2007_000032'], [1.0, 0.0, 0.0])
    """
    path = check_path("path", path)
    num_classes = check_int("num_classes", num_classes, minimum=1, maximum=MAX_COUNT)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: cls_labels file not found")
    stored = _read_npy_object(path)
    if isinstance(stored, np.ndarray) and stored.shape == () and stored.dtype == object:
        stored = stored.item()
    if not isinstance(stored, dict):
        raise CorruptFileError(f"{path}: expected a dict of labels, got {type(stored).__name__}")
    result: dict[str, np.ndarray] = {}
    for key, value in stored.items():
        try:
            name = normalize_image_name(key)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: bad image name {key!r}: {exc}") from exc
        if name in result:
            raise ValueError(f"{path}: image {name!r} appears twice (as an int and a str key?)")
        vector = np.asarray(value)
        if vector.dtype.kind not in "biuf" or vector.shape != (num_classes,):
            raise ValueError(
                f"{path}: labels of {name!r} must be a numeric vector of shape ({num_classes},), "
                f"got {vector.dtype} {vector.shape}"
            )
        if not np.isin(vector, (0, 1)).all():
            raise ValueError(f"{path}: labels of {name!r} must contain only 0 and 1")
        result[name] = vector.astype(np.float32)
    return result
