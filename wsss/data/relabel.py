"""Swap a dataset's pixel labels for a folder of label PNGs (e.g. proxy labels)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence

import numpy as np

from wsss._validation import check_path
from wsss.data.images import read_label, stem_path
from wsss.data.protocol import check_dataset, describe_dataset
from wsss.data.sample import Sample

__all__ = ["WithLabels"]


class WithLabels(Sequence[Sample]):
    """``dataset`` with each sample's ``label`` read from ``<label_dir>/<name>.png``.

    This is how the segmentation network trains on proxy labels: the images, image-level
    labels and saliency stay those of ``dataset``; only the pixel labels change. The result
    follows :class:`~wsss.data.protocol.SegmentationDataset` with the classes of ``dataset``.

    Parameters
    ----------
    dataset
        A :class:`~wsss.data.protocol.SegmentationDataset` (every ``wsss`` dataset is one).
    label_dir
        A folder of palette or grey PNGs named after the samples, with values in
        ``{0, ..., dataset.num_classes, 255}``.

    Raises
    ------
    TypeError
        If ``dataset`` does not follow the protocol (the message names the missing members).
    FileNotFoundError
        If ``label_dir`` is not a folder.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from wsss.data.images import write_label
    >>> from wsss.data.synthetic import SyntheticVOC
    >>> d = Path(tempfile.mkdtemp())
    >>> base = SyntheticVOC(1, image_size=40)
    >>> write_label(d / f"{base.names[0]}.png", np.full((40, 40), 7, np.uint8))
    >>> relabelled = WithLabels(base, d)
    >>> relabelled[0].label[:2, :3]
    array([[7, 7, 7],
           [7, 7, 7]], dtype=uint8)
    >>> relabelled.num_classes, relabelled.class_names == base.class_names
    (20, True)
    """

    def __init__(self, dataset: Sequence[Sample], label_dir: str | os.PathLike) -> None:
        check_dataset(dataset)
        self.dataset = dataset
        self.label_dir = check_path("label_dir", label_dir)
        if not self.label_dir.is_dir():
            raise FileNotFoundError(f"{self.label_dir}: label folder not found")
        self.class_names: tuple[str, ...] = tuple(dataset.class_names)  # type: ignore[attr-defined]
        self.num_classes: int = len(self.class_names)
        self.names: list[str] = list(dataset.names)  # type: ignore[attr-defined]

    def describe(self) -> dict[str, object]:
        """The wrapped dataset's record and the label folder.

        Examples
        --------
        >>> import tempfile
        >>> from wsss.data.synthetic import SyntheticVOC
        >>> record = WithLabels(SyntheticVOC(1, image_size=40), tempfile.mkdtemp()).describe()
        >>> record["dataset"]["class"]
        'wsss.data.synthetic.SyntheticVOC'
        """
        return {"dataset": describe_dataset(self.dataset), "label_dir": self.label_dir}

    def image_labels(self) -> np.ndarray:
        """The wrapped dataset's image-level labels, ``float32`` ``(N, C)``.

        Examples
        --------
        >>> import tempfile
        >>> from wsss.data.synthetic import SyntheticVOC
        >>> WithLabels(SyntheticVOC(2, image_size=40), tempfile.mkdtemp()).image_labels().shape
        (2, 20)
        """
        from wsss.data.subset import image_labels

        return image_labels(self.dataset)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        sample = self.dataset[index]
        path = stem_path(self.label_dir, sample.name, ".png")
        label = read_label(path, num_classes=self.num_classes)
        if label.shape != sample.image.shape[:2]:
            raise ValueError(
                f"{path}: label size {label.shape} differs from the image's "
                f"{sample.image.shape[:2]} (image {sample.name!r})"
            )
        return dataclasses.replace(sample, label=label)
