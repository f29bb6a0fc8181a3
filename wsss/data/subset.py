"""Subsets that keep the dataset protocol, and the policy for images without any class.

Images without a class
    An image whose ``classes`` vector is all zero (a photo of nothing the dataset names, a COCO
    image without any annotation, a row of your labels file with an empty class field) carries
    no image-level evidence: a multi-label classifier can only learn "none of these" from it,
    and a class activation map of it has no class to explain. ``wsss`` therefore

    - leaves such images out of classifier training and out of proxy-label making (attention
      maps, fusion): :func:`split_by_labels` returns the indices to keep and the names left
      out, so the pipeline can count and list them;
    - uses them as all-background images where pixel labels are needed (a segmentation
      network trained on ground-truth masks, evaluation): their masks, when a dataset has any,
      are read as usual, and a proxy label of such an image would be all 0.

:class:`DatasetSubset` is the ``torch.utils.data.Subset`` of this package: it keeps
``class_names``, ``num_classes`` and ``names`` so the result is still a
:class:`~wsss.data.protocol.SegmentationDataset`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from wsss.data.protocol import check_dataset, describe_dataset
from wsss.data.sample import Sample

__all__ = ["DatasetSubset", "image_labels", "split_by_labels"]


def image_labels(dataset: Sequence[Sample]) -> np.ndarray:
    """Every image's ``classes`` vector, stacked: ``float32`` of shape ``(N, C)``.

    Uses the dataset's ``image_labels()`` method when it has one (no image is decoded), else
    reads every sample.

    Raises
    ------
    TypeError
        If ``dataset`` does not follow :class:`~wsss.data.protocol.SegmentationDataset`.
    ValueError
        If a vector's length is not ``num_classes`` (the message names the image).

    Examples
    --------
    >>> from wsss.data.synthetic import SyntheticVOC
    >>> labels = image_labels(SyntheticVOC(3, image_size=40))
    >>> labels.shape, bool((labels.sum(axis=1) >= 1).all())
    ((3, 20), True)
    """
    check_dataset(dataset)
    num_classes = int(dataset.num_classes)  # type: ignore[attr-defined]
    method = getattr(dataset, "image_labels", None)
    if callable(method):
        table = np.asarray(method(), dtype=np.float32)
        if table.shape != (len(dataset), num_classes):
            raise ValueError(
                f"dataset: image_labels() has shape {table.shape}, expected "
                f"({len(dataset)}, {num_classes})"
            )
        return table
    table = np.zeros((len(dataset), num_classes), dtype=np.float32)
    for i in range(len(dataset)):
        sample = dataset[i]
        classes = np.asarray(sample.classes, dtype=np.float32)
        if classes.shape != (num_classes,):
            raise ValueError(
                f"dataset: image {sample.name!r} has a classes vector of shape {classes.shape}, "
                f"expected ({num_classes},)"
            )
        table[i] = classes
    return table


def split_by_labels(dataset: Sequence[Sample]) -> tuple[list[int], list[str]]:
    """Split a dataset into the images with at least one class and those with none.

    Returns
    -------
    with_class : list[int]
        Indices (in order) of the images whose ``classes`` vector has a non-zero entry.
    without_class : list[str]
        Names of the other images, in order.

    Examples
    --------
    >>> from wsss.data.sample import Sample
    >>> class Two:
    ...     class_names, num_classes, names = ("cat",), 1, ("a", "b")
    ...     def __len__(self):
    ...         return 2
    ...     def __getitem__(self, i):
    ...         return Sample(self.names[i], np.zeros((1, 1, 3), np.uint8),
    ...                       np.array([float(i == 0)], np.float32))
    >>> split_by_labels(Two())
    ([0], ['b'])
    """
    table = image_labels(dataset)
    names = list(dataset.names)  # type: ignore[attr-defined]
    has_class = table.any(axis=1)
    with_class = [int(i) for i in np.flatnonzero(has_class)]
    without_class = [names[i] for i in np.flatnonzero(~has_class)]
    return with_class, without_class


class DatasetSubset(Sequence[Sample]):
    """The images ``indices`` of ``dataset``, as a :class:`~wsss.data.protocol.SegmentationDataset`.

    Parameters
    ----------
    dataset
        A dataset that follows the protocol.
    indices
        Indices into ``dataset``, each in ``[0, len(dataset))``; order is kept, repeats are
        allowed.

    Examples
    --------
    >>> from wsss.data.synthetic import SyntheticVOC
    >>> data = SyntheticVOC(4, image_size=40)
    >>> subset = DatasetSubset(data, [3, 1])
    >>> len(subset), subset.names == [data.names[3], data.names[1]], subset.num_classes
    (2, True, 20)
    >>> subset[0].name == data.names[3]
    True
    """

    def __init__(self, dataset: Sequence[Sample], indices: Sequence[int]) -> None:
        check_dataset(dataset)
        if isinstance(indices, (str, bytes)) or not isinstance(indices, (Sequence, np.ndarray)):
            raise TypeError(f"indices: expected a sequence of ints, got {type(indices).__name__}")
        checked = []
        for position, index in enumerate(indices):
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                raise TypeError(
                    f"indices: entry {position} is a {type(index).__name__}, expected an int"
                )
            if not 0 <= index < len(dataset):
                raise ValueError(
                    f"indices: entry {position} ({int(index)}) is outside [0, {len(dataset)})"
                )
            checked.append(int(index))
        self.dataset = dataset
        self.indices: list[int] = checked
        self.class_names: tuple[str, ...] = tuple(dataset.class_names)  # type: ignore[attr-defined]
        self.num_classes: int = len(self.class_names)
        all_names = dataset.names  # type: ignore[attr-defined]
        self.names: list[str] = [all_names[i] for i in checked]

    def describe(self) -> dict[str, object]:
        """The parent dataset's record and the indices.

        Examples
        --------
        >>> from wsss.data.synthetic import SyntheticVOC
        >>> DatasetSubset(SyntheticVOC(3, image_size=40), [2]).describe()["indices"]
        [2]
        """
        return {"dataset": describe_dataset(self.dataset), "indices": list(self.indices)}

    def image_labels(self) -> np.ndarray:
        """The parent's image-level labels of the kept images, ``float32`` ``(len, C)``.

        Examples
        --------
        >>> from wsss.data.synthetic import SyntheticVOC
        >>> DatasetSubset(SyntheticVOC(3, image_size=40), [2, 0]).image_labels().shape
        (2, 20)
        """
        return image_labels(self.dataset)[self.indices]

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index: expected an int, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index: {index} is out of range for {len(self)} images")
        return self.dataset[self.indices[index]]

    def __repr__(self) -> str:
        return f"DatasetSubset({len(self)} of {len(self.dataset)} images)"
