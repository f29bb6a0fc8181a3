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

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from wsss._validation import check_int
from wsss.data.sample import Sample
from wsss.data.transforms import Normalizer, Transform, to_tensor

__all__ = ["AugmentedDataset"]


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

    ``torch.utils.data.default_collate`` batches these when every sample has the same keys and,
    after the transform, the same size (e.g. a fixed :class:`~wsss.data.transforms.RandomCrop`).

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
