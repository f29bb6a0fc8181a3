"""Swap a dataset's pixel labels for a folder of label PNGs (e.g. proxy labels)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from wsss.data.images import read_label, stem_path
from wsss.data.sample import Sample, sample_names

__all__ = ["WithLabels"]


class WithLabels(Sequence[Sample]):
    """``dataset`` with each sample's ``label`` read from ``<label_dir>/<name>.png``.

    This is how the segmentation network trains on proxy labels: the images, image-level
    labels and saliency stay those of ``dataset``; only the pixel labels change.

    Parameters
    ----------
    dataset
        A sequence of :class:`~wsss.data.sample.Sample` with a ``names`` attribute (every
        ``wsss`` dataset has one).
    label_dir
        A folder of palette or grey PNGs named after the samples.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from wsss.data.images import write_label
    >>> d = Path(tempfile.mkdtemp())
    >>> write_label(d / "a.png", np.full((2, 3), 7, np.uint8))
    >>> base = [Sample("a", np.zeros((2, 3, 3), np.uint8), np.ones(20, np.float32))]
    >>> WithLabels(base, d)[0].label
    array([[7, 7, 7],
           [7, 7, 7]], dtype=uint8)
    """

    def __init__(self, dataset: Sequence[Sample], label_dir: str | os.PathLike) -> None:
        self.dataset = dataset
        self.label_dir = Path(label_dir)
        self.names: list[str] = sample_names(dataset)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        sample = self.dataset[index]
        label = read_label(stem_path(self.label_dir, sample.name, ".png"))
        if label.shape != sample.image.shape[:2]:
            raise ValueError(
                f"{self.label_dir / (sample.name + '.png')}: label size {label.shape} differs "
                f"from the image's {sample.image.shape[:2]}"
            )
        return dataclasses.replace(sample, label=label)
