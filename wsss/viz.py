"""Pictures a person can look at: heat-map overlays, label maps in the VOC palette, grids."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

from .data.palette import colorize
from .io import atomic_write

__all__ = ["add_titles", "heatmap", "image_grid", "line_plot", "overlay", "save_png"]


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


def add_titles(grid: np.ndarray, titles: Sequence[str], cell_width: int, gap: int = 2,
               height: int = 14) -> np.ndarray:
    """Put a white band with one title above each column of an :func:`image_grid`.

    ``cell_width`` is the grid's column width (its widest tile); titles are drawn in PIL's
    built-in bitmap font and clipped to their column.

    Examples
    --------
    >>> grid = image_grid([[np.zeros((8, 20, 3), np.uint8)] * 2])
    >>> titled = add_titles(grid, ["image", "label"], cell_width=20)
    >>> titled.shape, grid.shape
    ((26, 46, 3), (12, 46, 3))
    >>> bool((titled[:14] < 255).any())  # some text was drawn in the band
    True
    """
    band = Image.new("RGB", (grid.shape[1], height), "white")
    for c, title in enumerate(titles):
        x = gap + c * (cell_width + gap)
        column = Image.new("RGB", (cell_width, height), "white")
        ImageDraw.Draw(column).text((1, 1), str(title), fill=(0, 0, 0))
        band.paste(column, (x, 0))
    return np.concatenate([np.asarray(band, np.uint8), grid], axis=0)


def line_plot(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str = "",
    xlabel: str = "",
    size: tuple[int, int] = (480, 300),
) -> np.ndarray:
    """Draw line series ``{name: (x, y)}`` on shared axes, ``uint8 (H, W, 3)``.

    The axes span the data's range (y from its minimum to its maximum); each series gets a
    colour of the VOC palette and an entry in the legend. Meant for loss curves.

    Examples
    --------
    >>> plot = line_plot({"loss": ([0, 1, 2], [1.0, 0.5, 0.25])}, title="train")
    >>> plot.shape, plot.dtype
    ((300, 480, 3), dtype('uint8'))
    >>> line_plot({})
    Traceback (most recent call last):
    ...
    ValueError: series: expected at least one (x, y) series with a point
    """
    points = {k: (np.asarray(x, np.float64), np.asarray(y, np.float64))
              for k, (x, y) in series.items() if len(x)}
    if not points:
        raise ValueError("series: expected at least one (x, y) series with a point")
    for name, (x, y) in points.items():
        if x.shape != y.shape or x.ndim != 1 or not (np.isfinite(x).all() and np.isfinite(y).all()):
            raise ValueError(f"series: {name!r} needs finite x and y of the same length")
    width, height = size
    left, right, top, bottom = 50, 10, 22, 30
    xs = np.concatenate([x for x, _ in points.values()])
    ys = np.concatenate([y for _, y in points.values()])
    x0, x1 = float(xs.min()), float(xs.max())
    y0, y1 = float(ys.min()), float(ys.max())
    x1, y1 = (x1 if x1 > x0 else x0 + 1), (y1 if y1 > y0 else y0 + 1)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    box = (left, top, width - right, height - bottom)
    draw.rectangle(box, outline=(0, 0, 0))

    def to_px(x: np.ndarray, y: np.ndarray) -> list[tuple[float, float]]:
        px = left + (x - x0) / (x1 - x0) * (box[2] - left)
        py = box[3] - (y - y0) / (y1 - y0) * (box[3] - top)
        return list(zip(px.tolist(), py.tolist()))

    colours = colorize(np.arange(1, len(points) + 1, dtype=np.uint8)[None])[0]
    for k, (name, (x, y)) in enumerate(points.items()):
        colour = tuple(int(v) for v in colours[k])
        line = to_px(x, y)
        if len(line) > 1:
            draw.line(line, fill=colour, width=2)
        else:
            draw.point(line, fill=colour)
        draw.text((left + 6, top + 4 + 12 * k), name, fill=colour)
    draw.text((4, top - 4), f"{y1:.3g}", fill=(0, 0, 0))
    draw.text((4, box[3] - 8), f"{y0:.3g}", fill=(0, 0, 0))
    draw.text((left, box[3] + 4), f"{x0:.0f}", fill=(0, 0, 0))
    draw.text((box[2] - 40, box[3] + 4), f"{x1:.0f}", fill=(0, 0, 0))
    draw.text((left + (box[2] - left) // 2 - 20, box[3] + 14), xlabel, fill=(0, 0, 0))
    draw.text((left, 4), title, fill=(0, 0, 0))
    return np.asarray(image, np.uint8).copy()


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
