"""Reading images and label PNGs with errors that name the file, and writing label PNGs.

Every reader decodes the whole file (``PIL.Image.load``), so a truncated JPEG or a damaged PNG is
reported where it is read instead of turning silently into grey pixels later (Pillow's
``LOAD_TRUNCATED_IMAGES`` is left off). Every error message starts with the offending path.
File names inside a data folder are built with :func:`stem_path`, which refuses any name that
could leave the folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from wsss._validation import check_bool, check_int, check_path
from wsss.data.palette import rgb_to_label, voc_palette
from wsss.data.sample import IGNORE_INDEX, NUM_CLASSES
from wsss.io import atomic_write

__all__ = [
    "IGNORE_INDEX",
    "CorruptFileError",
    "read_image",
    "read_label",
    "write_label",
]

PathLike = str | os.PathLike



class CorruptFileError(ValueError):
    """A data file exists but cannot be decoded (not an image, truncated, damaged, unsafe).

    A :class:`ValueError`, so code that handles bad input in general catches it too. Its
    message starts with the file's path.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "cut.png"
    ...     Image.new("RGB", (8, 8)).save(path)
    ...     _ = path.write_bytes(path.read_bytes()[:45])  # an interrupted copy
    ...     read_image(path)
    Traceback (most recent call last):
    ...
    wsss.data.images.CorruptFileError: .../cut.png: cannot decode the image: truncated ...
    """


def check_stem(stem: object, where: str) -> str:
    """Check that ``stem`` is a plain file name stem that cannot leave its folder.

    A stem is accepted when it is a non-empty string without a path separator (``/`` or
    ``\\``), without ``..``, not absolute and without whitespace or control characters.

    Parameters
    ----------
    stem
        The candidate name, e.g. ``"2007_000032"``.
    where
        Where the name comes from, put at the start of the error message (e.g. ``"train.txt:3"``).

    Examples
    --------
    >>> check_stem("2007_000032", "train.txt:1")
    '2007_000032'
    """
    if not isinstance(stem, str):
        raise TypeError(f"{where}: expected a file name stem (str), got {type(stem).__name__}")
    problem = None
    if not stem:
        problem = "is empty"
    elif "/" in stem or "\\" in stem:
        problem = "contains a path separator"
    elif ".." in stem:
        problem = "contains '..'"
    elif os.path.isabs(stem) or stem.startswith("~"):
        problem = "is an absolute path"
    elif any(ch.isspace() or not ch.isprintable() for ch in stem):
        problem = "contains whitespace or control characters"
    if problem is not None:
        raise ValueError(
            f"{where}: {stem!r} {problem}; expected a plain file name stem such as "
            "'2007_000032' (no path may leave the data root)"
        )
    return stem


def stem_path(folder: PathLike, stem: str, suffix: str) -> Path:
    """Return ``folder / (stem + suffix)`` after checking ``stem`` with :func:`check_stem`.

    Examples
    --------
    >>> stem_path("JPEGImages", "2007_000032", ".jpg").as_posix()
    'JPEGImages/2007_000032.jpg'
    """
    check_stem(stem, "stem")
    return Path(folder) / f"{stem}{suffix}"


def open_image(path: PathLike, kind: str = "image") -> Image.Image:
    """Open ``path`` with Pillow and decode every pixel.

    Parameters
    ----------
    path
        The file.
    kind
        What the file should be, used in error messages (``"image"``, ``"label image"``, ...).

    Returns
    -------
    PIL.Image.Image
        The decoded image, detached from the file.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist or is not a file.
    CorruptFileError
        If the file is not an image, or is truncated or damaged.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp) / "a.png"
    ...     _ = p.write_text("not a picture")
    ...     open_image(p)
    Traceback (most recent call last):
    ...
    wsss.data.images.CorruptFileError: .../a.png: not an image file (Pillow cannot identify it)
    """
    path = check_path("path", path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: {kind} file not found")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: expected a {kind} file, found a folder or special file")
    try:
        with Image.open(path) as img:
            img.load()  # full decode: detects truncated or damaged data
            return img.copy()
    except Image.UnidentifiedImageError as exc:
        raise CorruptFileError(f"{path}: not an image file (Pillow cannot identify it)") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise CorruptFileError(
            f"{path}: cannot decode the {kind}: truncated or damaged ({exc})"
        ) from exc


def read_image(path: PathLike) -> np.ndarray:
    """Read an image file as RGB.

    Parameters
    ----------
    path
        Any format Pillow reads (JPEG, PNG, ...). Grey, palette and CMYK images are converted.

    Returns
    -------
    numpy.ndarray
        ``uint8`` of shape ``(H, W, 3)``, RGB order.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CorruptFileError
        If the file is not an image, or is truncated or damaged (a :class:`ValueError`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp) / "a.png"
    ...     Image.new("RGB", (3, 2), (10, 20, 30)).save(p)
    ...     image = read_image(p)
    >>> image.shape, image.dtype, image[0, 0].tolist()
    ((2, 3, 3), dtype('uint8'), [10, 20, 30])
    """
    img = open_image(path, "image")
    if img.mode != "RGB":
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8).copy()


def check_label_values(name: str, label: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """Check that ``label`` only holds values in ``{0, ..., num_classes, 255}``.

    ``name`` starts the error message (an argument name or a file path).

    Examples
    --------
    >>> check_label_values("label", np.array([[0, 20, 255]], dtype=np.uint8)).tolist()
    [[0, 20, 255]]
    """
    values = np.unique(label)
    bad = values[(values > num_classes) & (values != IGNORE_INDEX)]
    if values.size and int(values.min()) < 0:
        bad = np.concatenate([values[values < 0], bad])
    if bad.size:
        raise ValueError(
            f"{name}: label values must lie in {{0, ..., {num_classes}, {IGNORE_INDEX}}}, "
            f"found {[int(v) for v in bad[:10]]}"
        )
    return label


def read_label(
    path: PathLike, *, validate: bool = True, num_classes: int = NUM_CLASSES
) -> np.ndarray:
    """Read a label PNG.

    Palette ("P") PNGs give their indices, grey PNGs their values and RGB PNGs are mapped back
    through the VOC palette (:func:`wsss.data.palette.rgb_to_label`).

    Parameters
    ----------
    path
        The label file.
    validate
        Check that every value is a class index ``0 ... num_classes`` or 255 (ignore).
    num_classes
        Number of foreground classes (20 on VOC).

    Returns
    -------
    numpy.ndarray
        ``uint8`` of shape ``(H, W)``.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CorruptFileError
        If the file cannot be decoded.
    ValueError
        If a value is outside ``{0, ..., num_classes, 255}`` or an RGB colour is not a palette
        colour; the message starts with the path.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp) / "label.png"
    ...     write_label(p, np.array([[0, 15, 255]], dtype=np.uint8))
    ...     read_label(p).tolist()
    [[0, 15, 255]]
    """
    validate = check_bool("validate", validate)
    num_classes = check_int("num_classes", num_classes, minimum=1, maximum=IGNORE_INDEX - 1)
    img = open_image(path, "label image")
    if img.mode in ("P", "L"):
        label = np.asarray(img, dtype=np.uint8).copy()
    elif img.mode in ("I", "I;16", "I;16B", "I;16L"):
        wide = np.asarray(img).astype(np.int64)
        if wide.size and (int(wide.min()) < 0 or int(wide.max()) > 255):
            raise ValueError(
                f"{path}: label values must lie in [0, 255], "
                f"got [{int(wide.min())}, {int(wide.max())}]"
            )
        label = wide.astype(np.uint8)
    elif img.mode == "RGB":
        try:
            label = rgb_to_label(np.asarray(img, dtype=np.uint8))
        except ValueError as exc:
            raise ValueError(f"{path}: {str(exc).removeprefix('rgb: ')}") from exc
    else:
        raise CorruptFileError(
            f"{path}: unsupported label image mode {img.mode!r}; expected a palette, grey or "
            "RGB PNG"
        )
    if validate:
        check_label_values(str(path), label, num_classes)
    return label


def write_label(path: PathLike, label: np.ndarray) -> None:
    """Write a label map as a palette PNG with the VOC colours, atomically.

    Parameters
    ----------
    path
        Destination (``.png``); parent folders are created.
    label
        ``uint8`` of shape ``(H, W)``, ``H, W >= 1`` (a PNG cannot be empty).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp) / "label.png"
    ...     write_label(p, np.zeros((2, 2), dtype=np.uint8))
    ...     with Image.open(p) as png:
    ...         png.mode, png.size
    ('P', (2, 2))
    """
    if not isinstance(label, np.ndarray):
        raise TypeError(f"label: expected a numpy.ndarray, got {type(label).__name__}")
    if label.dtype != np.uint8:
        raise TypeError(f"label: expected dtype uint8, got {label.dtype}")
    if label.ndim != 2 or 0 in label.shape:
        raise ValueError(f"label: expected shape (H, W) with H, W >= 1, got {label.shape}")
    check_path("path", path)
    img = Image.fromarray(np.ascontiguousarray(label))  # mode "L"
    img.putpalette(voc_palette().tobytes())  # turns it into a "P" image, indices unchanged
    with atomic_write(path, "wb") as f:
        img.save(f, format="PNG")
