"""Joint transforms and normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from wsss.data.palette import voc_palette
from wsss.data.sample import Sample
from wsss.data.transforms import (
    CAFFE,
    TORCHVISION,
    Compose,
    Normalizer,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
    Resize,
    resize_sample,
    to_image,
    to_tensor,
)

CLASSES = np.zeros(20, np.float32)


def make_sample(height: int, width: int, seed: int = 0, saliency: bool = True) -> Sample:
    rng = np.random.default_rng(seed)
    return Sample(
        name="x",
        image=rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
        classes=CLASSES,
        label=rng.choice(np.array([0, 3, 15, 255], np.uint8), (height, width)),
        saliency=rng.random((height, width)).astype(np.float32) if saliency else None,
    )


# -- float64 references of the resampling grids ---------------------------------------------------


def bilinear_reference(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Half-pixel bilinear resampling, edge-clamped, in float64."""

    def axis_weights(n_in: int, n_out: int) -> np.ndarray:
        weights = np.zeros((n_out, n_in))
        for o in range(n_out):
            source = max((o + 0.5) * n_in / n_out - 0.5, 0.0)
            i0 = min(int(np.floor(source)), n_in - 1)
            i1 = min(i0 + 1, n_in - 1)
            frac = source - i0
            weights[o, i0] += 1 - frac
            weights[o, i1] += frac
        return weights

    rows = axis_weights(array.shape[0], size[0])
    cols = axis_weights(array.shape[1], size[1])
    return np.einsum("ai,ij...,bj->ab...", rows, array.astype(np.float64), cols)


def nearest_reference(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    rows = [min(int(np.floor((o + 0.5) * array.shape[0] / size[0])), array.shape[0] - 1)
            for o in range(size[0])]  # fmt: skip
    cols = [min(int(np.floor((o + 0.5) * array.shape[1] / size[1])), array.shape[1] - 1)
            for o in range(size[1])]  # fmt: skip
    return array[np.ix_(rows, cols)]


def test_bilinear_hand_values():
    image = np.zeros((1, 2, 3), np.uint8)
    image[0, 1] = 100
    sample = Sample("x", image, CLASSES, saliency=np.array([[0.0, 1.0]], np.float32))
    out = resize_sample(sample, (1, 4))
    # output x -> source (x + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 (clamped at the edges)
    assert out.image[0, :, 0].tolist() == [0, 25, 75, 100]
    np.testing.assert_allclose(out.saliency[0], [0.0, 0.25, 0.75, 1.0], atol=1e-6)


@pytest.mark.parametrize("size", [(7, 5), (23, 41), (16, 16), (11, 9)])
def test_resize_matches_float64_references(size):
    sample = make_sample(16, 13, seed=1)
    out = resize_sample(sample, size)
    assert out.image.dtype == np.uint8 and out.image.shape == (*size, 3)
    expected = np.clip(np.round(bilinear_reference(sample.image, size)), 0, 255)
    assert np.abs(out.image.astype(np.int64) - expected).max() <= 1  # rounding at .5 only
    np.testing.assert_allclose(out.saliency, bilinear_reference(sample.saliency, size), atol=1e-5)
    np.testing.assert_array_equal(out.label, nearest_reference(sample.label, size))
    assert out.label.dtype == np.uint8 and out.saliency.dtype == np.float32


@settings(max_examples=40, deadline=None)
@given(
    st.integers(1, 20), st.integers(1, 20), st.integers(1, 30), st.integers(1, 30),
    st.integers(0, 2**32 - 1),
)  # fmt: skip
def test_nearest_resize_keeps_label_values(height, width, out_h, out_w, seed):
    sample = make_sample(height, width, seed)
    out = resize_sample(sample, (out_h, out_w))
    assert set(np.unique(out.label)) <= set(np.unique(sample.label))
    assert 0.0 <= out.saliency.min() and out.saliency.max() <= 1.0


def test_resize_transform_and_identity():
    sample = make_sample(5, 7)
    assert resize_sample(sample, (5, 7)) is sample
    out = Resize(9)(sample, np.random.default_rng(0))
    assert out.image.shape == (9, 9, 3) and out.label.shape == (9, 9)


# -- random transforms ----------------------------------------------------------------------------


def test_random_scale_range():
    sample = make_sample(40, 60, saliency=False)
    heights, widths = [], []
    for seed in range(200):
        out = RandomScale(0.7, 1.3)(sample, np.random.default_rng(seed))
        h, w = out.image.shape[:2]
        assert out.label.shape == (h, w)
        heights.append(h)
        widths.append(w)
        assert abs(w / h - 1.5) < 0.06  # aspect ratio kept
    assert min(heights) >= 28 and max(heights) <= 52  # round(0.7 * 40), round(1.3 * 40)
    assert min(widths) >= 42 and max(widths) <= 78
    assert min(heights) <= 30 and max(heights) >= 50  # the whole range is used


def test_random_scale_fixed_factor():
    out = RandomScale(0.5, 0.5)(make_sample(37, 53), np.random.default_rng(0))
    assert out.image.shape == (19, 27, 3)  # round(18.5) = 19, round(26.5) = 27 (half up)


def test_flip_is_exact():
    sample = make_sample(6, 9)
    flipped = RandomHorizontalFlip(p=1.0)(sample, np.random.default_rng(0))
    np.testing.assert_array_equal(flipped.image, sample.image[:, ::-1])
    np.testing.assert_array_equal(flipped.label, sample.label[:, ::-1])
    np.testing.assert_array_equal(flipped.saliency, sample.saliency[:, ::-1])
    twice = RandomHorizontalFlip(p=1.0)(flipped, np.random.default_rng(1))
    np.testing.assert_array_equal(twice.image, sample.image)
    assert RandomHorizontalFlip(p=0.0)(sample, np.random.default_rng(0)) is sample
    flips = sum(
        RandomHorizontalFlip()(sample, np.random.default_rng(s)) is not sample for s in range(400)
    )
    assert 160 < flips < 240


def test_crop_pads_with_fill_values():
    sample = make_sample(5, 4)
    out = RandomCrop(8, image_fill=(1, 2, 3), label_fill=255, saliency_fill=0.0)(
        sample, np.random.default_rng(0)
    )
    assert (
        out.image.shape == (8, 8, 3) and out.label.shape == (8, 8) and out.saliency.shape == (8, 8)
    )
    np.testing.assert_array_equal(out.image[:5, :4], sample.image)  # image kept at the top left
    np.testing.assert_array_equal(out.label[:5, :4], sample.label)
    np.testing.assert_array_equal(out.saliency[:5, :4], sample.saliency)
    pad = np.ones((8, 8), bool)
    pad[:5, :4] = False
    assert (out.image[pad] == (1, 2, 3)).all()
    assert (out.label[pad] == 255).all()
    assert (out.saliency[pad] == 0.0).all()


def test_crop_default_fill_is_the_mean_colour():
    out = RandomCrop(3)(make_sample(1, 1), np.random.default_rng(0))
    assert out.image[2, 2].tolist() == [124, 116, 104] == list(TORCHVISION.fill)


def test_crop_windows_are_uniform_and_exact():
    sample = make_sample(6, 7)
    offsets = set()
    for seed in range(300):
        out = RandomCrop((4, 3))(sample, np.random.default_rng(seed))
        matches = [
            (top, left)
            for top in range(3)
            for left in range(5)
            if np.array_equal(out.image, sample.image[top : top + 4, left : left + 3])
        ]
        assert len(matches) == 1
        top, left = matches[0]
        np.testing.assert_array_equal(out.label, sample.label[top : top + 4, left : left + 3])
        np.testing.assert_array_equal(out.saliency, sample.saliency[top : top + 4, left : left + 3])
        offsets.add(matches[0])
    assert offsets == {(t, l) for t in range(3) for l in range(5)}  # noqa: E741


def test_crop_pads_one_side_and_crops_the_other():
    sample = make_sample(3, 10)
    out = RandomCrop((5, 4))(sample, np.random.default_rng(3))
    assert (out.label[3:] == 255).all()
    rows = out.image[:3]
    assert any(np.array_equal(rows, sample.image[:, x : x + 4]) for x in range(7))


def test_image_label_and_saliency_stay_aligned():
    """Colour encodes the label; after scale + flip + crop, both must still agree."""
    label = np.zeros((48, 64), np.uint8)
    label[4:20, 6:30] = 1
    label[24:44, 10:26] = 15
    label[8:40, 36:58] = 20
    palette = voc_palette()
    sample = Sample(
        "x", palette[label], CLASSES, label=label, saliency=(label > 0).astype(np.float32)
    )
    transform = Compose([RandomScale(0.7, 1.3), RandomHorizontalFlip(), RandomCrop(40)])
    checked = 0
    for seed in range(20):
        out = transform(sample, np.random.default_rng(seed))
        lab = out.label.astype(np.int64)
        padded = np.pad(lab, 2, constant_values=-1)  # the crop's border: neighbours unknown
        # pixels whose 5x5 neighbourhood has one label value (bilinear cannot blend there)
        windows = np.lib.stride_tricks.sliding_window_view(padded, (5, 5))
        uniform = (windows.min(axis=(2, 3)) == windows.max(axis=(2, 3))) & (lab != 255)
        np.testing.assert_array_equal(out.image[uniform], palette[lab[uniform]])
        np.testing.assert_allclose(out.saliency[uniform], lab[uniform] > 0, rtol=0, atol=1e-6)
        checked += int(uniform.sum())
    assert checked > 20 * 40 * 40 * 0.3


def test_compose_and_argument_checks():
    with pytest.raises(TypeError, match="transforms"):
        Compose([1])
    with pytest.raises(ValueError, match="low"):
        RandomScale(1.3, 0.7)
    with pytest.raises(ValueError, match="p"):
        RandomHorizontalFlip(p=1.5)
    with pytest.raises(ValueError, match="size"):
        RandomCrop(0)
    with pytest.raises(TypeError, match="size"):
        Resize((3, 4, 5))
    with pytest.raises(ValueError, match="image_fill"):
        RandomCrop(3, image_fill=(0, 0, 300))


def test_transforms_without_label_or_saliency():
    sample = Sample("x", make_sample(9, 11).image, CLASSES)
    transform = Compose([RandomScale(), RandomHorizontalFlip(), RandomCrop(12)])
    out = transform(sample, np.random.default_rng(0))
    assert out.image.shape == (12, 12, 3) and out.label is None and out.saliency is None


# -- normalisation --------------------------------------------------------------------------------


def test_torchvision_normalisation_values():
    image = np.array([[[255, 0, 128]]], np.uint8)
    x = to_tensor(image, TORCHVISION)
    assert x.dtype == torch.float32 and x.shape == (3, 1, 1)
    expected = [(1 - 0.485) / 0.229, (0 - 0.456) / 0.224, (128 / 255 - 0.406) / 0.225]
    np.testing.assert_allclose(x.flatten().numpy(), expected, rtol=1e-6)


def test_caffe_normalisation_is_bgr_minus_mean():
    image = np.array([[[10, 20, 30]]], np.uint8)  # R, G, B
    x = to_tensor(image, CAFFE)
    np.testing.assert_allclose(
        x.flatten().numpy(), [30 - 104.008, 20 - 116.669, 10 - 122.675], rtol=1e-6
    )
    assert CAFFE.fill == (123, 117, 104)  # RGB order, the BGR mean reversed and rounded


@pytest.mark.parametrize("normalizer", [TORCHVISION, CAFFE], ids=["torchvision", "caffe"])
def test_to_image_inverts_to_tensor(normalizer):
    image = np.random.default_rng(0).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    np.testing.assert_array_equal(to_image(to_tensor(image, normalizer), normalizer), image)
    fill = np.array([[normalizer.fill]], np.uint8)
    assert to_tensor(fill, normalizer).abs().max() < 0.01 * (255 * normalizer.scale) / min(
        normalizer.std
    )


def test_normalizer_argument_checks():
    with pytest.raises(TypeError, match="image"):
        to_tensor(np.zeros((2, 2, 3), np.float32), TORCHVISION)
    with pytest.raises(ValueError, match="image"):
        to_tensor(np.zeros((2, 2), np.uint8), TORCHVISION)
    with pytest.raises(ValueError, match="tensor"):
        to_image(torch.zeros(1, 3, 2, 2), TORCHVISION)
    with pytest.raises(ValueError, match="std"):
        Normalizer(mean=(0, 0, 0), std=(1, 0, 1))
