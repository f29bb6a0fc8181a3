"""Saliency maps: 8-bit grey PNGs scaled to [0, 1], one file per image in a folder.

SeeNet fuses its attention maps with an off-the-shelf saliency map (the paper's Algorithm 1);
the saliency method's output is a folder of ``<name>.png`` files, one per image, with the
image's own size.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from wsss._validation import check_path, check_size
from wsss.data.images import CorruptFileError, open_image, stem_path

__all__ = ["SaliencyFolder", "read_saliency"]

PathLike = str | os.PathLike


def read_saliency(path: PathLike, expected_size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a saliency map.

    ``s = v / 255`` for an 8-bit grey PNG (``v / 65535`` for a 16-bit one). An RGB(A) PNG is
    accepted when its three colour channels are equal.

    Parameters
    ----------
    path
        The PNG file.
    expected_size
        ``(H, W)`` the map must have (the image's size), or ``None`` to skip the check.

    Returns
    -------
    numpy.ndarray
        ``float32`` of shape ``(H, W)`` with values in [0, 1].

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CorruptFileError
        If the file cannot be decoded or is not a grey map.
    ValueError
        If the map's size differs from ``expected_size`` (the message names the file and both
        sizes).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "s.png"
    >>> Image.fromarray(np.array([[0, 51, 255]], dtype=np.uint8)).save(p)
    >>> read_saliency(p, expected_size=(1, 3)).tolist()
    [[0.0, 0.20000000298023224, 1.0]]
    """
    if expected_size is not None:
        expected_size = check_size("expected_size", expected_size, square=False, minimum=0)
    img = open_image(path, "saliency map")
    mode = img.mode
    values = np.asarray(img)
    if mode == "L":
        saliency = values.astype(np.float32) / np.float32(255)
    elif mode in ("I;16", "I;16B", "I;16L"):
        saliency = values.astype(np.float32) / np.float32(65535)
    elif mode in ("RGB", "RGBA") and values.ndim == 3:
        rgb = values[..., :3]
        if not ((rgb[..., 0] == rgb[..., 1]) & (rgb[..., 1] == rgb[..., 2])).all():
            raise CorruptFileError(f"{path}: saliency map has colour (R, G, B differ)")
        saliency = rgb[..., 0].astype(np.float32) / np.float32(255)
    else:
        raise CorruptFileError(
            f"{path}: unsupported saliency image mode {mode!r}; expected an 8-bit grey PNG"
        )
    if expected_size is not None:
        expected = (int(expected_size[0]), int(expected_size[1]))
        if saliency.shape != expected:
            raise ValueError(
                f"{path}: saliency map is {saliency.shape[0]}x{saliency.shape[1]} (HxW) but the "
                f"image is {expected[0]}x{expected[1]}"
            )
    return saliency


class SaliencyFolder:
    """A folder of saliency maps named ``<root>/<name>.png``.

    Parameters
    ----------
    root
        The folder. It must exist.
    suffix
        File name ending (``".png"``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> Image.fromarray(np.full((2, 2), 255, dtype=np.uint8)).save(d / "2007_000032.png")
    >>> folder = SaliencyFolder(d)
    >>> "2007_000032" in folder, folder.read("2007_000032").shape
    (True, (2, 2))
    """

    def __init__(self, root: PathLike, suffix: str = ".png") -> None:
        root = check_path("root", root)
        if not isinstance(suffix, str):
            raise TypeError(f"suffix: expected a str, got {type(suffix).__name__}")
        if not root.is_dir():
            raise FileNotFoundError(f"{root}: saliency folder not found")
        self.root = root
        self.suffix = suffix

    def path(self, name: str) -> Path:
        """The file that holds the map of image ``name``."""
        return stem_path(self.root, name, self.suffix)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.path(name).is_file()

    def read(self, name: str, expected_size: tuple[int, int] | None = None) -> np.ndarray:
        """Read the map of image ``name`` (see :func:`read_saliency`)."""
        path = self.path(name)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no saliency map for image {name!r}")
        return read_saliency(path, expected_size)

    def __repr__(self) -> str:
        return f"SaliencyFolder({str(self.root)!r})"
