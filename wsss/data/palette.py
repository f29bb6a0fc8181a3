"""The PASCAL VOC colour map: label index <-> RGB colour.

VOC label PNGs are palette ("P" mode) images whose palette is the standard bit-interleaving
colour map: the bits of the index ``i = b7 ... b1 b0`` are dealt out in turn to red, green and
blue, most significant bit first, so ``b0 -> R bit 7``, ``b1 -> G bit 7``, ``b2 -> B bit 7``,
``b3 -> R bit 6`` and so on. Class 1 (aeroplane) is ``(128, 0, 0)``, class 15 (person) is
``(192, 128, 128)`` and the ignore index 255 is ``(224, 224, 192)``. The map is a bijection, so
an RGB rendering of a label can be mapped back exactly (:func:`rgb_to_label`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["colorize", "rgb_to_label", "voc_palette"]


def voc_palette() -> np.ndarray:
    """Return the VOC colour map.

    Returns
    -------
    numpy.ndarray
        ``uint8`` of shape ``(256, 3)``; row ``i`` is the RGB colour of label ``i``.

    Examples
    --------
    >>> palette = voc_palette()
    >>> palette[1].tolist(), palette[15].tolist(), palette[255].tolist()
    ([128, 0, 0], [192, 128, 128], [224, 224, 192])
    """
    index = np.arange(256, dtype=np.int64)
    palette = np.zeros((256, 3), dtype=np.int64)
    for step in range(8):  # each round takes three bits of the index, lowest first
        for channel in range(3):
            bit = (index >> (3 * step + channel)) & 1
            palette[:, channel] |= bit << (7 - step)
    return palette.astype(np.uint8)


def colorize(label: np.ndarray) -> np.ndarray:
    """Render a label map in the VOC colours.

    Parameters
    ----------
    label
        Integer label map of shape ``(H, W)`` with values in ``[0, 255]``.

    Returns
    -------
    numpy.ndarray
        ``uint8`` RGB image of shape ``(H, W, 3)``: ``out[y, x] = voc_palette()[label[y, x]]``.

    Examples
    --------
    >>> colorize(np.array([[0, 1, 255]], dtype=np.uint8)).tolist()
    [[[0, 0, 0], [128, 0, 0], [224, 224, 192]]]
    """
    if not isinstance(label, np.ndarray):
        raise TypeError(f"label: expected a numpy.ndarray, got {type(label).__name__}")
    if label.dtype.kind not in "iu":
        raise TypeError(f"label: expected an integer array, got dtype {label.dtype}")
    if label.ndim != 2:
        raise ValueError(f"label: expected shape (H, W), got {label.shape}")
    if label.size and (int(label.min()) < 0 or int(label.max()) > 255):
        raise ValueError(
            f"label: values must lie in [0, 255], got [{int(label.min())}, {int(label.max())}]"
        )
    return voc_palette()[label]


def rgb_to_label(rgb: np.ndarray) -> np.ndarray:
    """Map an RGB rendering of a label map back to label indices (inverse of :func:`colorize`).

    Parameters
    ----------
    rgb
        ``uint8`` array of shape ``(H, W, 3)`` whose colours all belong to the VOC palette.

    Returns
    -------
    numpy.ndarray
        ``uint8`` label map of shape ``(H, W)``.

    Raises
    ------
    ValueError
        If a colour is not a palette colour (the message gives the first such pixel).

    Examples
    --------
    >>> rgb_to_label(np.array([[[128, 0, 0], [224, 224, 192]]], dtype=np.uint8)).tolist()
    [[1, 255]]
    """
    if not isinstance(rgb, np.ndarray):
        raise TypeError(f"rgb: expected a numpy.ndarray, got {type(rgb).__name__}")
    if rgb.dtype != np.uint8:
        raise TypeError(f"rgb: expected dtype uint8, got {rgb.dtype}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"rgb: expected shape (H, W, 3), got {rgb.shape}")
    palette = voc_palette().astype(np.int64)
    palette_codes = (palette[:, 0] << 16) | (palette[:, 1] << 8) | palette[:, 2]
    order = np.argsort(palette_codes)
    sorted_codes = palette_codes[order]
    pixels = rgb.astype(np.int64)
    codes = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    position = np.clip(np.searchsorted(sorted_codes, codes), 0, 255)
    unknown = sorted_codes[position] != codes
    if unknown.any():
        y, x = (int(v) for v in np.argwhere(unknown)[0])
        colour = tuple(int(v) for v in rgb[y, x])
        raise ValueError(
            f"rgb: colour {colour} at (row {y}, column {x}) is not a VOC palette colour "
            f"({int(unknown.sum())} such pixels)"
        )
    return order[position].astype(np.uint8)
