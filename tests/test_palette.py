"""VOC palette, colorize / rgb_to_label, and label PNG reading and writing."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from wsss.data.images import CorruptFileError, read_label, write_label
from wsss.data.palette import colorize, rgb_to_label, voc_palette


def reference_palette() -> list[tuple[int, int, int]]:
    """The VOC map spelled out with bit strings, independently of the library's loop."""
    colours = []
    for index in range(256):
        bits = f"{index:08b}"[::-1] + "0"  # b0 b1 ... b7, padded to 9 = 3 rounds of 3 bits
        red = int("".join(bits[0::3]).ljust(8, "0"), 2)
        green = int("".join(bits[1::3]).ljust(8, "0"), 2)
        blue = int("".join(bits[2::3]).ljust(8, "0"), 2)
        colours.append((red, green, blue))
    return colours


def test_palette_hand_values():
    palette = voc_palette()
    assert palette.shape == (256, 3) and palette.dtype == np.uint8
    assert palette[0].tolist() == [0, 0, 0]
    assert palette[1].tolist() == [128, 0, 0]  # aeroplane
    assert palette[2].tolist() == [0, 128, 0]  # bicycle
    assert palette[15].tolist() == [192, 128, 128]  # person
    assert palette[20].tolist() == [0, 64, 128]  # tvmonitor
    assert palette[255].tolist() == [224, 224, 192]  # ignore


def test_palette_matches_reference_and_is_a_bijection():
    palette = voc_palette()
    assert [tuple(int(v) for v in row) for row in palette] == reference_palette()
    assert len({tuple(row) for row in palette.tolist()}) == 256


def test_colorize_and_back():
    label = np.arange(256, dtype=np.uint8).reshape(16, 16)
    rgb = colorize(label)
    assert rgb.shape == (16, 16, 3) and rgb.dtype == np.uint8
    assert rgb[0, 1].tolist() == [128, 0, 0]
    np.testing.assert_array_equal(rgb_to_label(rgb), label)


def test_colorize_rejects_bad_input():
    with pytest.raises(TypeError, match="label"):
        colorize(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="label"):
        colorize(np.zeros((2, 2, 1), np.uint8))
    with pytest.raises(ValueError, match="label"):
        colorize(np.array([[256]], np.int64))


def test_rgb_to_label_names_unknown_colour():
    rgb = colorize(np.zeros((2, 3), np.uint8))
    rgb[1, 2] = (1, 2, 3)
    with pytest.raises(ValueError, match=r"rgb: colour \(1, 2, 3\) at \(row 1, column 2\)"):
        rgb_to_label(rgb)


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 9), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_write_read_round_trip(tmp_path_factory, height, width, seed):
    values = np.array([*range(21), 255], dtype=np.uint8)
    label = np.random.default_rng(seed).choice(values, size=(height, width))
    path = tmp_path_factory.mktemp("rt") / "label.png"
    write_label(path, label)
    with Image.open(path) as img:
        assert img.mode == "P"
        assert np.asarray(img.getpalette(), np.uint8).reshape(-1, 3)[:256].tolist() == (
            voc_palette().tolist()
        )
    back = read_label(path)
    assert back.dtype == np.uint8
    np.testing.assert_array_equal(back, label)


def test_write_label_leaves_no_temporary_file(tmp_path):
    write_label(tmp_path / "sub" / "a.png", np.zeros((2, 2), np.uint8))
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["a.png"]


def test_write_label_rejects_bad_input(tmp_path):
    with pytest.raises(TypeError, match="label"):
        write_label(tmp_path / "a.png", np.zeros((2, 2), np.int64))
    with pytest.raises(ValueError, match="label"):
        write_label(tmp_path / "a.png", np.zeros((2, 2, 3), np.uint8))
    assert not (tmp_path / "a.png").exists()


def test_read_label_rgb_png_maps_through_palette(tmp_path):
    label = np.array([[0, 1, 2], [15, 20, 255]], dtype=np.uint8)
    path = tmp_path / "rgb.png"
    Image.fromarray(colorize(label)).save(path)
    np.testing.assert_array_equal(read_label(path), label)


def test_read_label_rgb_png_with_foreign_colour(tmp_path):
    rgb = colorize(np.zeros((2, 2), np.uint8))
    rgb[0, 1] = (5, 5, 5)
    path = tmp_path / "odd.png"
    Image.fromarray(rgb).save(path)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: colour \(5, 5, 5\)"):
        read_label(path)


def test_read_label_grey_png(tmp_path):
    label = np.array([[0, 7, 255]], dtype=np.uint8)
    path = tmp_path / "grey.png"
    Image.fromarray(label).save(path)
    np.testing.assert_array_equal(read_label(path), label)


def test_read_label_bad_value_names_path(tmp_path):
    path = tmp_path / "bad.png"
    write_label(path, np.array([[0, 21, 254]], dtype=np.uint8))
    with pytest.raises(
        ValueError, match=rf"{re.escape(str(path))}: label values .* found \[21, 254\]"
    ):
        read_label(path)
    np.testing.assert_array_equal(read_label(path, validate=False), [[0, 21, 254]])
    np.testing.assert_array_equal(read_label(path, num_classes=254), [[0, 21, 254]])


def test_read_label_text_file_named_png(tmp_path):
    path = tmp_path / "text.png"
    path.write_text("this is not a PNG")
    with pytest.raises(CorruptFileError, match=rf"{re.escape(str(path))}: not an image"):
        read_label(path)


def test_read_label_truncated_png(tmp_path):
    path = tmp_path / "cut.png"
    write_label(path, np.random.default_rng(0).integers(0, 21, (64, 64)).astype(np.uint8))
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(CorruptFileError, match=re.escape(str(path))):
        read_label(path)


def test_read_label_missing_file(tmp_path):
    path = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        read_label(path)
