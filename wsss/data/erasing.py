"""Image-space adversarial erasing (AE-PSL, Wei et al., CVPR 2017), the method SeeNet improves on.

AE-PSL trains a classifier, takes its attention, erases the attended pixels from the training
images and trains a new classifier on them, ``k`` times. Steps accumulate: the images of step
``j`` are erased wherever any of steps ``1 .. j-1`` attended, and the attention of step ``j`` is
the element-wise maximum of the maps of steps ``1 .. j``. For maps ``A^(i)`` in [0, 1]
(``(C, H, W)``, e.g. :class:`wsss.CAMExtractor`'s, already divided by their maximum) and the
image's classes ``y``:

.. math::

    A^{(1..j)} = \\max_{i \\le j} A^{(i)}, \\qquad
    E_j = \\Big\\{p : \\max_{c:\\,y_c = 1} A^{(1..j-1)}_c(p) > \\delta\\Big\\}
        = \\bigcup_{i < j} \\Big\\{p : \\max_{c:\\,y_c = 1} A^{(i)}_c(p) > \\delta\\Big\\}

and the pixels of ``E_j`` take the fill colour. The two forms of ``E_j`` are equal: the maximum
over steps exceeds ``delta`` exactly where one step does.

Choices, and why:

- ``threshold`` (``delta``) defaults to 0.7, SeeNet's ``delta_h``: what AE-PSL erases from the
  image is then the zone SeeNet erases from its features, so a comparison of the two changes
  where the erasing happens (pixels or features, separate networks or one), not how much is
  erased.
- ``fill`` defaults to the ImageNet mean colour ``(124, 116, 104)`` (RGB, the
  :data:`~wsss.data.TORCHVISION` normaliser's ``fill``). AE-PSL fills with the mean pixel of the
  training images; with ImageNet-initialised backbones the ImageNet mean is the colour that
  normalises to (almost) zero input, so an erased pixel carries no signal into the first layer,
  and it needs no pass over the data. PASCAL VOC's own mean colour lies within a few grey levels
  of it; :func:`mean_colour` computes a dataset's mean for the paper's exact reading.

The ``k``-step training loop belongs to the pipeline; this module gives its blocks: the pure
functions :func:`accumulate_attention`, :func:`erasing_mask`, :func:`erase_image`,
:func:`mean_colour`, and the dataset wrapper :class:`ErasedImages`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from wsss.data.sample import Sample
from wsss.data.transforms import TORCHVISION

__all__ = [
    "DEFAULT_FILL",
    "DEFAULT_THRESHOLD",
    "ErasedImages",
    "accumulate_attention",
    "erase_image",
    "erasing_mask",
    "mean_colour",
]

#: Default fill colour (RGB, 0-255): the ImageNet mean, which the torchvision normaliser maps
#: to (almost) zero.
DEFAULT_FILL: tuple[int, int, int] = TORCHVISION.fill

#: Default erasing threshold on max-normalised attention: SeeNet's ``delta_h``.
DEFAULT_THRESHOLD: float = 0.7

AttentionSource = Callable[[Sample], np.ndarray] | str | os.PathLike


def _check_maps(name: str, maps: object) -> np.ndarray:
    if not isinstance(maps, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(maps).__name__}")
    if maps.ndim != 3:
        raise ValueError(f"{name}: expected shape (C, H, W), got {maps.shape}")
    if maps.dtype.kind != "f":
        raise TypeError(f"{name}: expected floating-point values, got dtype {maps.dtype}")
    return maps


def _check_threshold(threshold: float) -> float:
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
        raise TypeError(f"threshold: expected a float, got {type(threshold).__name__}")
    if not 0.0 <= threshold < 1.0:  # also refuses NaN; 1 would erase nothing ever
        raise ValueError(f"threshold: expected a value in [0, 1), got {threshold}")
    return float(threshold)


def _check_fill(fill: Sequence[float]) -> np.ndarray:
    values = np.asarray(fill, dtype=np.float64)
    if values.shape != (3,) or not np.all(np.isfinite(values)):
        raise ValueError(f"fill: expected three RGB values, got {fill!r}")
    if values.min() < 0 or values.max() > 255:
        raise ValueError(f"fill: RGB values must lie in [0, 255], got {fill!r}")
    return np.round(values).astype(np.uint8)


def accumulate_attention(steps: Sequence[np.ndarray]) -> np.ndarray:
    """The attention of steps ``1 .. j``: the element-wise maximum of their maps.

    Parameters
    ----------
    steps
        One or more maps of the same shape ``(C, H, W)``, float, in [0, 1].

    Returns
    -------
    numpy.ndarray
        ``(C, H, W)``, in the maps' promoted dtype.

    Examples
    --------
    >>> a = np.array([[[0.9, 0.1, 0.0]]])
    >>> b = np.array([[[0.2, 0.8, 0.0]]])
    >>> accumulate_attention([a, b])
    array([[[0.9, 0.8, 0. ]]])
    """
    if isinstance(steps, np.ndarray) or not isinstance(steps, Sequence) or not steps:
        raise ValueError("steps: expected a non-empty sequence of (C, H, W) maps")
    first = _check_maps("steps[0]", steps[0])
    for i, maps in enumerate(steps[1:], start=1):
        if _check_maps(f"steps[{i}]", maps).shape != first.shape:
            raise ValueError(
                f"steps[{i}]: shape {maps.shape} differs from steps[0]'s {first.shape}"
            )
    out = np.array(first, dtype=np.result_type(*steps), copy=True)
    for maps in steps[1:]:
        np.maximum(out, maps, out=out)
    return out


def erasing_mask(
    attention: np.ndarray, classes: np.ndarray, threshold: float = DEFAULT_THRESHOLD
) -> np.ndarray:
    """Pixels to erase: where the attention of one of the image's classes exceeds ``threshold``.

    ``E = {p : max_{c: y_c = 1} A_c(p) > threshold}``. For several steps pass their
    :func:`accumulate_attention`: the mask of the maximum is the union of the steps' masks.

    Parameters
    ----------
    attention
        ``(C, H, W)`` float maps in [0, 1] (maps of classes not in the image are not read).
    classes
        Multi-hot image classes ``(C,)``. An image without classes erases nothing.
    threshold
        ``delta`` in [0, 1); strictly greater values are erased.

    Returns
    -------
    numpy.ndarray
        ``bool`` ``(H, W)``.

    Examples
    --------
    >>> att = np.array([[[0.9, 0.7, 0.2]], [[1.0, 1.0, 1.0]]])
    >>> erasing_mask(att, np.array([1, 0]), threshold=0.7)  # class 1 is not in the image
    array([[ True, False, False]])
    """
    att = _check_maps("attention", attention)
    present = np.asarray(classes)
    if present.shape != (att.shape[0],):
        raise ValueError(f"classes: expected shape ({att.shape[0]},), got {present.shape}")
    if present.dtype.kind not in "biuf" or not np.all((present == 0) | (present == 1)):
        raise ValueError("classes: multi-hot classes must contain only 0 and 1")
    threshold = _check_threshold(threshold)
    chosen = att[present.astype(bool)]
    if not chosen.size:
        return np.zeros(att.shape[1:], dtype=bool)
    if not np.all(np.isfinite(chosen)):
        raise ValueError("attention: contains NaN or infinite values")
    if chosen.min() < 0 or chosen.max() > 1:
        raise ValueError(
            f"attention: values must lie in [0, 1], got range [{chosen.min():.4g}, "
            f"{chosen.max():.4g}]"
        )
    return chosen.max(axis=0) > threshold


def erase_image(
    image: np.ndarray, mask: np.ndarray, fill: Sequence[float] = DEFAULT_FILL
) -> np.ndarray:
    """A copy of ``image`` with the pixels of ``mask`` set to ``fill``.

    Parameters
    ----------
    image
        ``uint8`` RGB ``(H, W, 3)``.
    mask
        ``bool`` ``(H, W)``: the pixels to erase.
    fill
        RGB colour, three values in [0, 255] (rounded to integers).

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(H, W, 3)``; ``image`` itself is not modified.

    Examples
    --------
    >>> image = np.full((1, 3, 3), 200, np.uint8)
    >>> erase_image(image, np.array([[True, False, True]]), fill=(1, 2, 3))[0]
    array([[  1,   2,   3],
           [200, 200, 200],
           [  1,   2,   3]], dtype=uint8)
    """
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        kind = getattr(image, "dtype", type(image).__name__)
        raise TypeError(f"image: expected a uint8 numpy array, got {kind}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image: expected shape (H, W, 3), got {image.shape}")
    if not isinstance(mask, np.ndarray) or mask.dtype != bool:
        raise TypeError("mask: expected a bool numpy array")
    if mask.shape != image.shape[:2]:
        raise ValueError(f"mask: shape {mask.shape} differs from the image's {image.shape[:2]}")
    out = image.copy()
    out[mask] = _check_fill(fill)
    return out


def mean_colour(dataset: Sequence[Sample]) -> tuple[float, float, float]:
    """The mean RGB colour over all pixels of all images of ``dataset`` (AE-PSL's fill).

    Examples
    --------
    >>> classes = np.ones(20, np.float32)
    >>> a = Sample("a", np.zeros((1, 2, 3), np.uint8), classes)
    >>> b = Sample("b", np.full((1, 1, 3), 30, np.uint8), classes)
    >>> mean_colour([a, b])
    (10.0, 10.0, 10.0)
    """
    total = np.zeros(3, dtype=np.float64)
    count = 0
    for sample in dataset:
        pixels = np.asarray(sample.image).reshape(-1, 3)
        total += pixels.sum(axis=0, dtype=np.float64)
        count += pixels.shape[0]
    if count == 0:
        raise ValueError("dataset: has no pixels to average")
    r, g, b = (total / count).tolist()
    return (r, g, b)


def _attention_reader(source: AttentionSource) -> Callable[[Sample], np.ndarray]:
    if callable(source):
        return source
    if isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: attention folder not found")

        def read(sample: Sample) -> np.ndarray:
            from wsss.engine.labelling import load_attention  # the pipeline's file format

            path = folder / f"{sample.name}.npz"
            maps = load_attention(path).fused
            if maps.shape[0] != len(sample.classes):
                raise ValueError(f"{path}: maps of {maps.shape[0]} classes for an image of "
                                 f"{len(sample.classes)}")
            return maps

        return read
    raise TypeError(
        f"attention: expected a callable, a folder or a sequence of them, got "
        f"{type(source).__name__}"
    )


class ErasedImages(Sequence[Sample]):
    """``dataset`` with the attended pixels of earlier steps erased from each image.

    Only ``image`` changes; the classes, pixel labels and saliency stay the dataset's.

    Parameters
    ----------
    dataset
        A sequence of :class:`~wsss.data.sample.Sample`. Its ``names``, ``class_names`` and
        ``num_classes`` attributes, where present, are those of the wrapper too.
    attention
        The attention of the earlier steps ``1 .. j-1``: one source or a sequence of them, each
        a callable ``sample -> (C, H, W)`` float array in [0, 1] at the image's size, or a
        folder of the pipeline's attention files ``<name>.npz``
        (:func:`wsss.engine.labelling.save_attention`). The pixels erased are the union of the
        sources' (:func:`erasing_mask` of their :func:`accumulate_attention`).
    threshold
        ``delta``: see :func:`erasing_mask`. Default 0.7 (see the module docstring).
    fill
        RGB colour of erased pixels. Default: the ImageNet mean (see the module docstring).

    Examples
    --------
    >>> classes = np.zeros(2, np.float32); classes[0] = 1
    >>> base = [Sample("a", np.full((1, 3, 3), 200, np.uint8), classes)]
    >>> step1 = lambda s: np.array([[[0.9, 0.1, 0.0]], [[0.0, 0.0, 1.0]]])
    >>> step2 = lambda s: np.array([[[0.0, 0.8, 0.0]], [[0.0, 0.0, 1.0]]])
    >>> ErasedImages(base, [step1, step2], fill=(0, 0, 0))[0].image[0, :, 0]
    array([  0,   0, 200], dtype=uint8)
    """

    def __init__(
        self,
        dataset: Sequence[Sample],
        attention: AttentionSource | Sequence[AttentionSource],
        threshold: float = DEFAULT_THRESHOLD,
        fill: Sequence[float] = DEFAULT_FILL,
    ) -> None:
        if isinstance(attention, Sequence) and not isinstance(attention, str):
            sources = list(attention)
            if not sources:
                raise ValueError("attention: expected at least one source")
        else:
            sources = [attention]
        self.dataset = dataset
        self.readers = [_attention_reader(s) for s in sources]
        self.threshold = _check_threshold(threshold)
        self.fill = tuple(int(v) for v in _check_fill(fill))
        for attr in ("names", "class_names", "num_classes"):
            if hasattr(dataset, attr):
                setattr(self, attr, getattr(dataset, attr))

    def __len__(self) -> int:
        return len(self.dataset)

    def erased(self, sample: Sample) -> np.ndarray:
        """The ``bool`` ``(H, W)`` mask of ``sample``'s pixels that are erased."""
        steps = []
        for reader in self.readers:
            maps = reader(sample)
            if not isinstance(maps, np.ndarray) or maps.ndim != 3:
                raise ValueError(
                    f"attention: expected a (C, H, W) array for image {sample.name!r}, got "
                    f"{getattr(maps, 'shape', type(maps).__name__)}"
                )
            if maps.shape[1:] != sample.image.shape[:2]:
                raise ValueError(
                    f"attention: maps of size {maps.shape[1:]} for image {sample.name!r} of "
                    f"size {sample.image.shape[:2]}"
                )
            steps.append(maps)
        return erasing_mask(accumulate_attention(steps), sample.classes, self.threshold)

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        sample = self.dataset[index]
        image = erase_image(sample.image, self.erased(sample), self.fill)
        return dataclasses.replace(sample, image=image)
