"""Pictures a person can look at: heat-map overlays, label maps in the VOC palette, grids."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image

from .data.palette import colorize
from .io import atomic_write

__all__ = ["heatmap", "image_grid", "overlay", "save_png"]


def heatmap(values: np.ndarray) -> np.ndarray:
    """Map values in [0, 1] ``(H, W)`` to a blue-cyan-yellow-red colour ramp, ``uint8 (H, W, 3)``.

    Examples
    --------
    >>> heatmap(np.array([[0.0, 1.0]]))[0].tolist()
    [[0, 0, 128], [128, 0, 0]]
    """
    v = np.clip(np.nan_to_num(np.asarray(values, np.float32)), 0, 1)
    # piecewise-linear "jet": r, g, b as functions of v
    r = np.clip(1.5 - np.abs(4 * v - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * v - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * v - 1), 0, 1)
    return np.round(np.stack([r, g, b], -1) * 255).astype(np.uint8)


def overlay(image: np.ndarray, values: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Blend a heat map of ``values`` ``(H, W)`` over an RGB ``uint8`` image ``(H, W, 3)``.

    Examples
    --------
    >>> overlay(np.zeros((1, 2, 3), np.uint8), np.array([[0.0, 1.0]]), alpha=1.0)[0, 1]
    array([128,   0,   0], dtype=uint8)
    """
    mixed = (1 - alpha) * image.astype(np.float32) + alpha * heatmap(values).astype(np.float32)
    return np.round(mixed).astype(np.uint8)


def _as_rgb(tile: np.ndarray) -> np.ndarray:
    if tile.ndim == 2 and tile.dtype == np.uint8:
        return colorize(tile)  # a label map
    if tile.ndim == 2:
        return heatmap(tile)
    return tile


def image_grid(rows: Sequence[Sequence[np.ndarray]], gap: int = 2) -> np.ndarray:
    """Tile images into a white-separated grid, ``uint8 (H', W', 3)``.

    Each tile is an RGB ``uint8`` image, a ``uint8`` label map (drawn in the VOC palette) or a
    float map in [0, 1] (drawn as a heat map). Tiles of a row may differ in size; each is
    placed at the top-left of its cell.

    Examples
    --------
    >>> grid = image_grid([[np.zeros((2, 3, 3), np.uint8), np.ones((2, 2), np.uint8)]], gap=1)
    >>> grid.shape, grid[1, 5].tolist()  # the label-1 tile in VOC red
    ((4, 9, 3), [128, 0, 0])
    """
    tiles = [[_as_rgb(t) for t in row] for row in rows]
    cell_h = max(t.shape[0] for row in tiles for t in row)
    cell_w = max(t.shape[1] for row in tiles for t in row)
    n_cols = max(len(row) for row in tiles)
    height = len(tiles) * (cell_h + gap) + gap
    width = n_cols * (cell_w + gap) + gap
    canvas = np.full((height, width, 3), 255, np.uint8)
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            y, x = gap + r * (cell_h + gap), gap + c * (cell_w + gap)
            canvas[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    return canvas


def save_png(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an RGB image as PNG, atomically (parent folders are created).

    Parameters
    ----------
    path
        Destination (``.png``).
    image
        ``uint8`` of shape ``(H, W, 3)``, RGB order.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "heat.png"
    ...     save_png(path, heatmap(np.array([[0.0, 1.0]])))
    ...     with Image.open(path) as png:
    ...         png.size, png.mode, png.getpixel((1, 0))
    ((2, 1), 'RGB', (128, 0, 0))
    """
    with atomic_write(path) as f:
        Image.fromarray(np.ascontiguousarray(image)).save(f, format="PNG")
