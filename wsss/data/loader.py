"""A torch ``Dataset`` that augments samples reproducibly: output = f(seed, epoch, index).

Each ``__getitem__(i)`` builds its own generator ``np.random.default_rng([seed, epoch, i])``
and draws every random choice of the transform from it. The augmentation of an image therefore
depends only on ``(seed, epoch, index)``: not on the number of ``DataLoader`` workers, on which
worker gets the index, on the order in which indices are visited, or on any global random state.
A run resumed at epoch ``e`` sees exactly the batches it would have seen without the stop.

Call :meth:`AugmentedDataset.set_epoch` before creating each epoch's iterator. ``DataLoader``
workers hold a copy of the dataset taken when the iterator starts, so with
``persistent_workers=True`` a later ``set_epoch`` does not reach them: keep the default
``persistent_workers=False``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from wsss._validation import check_int, check_real
from wsss.data.sample import Sample
from wsss.data.transforms import Normalizer, Transform, to_tensor

__all__ = ["AugmentedDataset", "pad_collate", "stack_collate"]


class AugmentedDataset(Dataset):
    """Wrap a sequence of :class:`~wsss.data.sample.Sample` with augmentation and normalisation.

    Parameters
    ----------
    dataset
        Anything with ``len()`` and ``dataset[i] -> Sample`` (e.g.
        :class:`~wsss.data.voc.VOCSegmentation`).
    transform
        A joint transform ``t(sample, rng) -> Sample`` (see :mod:`wsss.data.transforms`), or
        ``None`` for none.
    normalizer
        How the image becomes a tensor (:data:`~wsss.data.transforms.TORCHVISION`,
        :data:`~wsss.data.transforms.CAFFE`).
    seed
        Non-negative base seed.

    Notes
    -----
    ``dataset[i]`` returns a dict:

    - ``"image"``: ``float32`` ``(3, H, W)``, normalised;
    - ``"classes"``: ``float32`` ``(C,)`` multi-hot image labels;
    - ``"label"``: ``int64`` ``(H, W)``, 255 = ignore (only when the sample has pixel labels);
    - ``"saliency"``: ``float32`` ``(H, W)`` in [0, 1] (only when the sample has one);
    - ``"index"``: ``int``; ``"name"``: ``str``.

    :func:`stack_collate` (or ``torch.utils.data.default_collate``) batches these when every
    sample has the same keys and, after the transform, the same size (e.g. a fixed
    :class:`~wsss.data.transforms.RandomCrop`); :func:`pad_collate` batches images of
    different sizes.

    Examples
    --------
    >>> from wsss.data.transforms import TORCHVISION, RandomCrop
    >>> samples = [Sample("a", np.zeros((5, 6, 3), np.uint8), np.ones(20, np.float32))]
    >>> data = AugmentedDataset(samples, RandomCrop(4), TORCHVISION, seed=0)
    >>> item = data[0]
    >>> tuple(item["image"].shape), item["name"], "label" in item
    ((3, 4, 4), 'a', False)
    """

    def __init__(
        self,
        dataset: Sequence[Sample],
        transform: Transform | None,
        normalizer: Normalizer,
        *,
        seed: int,
    ) -> None:
        if transform is not None and not callable(transform):
            raise TypeError(
                f"transform: expected a callable or None, got {type(transform).__name__}"
            )
        if not isinstance(normalizer, Normalizer):
            raise TypeError(f"normalizer: expected a Normalizer, got {type(normalizer).__name__}")
        self.dataset = dataset
        self.transform = transform
        self.normalizer = normalizer
        self.seed = check_int("seed", seed, minimum=0)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose augmentations ``__getitem__`` draws."""
        self.epoch = check_int("epoch", epoch, minimum=0)

    def rng(self, index: int) -> np.random.Generator:
        """The generator of ``index`` this epoch: ``default_rng([seed, epoch, index])``."""
        return np.random.default_rng([self.seed, self.epoch, index])

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = check_int("index", index, minimum=0)
        if index >= len(self):
            raise IndexError(f"index: {index} is out of range for {len(self)} samples")
        sample = self.dataset[index]
        if not isinstance(sample, Sample):
            raise TypeError(f"dataset: item {index} is a {type(sample).__name__}, not a Sample")
        if self.transform is not None:
            sample = self.transform(sample, self.rng(index))
        item: dict[str, Any] = {
            "image": to_tensor(sample.image, self.normalizer),
            "classes": torch.from_numpy(np.array(sample.classes, dtype=np.float32)),
        }
        if sample.label is not None:
            item["label"] = torch.from_numpy(sample.label.astype(np.int64))
        if sample.saliency is not None:
            item["saliency"] = torch.from_numpy(np.array(sample.saliency, dtype=np.float32))
        item["index"] = index
        item["name"] = sample.name
        return item


_SPATIAL_KEYS = ("image", "label", "saliency")


def _check_batch(batch: object) -> list[Mapping[str, Any]]:
    if not isinstance(batch, Sequence) or isinstance(batch, (str, bytes)):
        raise TypeError(f"batch: expected a sequence of dicts, got {type(batch).__name__}")
    if not batch:
        raise ValueError("batch: is empty")
    items = list(batch)
    for position, item in enumerate(items):
        if not isinstance(item, Mapping) or "image" not in item:
            raise TypeError(
                f"batch: item {position} is a {type(item).__name__} without an 'image'; "
                "expected the dicts of AugmentedDataset"
            )
    keys = set(items[0])
    for item in items[1:]:
        if set(item) != keys:
            differ = sorted(keys ^ set(item))
            raise ValueError(
                f"batch: image {item.get('name', '?')!r} and image "
                f"{items[0].get('name', '?')!r} differ in the keys {differ} (every image of a "
                "dataset must have pixel labels and saliency, or none must)"
            )
    return items


def _size(item: Mapping[str, Any]) -> tuple[int, int]:
    shape = tuple(item["image"].shape)
    if len(shape) != 3:
        raise ValueError(
            f"batch: image {item.get('name', '?')!r} has shape {shape}, expected (3, H, W)"
        )
    return int(shape[1]), int(shape[2])


def _collate_rest(items: list[Mapping[str, Any]], out: dict[str, Any]) -> dict[str, Any]:
    for key in items[0]:
        if key in out:
            continue
        values = [item[key] for item in items]
        if key == "name":
            out[key] = list(values)
        elif key == "index":
            out[key] = torch.as_tensor(values, dtype=torch.int64)
        else:
            out[key] = torch.utils.data.default_collate(values)
    return out


def stack_collate(batch: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Batch :class:`AugmentedDataset` items of one size; a clear error when sizes differ.

    Returns
    -------
    dict
        ``"image"`` ``(B, 3, H, W)``, ``"classes"`` ``(B, C)``, ``"label"`` ``(B, H, W)`` and
        ``"saliency"`` ``(B, H, W)`` where the items have them, ``"index"`` ``(B,)`` and
        ``"name"`` (a list), as ``torch.utils.data.default_collate`` would.

    Raises
    ------
    ValueError
        If the images differ in size (the message names two of them and points to
        :func:`pad_collate`) or in their keys.

    Examples
    --------
    >>> items = [{"image": torch.zeros(3, 2, 2), "name": "a"},
    ...          {"image": torch.zeros(3, 2, 3), "name": "b"}]
    >>> stack_collate(items)
    Traceback (most recent call last):
    ...
    ValueError: batch: image 'b' is 2x3 (HxW) but image 'a' is 2x2; crop to a fixed size \
(e.g. RandomCrop) or batch with pad_collate
    """
    items = _check_batch(batch)
    first = _size(items[0])
    for item in items[1:]:
        size = _size(item)
        if size != first:
            raise ValueError(
                f"batch: image {item.get('name', '?')!r} is {size[0]}x{size[1]} (HxW) but image "
                f"{items[0].get('name', '?')!r} is {first[0]}x{first[1]}; crop to a fixed size "
                "(e.g. RandomCrop) or batch with pad_collate"
            )
    out = {
        key: torch.stack([item[key] for item in items]) for key in _SPATIAL_KEYS if key in items[0]
    }
    return _collate_rest(items, out)


def pad_collate(
    batch: Sequence[Mapping[str, Any]],
    *,
    image_fill: float = 0.0,
    label_fill: int = 255,
    saliency_fill: float = 0.0,
) -> dict[str, Any]:
    """Batch :class:`AugmentedDataset` items of different sizes by padding to the largest.

    Every image is padded at the bottom and on the right to ``(max H, max W)`` of the batch:
    images with ``image_fill`` (0 is the normaliser's mean colour), pixel labels with
    ``label_fill`` (255, ignored by the losses and metrics), saliency with ``saliency_fill``
    (0, not salient). The original sizes come back as ``"size"``, so a consumer can crop
    outputs back: image ``b`` is ``batch["image"][b, :, :h, :w]`` with
    ``h, w = batch["size"][b]``.

    Parameters
    ----------
    batch
        Items of :class:`AugmentedDataset` (dicts with ``"image"`` ``(3, H, W)``, ...), all with
        the same keys.
    image_fill, label_fill, saliency_fill
        The values the padding takes.

    Returns
    -------
    dict
        As :func:`stack_collate`, with spatial size ``(max H, max W)``, plus ``"size"``:
        ``int64`` ``(B, 2)``, each image's ``(H, W)`` before padding.

    Raises
    ------
    ValueError
        If the batch is empty or its items differ in their keys (the message names the images).

    Examples
    --------
    >>> items = [
    ...     {"image": torch.ones(3, 1, 2), "label": torch.ones(1, 2, dtype=torch.int64),
    ...      "classes": torch.ones(1), "index": 0, "name": "a"},
    ...     {"image": torch.ones(3, 2, 1), "label": torch.ones(2, 1, dtype=torch.int64),
    ...      "classes": torch.zeros(1), "index": 1, "name": "b"},
    ... ]
    >>> out = pad_collate(items)
    >>> out["image"][0, 0].tolist(), out["label"][1].tolist(), out["size"].tolist()
    ([[1.0, 1.0], [0.0, 0.0]], [[1, 255], [1, 255]], [[1, 2], [2, 1]])
    """
    limit = float(torch.finfo(torch.float32).max)  # a fill a float32 image can hold
    image_fill = check_real("image_fill", image_fill, minimum=-limit, maximum=limit)
    label_fill = check_int("label_fill", label_fill, minimum=0, maximum=255)
    saliency_fill = check_real("saliency_fill", saliency_fill, minimum=0.0, maximum=1.0)
    items = _check_batch(batch)
    sizes = [_size(item) for item in items]
    height = max(h for h, _ in sizes)
    width = max(w for _, w in sizes)
    fills = {"image": image_fill, "label": label_fill, "saliency": saliency_fill}
    out: dict[str, Any] = {}
    for key in _SPATIAL_KEYS:
        if key not in items[0]:
            continue
        first = items[0][key]
        padded = torch.full(
            (len(items), *first.shape[:-2], height, width), fills[key], dtype=first.dtype
        )
        for b, (item, (h, w)) in enumerate(zip(items, sizes)):
            value = item[key]
            if tuple(value.shape[-2:]) != (h, w):
                raise ValueError(
                    f"batch: the {key} of image {item.get('name', '?')!r} is "
                    f"{tuple(value.shape[-2:])}, its image {(h, w)}"
                )
            padded[b, ..., :h, :w] = value
        out[key] = padded
    out["size"] = torch.tensor(sizes, dtype=torch.int64)
    return _collate_rest(items, out)
