"""Joint augmentations of a :class:`~wsss.data.sample.Sample`, and input normalisation.

A transform is a callable ``t(sample, rng) -> Sample``: it takes its randomness from the
``numpy.random.Generator`` it is given (never from a global generator), so a transform's output
is a function of the sample and the generator's state. The image is resized bilinearly, the pixel
labels with nearest neighbour (no new label values appear) and the saliency map bilinearly, all
to the same size and with the same half-pixel grid (``align_corners=False``), so the three stay
aligned. Resizing runs on ``torch.nn.functional.interpolate`` (no anti-aliasing, like OpenCV's
``INTER_LINEAR`` used by DeepLab's Caffe data layer).

The DeepLab training recipe (:ref:`How SeeNet works, section 7 <seenet-deeplab>`) is::

    Compose([RandomScale(0.7, 1.3), RandomHorizontalFlip(), RandomCrop(321)])

followed by :func:`to_tensor` with a :class:`Normalizer` preset (:data:`TORCHVISION` for RGB
ImageNet weights, :data:`CAFFE` for Caffe-converted VGG weights).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F

from wsss._validation import (
    MAX_SIDE,
    check_bool,
    check_int,
    check_real,
    check_reals,
    check_rng,
    check_size,
)
from wsss.data.sample import Sample

__all__ = [
    "CAFFE",
    "TORCHVISION",
    "Compose",
    "Normalizer",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomScale",
    "Resize",
    "Transform",
    "to_tensor",
]

#: The type of every joint transform.
Transform = Callable[[Sample, np.random.Generator], Sample]


def _size_pair(name: str, size: int | Sequence[int]) -> tuple[int, int]:
    """``size`` as ``(height, width)``: an int means a square."""
    return check_size(name, size)


def _check_sample(sample: object) -> Sample:
    """A :class:`Sample` whose arrays a transform can work on (shapes and dtypes only)."""
    if not isinstance(sample, Sample):
        raise TypeError(f"sample: expected a Sample, got {type(sample).__name__}")
    image = sample.image
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8:
        raise TypeError("sample: image must be a uint8 numpy.ndarray")
    if image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape[:2]:
        raise ValueError(f"sample: image must have shape (H, W, 3), H, W >= 1, got {image.shape}")
    for field in ("label", "saliency"):
        array = getattr(sample, field)
        if array is None:
            continue
        if not isinstance(array, np.ndarray):
            raise TypeError(f"sample: {field} must be a numpy.ndarray or None")
        if array.shape != image.shape[:2]:
            raise ValueError(
                f"sample: {field} shape {array.shape} differs from the image's {image.shape[:2]}"
            )
    return sample


def _interpolate(array: np.ndarray, size: tuple[int, int], mode: str) -> np.ndarray:
    """Resize an ``(H, W)`` or ``(H, W, C)`` array with ``torch.nn.functional.interpolate``."""
    tensor = torch.from_numpy(np.ascontiguousarray(array))
    tensor = tensor[None, None] if array.ndim == 2 else tensor.permute(2, 0, 1)[None]
    if mode == "bilinear":
        out = F.interpolate(tensor.float(), size=size, mode="bilinear", align_corners=False)
    else:
        out = F.interpolate(tensor, size=size, mode="nearest-exact")
    out = out[0, 0] if array.ndim == 2 else out[0].permute(1, 2, 0)
    return out.contiguous().numpy()


def resize_sample(sample: Sample, size: tuple[int, int]) -> Sample:
    """Resize a sample's image, label and saliency map to ``size = (height, width)``.

    Image: bilinear, rounded back to ``uint8``; label: nearest neighbour (values are kept);
    saliency: bilinear, clipped to [0, 1]. An array already at ``size`` is returned unchanged.

    Examples
    --------
    >>> s = Sample("a", np.zeros((2, 2, 3), np.uint8), np.zeros(20, np.float32),
    ...            label=np.array([[1, 2], [3, 4]], np.uint8))
    >>> resize_sample(s, (4, 4)).label.tolist()
    [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]
    """
    _check_sample(sample)
    size = _size_pair("size", size)
    if sample.image.shape[:2] == size:
        return sample
    image = _interpolate(sample.image, size, "bilinear")
    image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    label = None if sample.label is None else _interpolate(sample.label, size, "nearest")
    saliency = None
    if sample.saliency is not None:
        saliency = np.clip(_interpolate(sample.saliency, size, "bilinear"), 0.0, 1.0)
        saliency = saliency.astype(np.float32)
    return dataclasses.replace(sample, image=image, label=label, saliency=saliency)


@dataclass(frozen=True)
class Resize:
    """Resize to a fixed ``size`` (an int for a square, or ``(height, width)``).

    Examples
    --------
    >>> s = Sample("a", np.zeros((5, 7, 3), np.uint8), np.zeros(20, np.float32))
    >>> Resize((3, 4))(s, np.random.default_rng(0)).image.shape
    (3, 4, 3)
    """

    size: int | tuple[int, int]

    def __post_init__(self) -> None:
        _size_pair("size", self.size)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        check_rng("rng", rng)
        return resize_sample(sample, _size_pair("size", self.size))


@dataclass(frozen=True)
class RandomScale:
    """Resize by a factor ``s ~ Uniform(low, high)``: ``(H, W) -> (round(s H), round(s W))``.

    Examples
    --------
    >>> s = Sample("a", np.zeros((10, 20, 3), np.uint8), np.zeros(20, np.float32))
    >>> RandomScale(0.5, 0.5)(s, np.random.default_rng(0)).image.shape
    (5, 10, 3)
    """

    low: float = 0.7
    high: float = 1.3

    def __post_init__(self) -> None:
        low = check_real("low", self.low, minimum=0.0, exclusive_minimum=True)
        high = check_real("high", self.high, minimum=0.0, exclusive_minimum=True)
        if not low <= high:
            raise ValueError(f"low: need 0 < low <= high, got low={low}, high={high}")

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        _check_sample(sample)
        scale = check_rng("rng", rng).uniform(self.low, self.high)
        height, width = sample.image.shape[:2]
        size = (
            max(1, int(np.floor(height * scale + 0.5))),
            max(1, int(np.floor(width * scale + 0.5))),
        )
        if max(size) > MAX_SIDE:
            raise ValueError(f"high: scale {scale:.4g} makes a {size} image, over {MAX_SIDE} px")
        return resize_sample(sample, size)


@dataclass(frozen=True)
class RandomHorizontalFlip:
    """Mirror left-right with probability ``p`` (image, label and saliency together).

    Examples
    --------
    >>> s = Sample("a", np.arange(6, dtype=np.uint8).reshape(1, 2, 3), np.zeros(20, np.float32))
    >>> RandomHorizontalFlip(p=1.0)(s, np.random.default_rng(0)).image.tolist()
    [[[3, 4, 5], [0, 1, 2]]]
    """

    p: float = 0.5

    def __post_init__(self) -> None:
        check_real("p", self.p, minimum=0.0, maximum=1.0)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        _check_sample(sample)
        if not check_rng("rng", rng).random() < self.p:
            return sample

        def flip(a: np.ndarray | None) -> np.ndarray | None:
            # a copy in C order: ascontiguousarray keeps the negative stride of a one-pixel-wide
            # view, which torch.from_numpy refuses
            return None if a is None else a[:, ::-1].copy(order="C")

        return dataclasses.replace(
            sample,
            image=cast(np.ndarray, flip(sample.image)),
            label=flip(sample.label),
            saliency=flip(sample.saliency),
        )


@dataclass(frozen=True)
class RandomCrop:
    """Pad to at least ``size``, then cut a ``size`` window at a uniformly random offset.

    Padding is added at the bottom and right (as in DeepLab's Caffe data layer): the image with
    ``image_fill``, the label with ``label_fill`` (255: ignored by the loss) and the saliency map
    with ``saliency_fill``. A padded dimension therefore has offset 0.

    Parameters
    ----------
    size
        Crop size, an int or ``(height, width)`` (321 for DeepLab).
    image_fill
        RGB padding colour, 0-255. The default, the ImageNet mean colour, becomes (almost) zero
        after either :class:`Normalizer` preset (use ``normalizer.fill`` to match one exactly).
    label_fill
        Label padding value.
    saliency_fill
        Saliency padding value.

    Examples
    --------
    >>> s = Sample("a", np.zeros((1, 2, 3), np.uint8), np.zeros(20, np.float32),
    ...            label=np.zeros((1, 2), np.uint8))
    >>> out = RandomCrop(2)(s, np.random.default_rng(0))
    >>> out.label.tolist(), out.image[1, 0].tolist()
    ([[0, 0], [255, 255]], [124, 116, 104])
    """

    size: int | tuple[int, int] = 321
    image_fill: tuple[int, int, int] = (124, 116, 104)
    label_fill: int = 255
    saliency_fill: float = 0.0

    def __post_init__(self) -> None:
        _size_pair("size", self.size)
        fill = self.image_fill
        if isinstance(fill, (str, bytes)) or not isinstance(fill, Sequence) or len(fill) != 3:
            raise ValueError(f"image_fill: expected 3 values in [0, 255], got {fill!r}")
        for value in fill:
            check_int("image_fill", value, minimum=0, maximum=255)
        check_int("label_fill", self.label_fill, minimum=0, maximum=255)
        check_real("saliency_fill", self.saliency_fill, minimum=0.0, maximum=1.0)

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        _check_sample(sample)
        check_rng("rng", rng)
        crop_h, crop_w = _size_pair("size", self.size)
        height, width = sample.image.shape[:2]
        padded_h, padded_w = max(height, crop_h), max(width, crop_w)
        top = int(rng.integers(0, padded_h - crop_h + 1))
        left = int(rng.integers(0, padded_w - crop_w + 1))

        def pad_crop(array: np.ndarray | None, fill: object) -> np.ndarray | None:
            if array is None:
                return None
            out = np.empty((crop_h, crop_w, *array.shape[2:]), dtype=array.dtype)
            out[...] = np.asarray(fill, dtype=array.dtype)
            window = array[top : top + crop_h, left : left + crop_w]
            out[: window.shape[0], : window.shape[1]] = window
            return out

        return dataclasses.replace(
            sample,
            image=cast(np.ndarray, pad_crop(sample.image, self.image_fill)),
            label=pad_crop(sample.label, self.label_fill),
            saliency=pad_crop(sample.saliency, self.saliency_fill),
        )


@dataclass(frozen=True)
class Compose:
    """Apply transforms in order, all drawing from the same generator.

    Examples
    --------
    >>> s = Sample("a", np.zeros((4, 6, 3), np.uint8), np.zeros(20, np.float32))
    >>> t = Compose([Resize((8, 12)), RandomCrop(5)])
    >>> t(s, np.random.default_rng(0)).image.shape
    (5, 5, 3)
    """

    transforms: Sequence[Transform]

    def __post_init__(self) -> None:
        if isinstance(self.transforms, (str, bytes)) or not isinstance(self.transforms, Sequence):
            raise TypeError(
                f"transforms: expected a sequence of transforms, got "
                f"{type(self.transforms).__name__}"
            )
        object.__setattr__(self, "transforms", tuple(self.transforms))
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"transforms: {t!r} is not callable")

    def __call__(self, sample: Sample, rng: np.random.Generator) -> Sample:
        _check_sample(sample)
        check_rng("rng", rng)
        for transform in self.transforms:
            sample = transform(sample, rng)
        return sample


@dataclass(frozen=True)
class Normalizer:
    """How a ``uint8`` RGB image becomes a network input.

    ``out[c] = (x[order[c]] * scale - mean[c]) / std[c]``, where ``order`` is RGB or BGR and
    ``mean`` / ``std`` are given in the output channel order.

    Attributes
    ----------
    mean, std
        Per output channel, after ``scale``.
    scale
        Multiplies the 0-255 pixel value first (``1 / 255`` or ``1``).
    bgr
        Output channels in BGR order (Caffe) instead of RGB.

    Examples
    --------
    >>> unit = Normalizer(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), scale=1 / 255)
    >>> x = to_tensor(np.array([[[0, 255, 51]]], np.uint8), unit)
    >>> [round(v, 4) for v in x.flatten().tolist()]
    [-1.0, 1.0, -0.6]
    >>> unit.fill
    (128, 128, 128)
    """

    mean: tuple[float, float, float]
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    scale: float = 1.0
    bgr: bool = False

    def __post_init__(self) -> None:
        check_reals("mean", self.mean, length=3)
        check_reals("std", self.std, length=3, minimum=0.0, exclusive_minimum=True)
        check_real("scale", self.scale, minimum=0.0, exclusive_minimum=True)
        check_bool("bgr", self.bgr)

    @property
    def fill(self) -> tuple[int, int, int]:
        """The ``uint8`` RGB colour closest to a zero input (for padding)."""
        rgb = np.asarray(self.mean, dtype=np.float64) / self.scale
        rgb = rgb[::-1] if self.bgr else rgb
        r, g, b = (int(v) for v in np.clip(np.round(rgb), 0, 255))
        return r, g, b


#: RGB / 255, minus the ImageNet mean, divided by the ImageNet std (torchvision weights).
TORCHVISION = Normalizer(
    mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), scale=1.0 / 255.0, bgr=False
)
#: BGR 0-255 minus the Caffe VGG mean (Caffe-converted VGG16 / DeepLab weights).
CAFFE = Normalizer(mean=(104.008, 116.669, 122.675), std=(1.0, 1.0, 1.0), scale=1.0, bgr=True)


def _check_normalizer(normalizer: object) -> Normalizer:
    if not isinstance(normalizer, Normalizer):
        raise TypeError(
            f"normalizer: expected a Normalizer, got {type(normalizer).__name__}"
        )
    return normalizer


def to_tensor(image: np.ndarray, normalizer: Normalizer) -> torch.Tensor:
    """Turn a ``uint8`` RGB image ``(H, W, 3)`` into a normalised ``float32`` tensor ``(3, H, W)``.

    Examples
    --------
    >>> x = to_tensor(np.full((1, 1, 3), 255, np.uint8), TORCHVISION)
    >>> [round(v, 4) for v in x.flatten().tolist()]
    [2.2489, 2.4286, 2.64]
    """
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image: expected a numpy.ndarray, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"image: expected dtype uint8, got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image: expected shape (H, W, 3), got {image.shape}")
    _check_normalizer(normalizer)
    # a C-order copy when the strides are not plain (negative, or a one-pixel-wide view)
    if not image.flags.c_contiguous or any(s < 0 for s in image.strides):
        image = image.copy(order="C")
    x = torch.from_numpy(image).permute(2, 0, 1).float()
    if normalizer.bgr:
        x = x.flip(0)
    mean = torch.tensor(normalizer.mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(normalizer.std, dtype=torch.float32).view(3, 1, 1)
    return ((x * normalizer.scale - mean) / std).contiguous()


def to_image(tensor: torch.Tensor, normalizer: Normalizer) -> np.ndarray:
    """Inverse of :func:`to_tensor` for display: ``(3, H, W)`` -> ``uint8`` RGB ``(H, W, 3)``.

    Values are rounded and clipped to [0, 255].

    Examples
    --------
    >>> image = np.array([[[10, 200, 30]]], np.uint8)
    >>> to_image(to_tensor(image, CAFFE), CAFFE).tolist()
    [[[10, 200, 30]]]
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"tensor: expected a torch.Tensor, got {type(tensor).__name__}")
    if tensor.ndim != 3 or tensor.shape[0] != 3:
        raise ValueError(f"tensor: expected shape (3, H, W), got {tuple(tensor.shape)}")
    if tensor.is_complex() or tensor.dtype == torch.bool:
        raise TypeError(f"tensor: expected a real-valued tensor, got dtype {tensor.dtype}")
    _check_normalizer(normalizer)
    x = tensor.detach().to("cpu", torch.float64)
    mean = torch.tensor(normalizer.mean, dtype=torch.float64).view(3, 1, 1)
    std = torch.tensor(normalizer.std, dtype=torch.float64).view(3, 1, 1)
    x = (x * std + mean) / normalizer.scale
    if normalizer.bgr:
        x = x.flip(0)
    return x.round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous().numpy()
