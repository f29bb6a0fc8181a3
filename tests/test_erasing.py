"""Image-space adversarial erasing: golden masks, accumulation, fill, the dataset wrapper."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsss.data import TORCHVISION, AugmentedDataset, Sample, SyntheticVOC, to_tensor
from wsss.data.erasing import (
    DEFAULT_FILL,
    DEFAULT_THRESHOLD,
    ErasedImages,
    accumulate_attention,
    erase_image,
    erasing_mask,
    mean_colour,
)


def _sample(name: str = "img", h: int = 2, w: int = 4, classes=(1, 0, 1)) -> Sample:
    image = (np.arange(h * w * 3, dtype=np.uint8).reshape(h, w, 3) * 3 + 10).astype(np.uint8)
    label = np.full((h, w), 7, np.uint8)
    saliency = np.full((h, w), 0.25, np.float32)
    return Sample(name, image, np.asarray(classes, np.float32), label, saliency)


# ----------------------------------------------------------------------------- pure functions


def test_erasing_mask_golden():
    att = np.zeros((3, 2, 4))
    att[0] = [[0.71, 0.70, 0.69, 0.0], [1.0, 0.0, 0.0, 0.0]]
    att[1] = 1.0  # not in the image: never erased
    att[2] = [[0.0, 0.0, 0.0, 0.8], [0.0, 0.75, 0.5, 0.0]]
    got = erasing_mask(att, np.array([1, 0, 1]))
    assert got.dtype == bool
    assert got.tolist() == [[True, False, False, True], [True, True, False, False]]
    assert erasing_mask(att, np.array([1, 0, 1]), threshold=0.0).tolist() == [
        [True, True, True, True], [True, True, True, False]
    ]
    assert not erasing_mask(att, np.array([0, 0, 0])).any()  # no class, nothing erased


def test_accumulate_attention_golden_and_inputs_unchanged():
    a = np.array([[[0.1, 0.9], [0.5, 0.0]]], np.float32)
    b = np.array([[[0.3, 0.2], [0.5, 0.4]]], np.float32)
    c = np.array([[[0.0, 0.0], [0.6, 0.0]]], np.float32)
    before = a.copy()
    got = accumulate_attention([a, b, c])
    np.testing.assert_array_equal(got, np.array([[[0.3, 0.9], [0.6, 0.4]]], np.float32))
    np.testing.assert_array_equal(a, before)
    assert accumulate_attention([a]) is not a


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), steps=st.integers(1, 4), threshold=st.floats(0.0, 0.99))
def test_the_mask_of_the_accumulated_attention_is_the_union_of_the_steps(seed, steps, threshold):
    rng = np.random.default_rng(seed)
    maps = [np.round(rng.random((3, 5, 6)), 2) for _ in range(steps)]
    classes = np.array([1, 0, 1])
    union = np.zeros((5, 6), bool)
    for m in maps:
        union |= erasing_mask(m, classes, threshold)
    np.testing.assert_array_equal(erasing_mask(accumulate_attention(maps), classes, threshold),
                                  union)


def test_erase_image_golden():
    image = np.full((2, 2, 3), 200, np.uint8)
    mask = np.array([[True, False], [False, True]])
    got = erase_image(image, mask, fill=(123.6, 116.2, 0))
    assert got[0, 0].tolist() == [124, 116, 0] and got[1, 1].tolist() == [124, 116, 0]
    assert got[0, 1].tolist() == [200, 200, 200] and got[1, 0].tolist() == [200, 200, 200]
    assert int(image.min()) == 200  # the input is not modified


def test_default_fill_is_the_imagenet_mean_and_normalises_to_zero():
    assert DEFAULT_FILL == (124, 116, 104)
    assert DEFAULT_THRESHOLD == 0.7
    x = to_tensor(np.array([[DEFAULT_FILL]], np.uint8), TORCHVISION)
    assert float(x.abs().max()) < 0.01  # an erased pixel is (almost) a zero input


def test_mean_colour_golden():
    a = Sample("a", np.array([[[0, 10, 20], [30, 40, 50]]], np.uint8), np.ones(1, np.float32))
    b = Sample("b", np.array([[[60, 70, 80]]], np.uint8), np.ones(1, np.float32))
    assert mean_colour([a, b]) == (30.0, 40.0, 50.0)
    with pytest.raises(ValueError, match="dataset"):
        mean_colour([])


def test_bad_inputs_name_the_argument():
    att = np.zeros((2, 3, 3))
    with pytest.raises(ValueError, match="threshold"):
        erasing_mask(att, np.array([1, 0]), threshold=1.0)
    with pytest.raises(ValueError, match="threshold"):
        erasing_mask(att, np.array([1, 0]), threshold=float("nan"))
    with pytest.raises(TypeError, match="threshold"):
        erasing_mask(att, np.array([1, 0]), threshold="0.5")
    with pytest.raises(ValueError, match="classes"):
        erasing_mask(att, np.array([1, 0, 0]))
    with pytest.raises(ValueError, match="classes"):
        erasing_mask(att, np.array([2, 0]))
    with pytest.raises(ValueError, match="attention"):
        erasing_mask(att + 1.5, np.array([1, 0]))
    nan = att.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="attention"):
        erasing_mask(nan, np.array([1, 0]))
    with pytest.raises(ValueError, match="attention"):
        erasing_mask(att[0], np.array([1, 0]))
    with pytest.raises(TypeError, match="attention"):
        erasing_mask(att.astype(np.int64), np.array([1, 0]))
    with pytest.raises(ValueError, match="steps"):
        accumulate_attention([])
    with pytest.raises(ValueError, match=r"steps\[1\]"):
        accumulate_attention([att, att[:, :2]])
    image = np.zeros((3, 3, 3), np.uint8)
    with pytest.raises(ValueError, match="fill"):
        erase_image(image, np.zeros((3, 3), bool), fill=(0, 0, 256))
    with pytest.raises(ValueError, match="fill"):
        erase_image(image, np.zeros((3, 3), bool), fill=(0, 0))
    with pytest.raises(ValueError, match="mask"):
        erase_image(image, np.zeros((3, 2), bool))
    with pytest.raises(TypeError, match="mask"):
        erase_image(image, np.zeros((3, 3), np.uint8))
    with pytest.raises(TypeError, match="image"):
        erase_image(image.astype(np.float32), np.zeros((3, 3), bool))


# ----------------------------------------------------------------------------- dataset wrapper


class _Dataset(list):
    names = ("img",)
    class_names = ("cat", "dog", "cow")
    num_classes = 3


def test_wrapper_erases_the_union_of_earlier_steps_and_keeps_the_rest():
    sample = _sample()
    step1 = np.zeros((3, 2, 4), np.float32)
    step1[0, 0, 0] = 0.9
    step1[1] = 1.0  # a class the image does not have
    step2 = np.zeros((3, 2, 4), np.float32)
    step2[2, 1, 3] = 0.8
    step2[0, 0, 1] = 0.7  # not above the threshold
    data = ErasedImages(_Dataset([sample]), [lambda s: step1, lambda s: step2], fill=(1, 2, 3))
    assert len(data) == 1
    assert data.names == ("img",) and data.class_names == ("cat", "dog", "cow")
    assert data.num_classes == 3
    out = data[0]
    erased = np.zeros((2, 4), bool)
    erased[0, 0] = erased[1, 3] = True
    np.testing.assert_array_equal(data.erased(sample), erased)
    np.testing.assert_array_equal(out.image[erased], np.array([[1, 2, 3]] * 2, np.uint8))
    np.testing.assert_array_equal(out.image[~erased], sample.image[~erased])
    assert out.name == sample.name and out.classes is sample.classes
    assert out.label is sample.label and out.saliency is sample.saliency
    # one step only: only its pixels
    first = ErasedImages([sample], lambda s: step1)[0]
    assert (first.image != sample.image).any(axis=2).sum() == 1
    assert first.image[0, 0].tolist() == list(DEFAULT_FILL)
    assert not hasattr(ErasedImages([sample], lambda s: step1), "names")


def _write_attention_file(path, classes: list[int], fused: np.ndarray) -> None:
    """An attention file in the pipeline's format, written by hand (np.savez, no library)."""
    np.savez(path, classes=np.array(classes, np.int16), fused=fused.astype(np.float16),
             branch_a=fused.astype(np.float16), class_names=np.array(["a", "b", "c"]))


def test_wrapper_reads_attention_folders(tmp_path):
    sample = _sample(classes=(0, 1, 1))
    step1, step2 = tmp_path / "step1", tmp_path / "step2"
    step1.mkdir(), step2.mkdir()
    maps1 = np.zeros((2, 2, 4), np.float32)  # the image's classes 1 and 2 only
    maps1[0, 1, 1] = 1.0
    maps2 = np.zeros((2, 2, 4), np.float32)
    maps2[1, 0, 2] = 0.75
    _write_attention_file(step1 / "img.npz", [1, 2], maps1)
    _write_attention_file(step2 / "img.npz", [1, 2], maps2)
    data = ErasedImages([sample], [step1, str(step2)], fill=(0, 0, 0))
    expected = np.zeros((2, 4), bool)
    expected[1, 1] = expected[0, 2] = True
    np.testing.assert_array_equal(data.erased(sample), expected)
    assert (data[0].image[expected] == 0).all()
    # a missing file names its path
    with pytest.raises(FileNotFoundError, match=r"other\.npz"):
        ErasedImages([_sample("other")], step1)[0]


def test_wrapper_errors_name_the_problem(tmp_path):
    sample = _sample()
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ErasedImages([sample], tmp_path / "nowhere")
    with pytest.raises(ValueError, match="attention"):
        ErasedImages([sample], [])
    with pytest.raises(TypeError, match="attention"):
        ErasedImages([sample], 3)
    with pytest.raises(ValueError, match="threshold"):
        ErasedImages([sample], lambda s: None, threshold=-0.1)
    with pytest.raises(ValueError, match="fill"):
        ErasedImages([sample], lambda s: None, fill=(300, 0, 0))
    wrong_size = ErasedImages([sample], lambda s: np.zeros((3, 4, 2), np.float32))
    with pytest.raises(ValueError, match="'img'"):
        wrong_size[0]
    not_maps = ErasedImages([sample], lambda s: np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="'img'"):
        not_maps[0]


def test_wrapper_feeds_the_training_loader():
    data = SyntheticVOC(2, image_size=40, seed=0)
    top_half = lambda s: np.broadcast_to(  # noqa: E731
        (np.arange(40) < 16).astype(np.float32)[None, :, None], (20, 40, 40)
    )
    erased = ErasedImages(data, top_half)
    assert erased.names == data.names
    item = AugmentedDataset(erased, None, TORCHVISION, seed=0)[0]
    assert float(item["image"][:, :16].abs().max()) < 0.01  # erased: (almost) zero input
    assert float(item["image"][:, 16:].abs().max()) > 0.1
