"""A picture of a dataset's first samples: :func:`render_preview`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..._validation import MAX_COUNT, MAX_SIDE
from ..palette import colorize
from ..sample import Sample
from ._checks import _check_int

__all__ = ["render_preview"]


def render_preview(dataset: Sequence[Sample], n: int = 4, *, gap: int = 2) -> np.ndarray:
    """Tile ``n`` samples as rows of ``image | ground truth in VOC colours | saliency``.

    Parameters
    ----------
    dataset
        Any sequence of :class:`~wsss.data.sample.Sample` with images of one size; missing
        labels or saliency maps are drawn in grey.
    n
        Number of rows (the first ``n`` samples), at most ``len(dataset)``.
    gap
        White margin between tiles, in pixels, in ``[0, 32768]``.

    Returns
    -------
    numpy.ndarray
        ``uint8`` of shape ``(n * H + (n - 1) * gap, 3 * W + 2 * gap, 3)``.

    Examples
    --------
    >>> from wsss.data.synthetic import SyntheticVOC
    >>> render_preview(SyntheticVOC(2, image_size=40), 2).shape
    (82, 124, 3)
    """
    if isinstance(dataset, (str, bytes)) or not (
        hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")
    ):
        raise TypeError(f"dataset: expected a sequence of Samples, got {type(dataset).__name__}")
    n = _check_int("n", n, minimum=1, maximum=MAX_COUNT)
    gap = _check_int("gap", gap, minimum=0, maximum=MAX_SIDE)
    if n > len(dataset):
        raise ValueError(f"n: asked for {n} rows, the dataset has {len(dataset)} samples")
    rows = []
    for i in range(n):
        sample = dataset[i]
        if not isinstance(sample, Sample):
            raise TypeError(f"dataset: item {i} is a {type(sample).__name__}, not a Sample")
        height, width = sample.image.shape[:2]
        grey = np.full((height, width, 3), 128, dtype=np.uint8)
        label = grey if sample.label is None else colorize(sample.label)
        if sample.saliency is None:
            saliency = grey
        else:
            level = np.round(np.clip(sample.saliency, 0, 1) * 255).astype(np.uint8)
            saliency = np.repeat(level[..., None], 3, axis=2)
        spacer = np.full((height, gap, 3), 255, dtype=np.uint8)
        rows.append(np.concatenate([sample.image, spacer, label, spacer, saliency], axis=1))
    if any(row.shape != rows[0].shape for row in rows):
        raise ValueError("dataset: samples must all have the same image size")
    spacer = np.full((gap, rows[0].shape[1], 3), 255, dtype=np.uint8)
    tiles = [rows[0]]
    for row in rows[1:]:
        tiles += [spacer, row]
    return np.concatenate(tiles, axis=0)
