"""Saliency maps: scaling to [0, 1], size checks, folder look-up, broken files."""

from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from wsss.data.images import CorruptFileError
from wsss.data.saliency import SaliencyFolder, read_saliency


def escaped(path) -> str:
    return re.escape(str(path))


def test_read_saliency_scales_by_255(tmp_path):
    values = np.array([[0, 1, 128], [200, 254, 255]], dtype=np.uint8)
    path = tmp_path / "s.png"
    Image.fromarray(values).save(path)
    saliency = read_saliency(path)
    assert saliency.dtype == np.float32 and saliency.shape == (2, 3)
    np.testing.assert_allclose(saliency, values.astype(np.float64) / 255.0, rtol=0, atol=1e-7)
    assert saliency.min() == 0.0 and saliency.max() == 1.0


def test_read_saliency_16_bit_and_grey_rgb(tmp_path):
    path16 = tmp_path / "s16.png"
    Image.fromarray(np.array([[0, 65535, 13107]], dtype=np.uint16)).save(path16)
    np.testing.assert_allclose(read_saliency(path16), [[0.0, 1.0, 0.2]], atol=1e-7)
    grey_rgb = tmp_path / "rgb.png"
    Image.fromarray(np.full((2, 2, 3), 51, np.uint8)).save(grey_rgb)
    np.testing.assert_allclose(read_saliency(grey_rgb), 0.2, atol=1e-7)
    colour = tmp_path / "colour.png"
    Image.fromarray(np.array([[[1, 2, 3]]], np.uint8)).save(colour)
    with pytest.raises(CorruptFileError, match=rf"{escaped(colour)}: saliency map has colour"):
        read_saliency(colour)


def test_wrong_size_names_file_and_both_sizes(tmp_path):
    path = tmp_path / "s.png"
    Image.fromarray(np.zeros((4, 6), np.uint8)).save(path)
    assert read_saliency(path, expected_size=(4, 6)).shape == (4, 6)
    with pytest.raises(ValueError, match=rf"{escaped(path)}: saliency map is 4x6 .* image is 6x4"):
        read_saliency(path, expected_size=(6, 4))


def test_broken_and_missing_files(tmp_path):
    text = tmp_path / "text.png"
    text.write_text("not an image")
    with pytest.raises(CorruptFileError, match=rf"{escaped(text)}: not an image"):
        read_saliency(text)
    cut = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(cut)
    cut.write_bytes(cut.read_bytes()[:-100])
    with pytest.raises(CorruptFileError, match=escaped(cut)):
        read_saliency(cut)
    with pytest.raises(FileNotFoundError, match=escaped(tmp_path / "none.png")):
        read_saliency(tmp_path / "none.png")


def test_saliency_folder(tmp_path):
    Image.fromarray(np.full((3, 5), 255, np.uint8)).save(tmp_path / "2007_000032.png")
    folder = SaliencyFolder(tmp_path)
    assert folder.path("2007_000032") == tmp_path / "2007_000032.png"
    assert "2007_000032" in folder and "2007_000039" not in folder
    np.testing.assert_array_equal(folder.read("2007_000032", expected_size=(3, 5)), 1.0)
    missing = tmp_path / "2007_000039.png"
    with pytest.raises(FileNotFoundError, match=rf"{escaped(missing)}: no saliency map"):
        folder.read("2007_000039")
    with pytest.raises(ValueError, match="stem"):
        folder.read("../2007_000032")
    with pytest.raises(FileNotFoundError, match=escaped(tmp_path / "absent")):
        SaliencyFolder(tmp_path / "absent")
