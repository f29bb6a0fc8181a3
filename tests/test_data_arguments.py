"""Argument checks of the data readers, writers and transforms (regressions, by name)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from wsss.data import (
    TORCHVISION,
    Compose,
    CorruptFileError,
    Normalizer,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
    Resize,
    Sample,
    labels_from_mask,
    read_image_list,
    read_saliency,
    to_tensor,
    write_label,
)


def sample(h: int = 3, w: int = 4) -> Sample:
    rng = np.random.default_rng(0)
    return Sample(
        "a",
        rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        np.eye(20, dtype=np.float32)[0],
        label=rng.integers(0, 3, (h, w)).astype(np.uint8),
        saliency=rng.random((h, w), dtype=np.float32),
    )


TRANSFORMS = [Resize(2), RandomScale(0.5, 1.5), RandomHorizontalFlip(1.0), RandomCrop(2),
              Compose([RandomHorizontalFlip()])]


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda t: type(t).__name__)
@pytest.mark.parametrize("rng", [None, 0, np.random.RandomState(0)])
def test_transforms_need_a_generator(transform, rng):
    with pytest.raises(TypeError, match=r"^rng: "):
        transform(sample(), rng)


@pytest.mark.parametrize("transform", TRANSFORMS, ids=lambda t: type(t).__name__)
def test_transforms_need_a_sample(transform):
    with pytest.raises(TypeError, match=r"^sample: "):
        transform(np.zeros((3, 4, 3), np.uint8), np.random.default_rng(0))


def test_flipping_a_one_pixel_wide_image_gives_plain_strides():
    out = RandomHorizontalFlip(1.0)(sample(3, 1), np.random.default_rng(0))
    assert all(s > 0 for s in out.image.strides)
    np.testing.assert_array_equal(to_tensor(out.image, TORCHVISION),
                                  to_tensor(sample(3, 1).image, TORCHVISION))
    assert torch.from_numpy(out.label).shape == (3, 1)


def test_to_tensor_copies_a_reversed_view():
    image = sample(2, 1).image[:, ::-1]  # a one-pixel-wide view with a negative stride
    assert image.strides[1] < 0
    x = to_tensor(image, TORCHVISION)
    assert x.shape == (3, 2, 1) and bool(torch.isfinite(x).all())


@pytest.mark.parametrize(
    ("build", "exc", "name"),
    [
        (lambda: RandomCrop(2, label_fill=1.5), TypeError, "label_fill"),
        (lambda: RandomCrop(2, label_fill=256), ValueError, "label_fill"),
        (lambda: RandomCrop(2, image_fill=(0, 0, 1.5)), TypeError, "image_fill"),
        (lambda: RandomCrop(2, saliency_fill=math.nan), ValueError, "saliency_fill"),
        (lambda: RandomCrop(2**40), ValueError, "size"),
        (lambda: RandomScale(math.nan, 1.0), ValueError, "low"),
        (lambda: RandomScale(0.5, math.inf), ValueError, "high"),
        (lambda: RandomHorizontalFlip(None), TypeError, "p"),
        (lambda: Normalizer(mean=(math.inf, 0, 0)), ValueError, "mean"),
        (lambda: Normalizer(mean=(0, 0, 0), std=(1, math.nan, 1)), ValueError, "std"),
        (lambda: Normalizer(mean=(0, 0, 0), scale=math.inf), ValueError, "scale"),
        (lambda: Normalizer(mean=(0, 0, 0), bgr=None), TypeError, "bgr"),
        (lambda: Compose(None), TypeError, "transforms"),
        (lambda: to_tensor(sample().image, None), TypeError, "normalizer"),
        (lambda: labels_from_mask(np.array([[255, 5]], np.uint8), 256), ValueError,
         "num_classes"),
        (lambda: labels_from_mask(np.zeros((1, 2, 2), np.uint8), 20), ValueError, "label"),
        (lambda: read_saliency("s.png", expected_size=4), TypeError, "expected_size"),
        (lambda: read_image_list(None), TypeError, "path"),
    ],
)
def test_arguments_are_checked_by_name(build, exc, name):
    with pytest.raises(exc, match=rf"^{name}(\[\d+\])?: "):
        build()


def test_huge_random_scale_is_refused_at_call():
    with pytest.raises(ValueError, match=r"^high: "):
        RandomScale(1e9, 1e9)(sample(), np.random.default_rng(0))


def test_labels_from_mask_never_counts_the_ignore_value():
    labels = labels_from_mask(np.array([[255, 5]], np.uint8), 254)
    assert np.flatnonzero(labels).tolist() == [4]


def test_write_label_refuses_an_empty_map(tmp_path):
    with pytest.raises(ValueError, match=r"^label: "):
        write_label(tmp_path / "a.png", np.zeros((0, 3), np.uint8))
    assert not (tmp_path / "a.png").exists()


def test_read_image_list_names_file_and_line_of_bad_bytes(tmp_path):
    path = tmp_path / "train.txt"
    path.write_bytes(b"2007_000032\n2007_\xff\xfe\n")
    with pytest.raises(CorruptFileError, match=r"train\.txt:2: not UTF-8"):
        read_image_list(path)
    path.write_bytes(b"2007_000032\r\n\r\n2007_000039\r\n")  # Windows line ends are fine
    assert read_image_list(path) == ("2007_000032", "2007_000039")
