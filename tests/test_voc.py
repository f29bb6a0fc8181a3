"""PASCAL VOC + SBD on the miniature tree: splits, label sources, file errors."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from _mini_voc import SBD_TRAIN, SBD_VAL, SIZES, TRAIN_AUG, VOC_TRAIN, VOC_VAL, smooth_image
from PIL import Image

from wsss.data.images import CorruptFileError, read_image, stem_path, write_label
from wsss.data.sample import Sample
from wsss.data.voc import (
    VOCSegmentation,
    find_sbd_root,
    find_voc_root,
    read_image_list,
    read_sbd_mask,
    voc_split_names,
)


def escaped(path: Path | str) -> str:
    return re.escape(str(path))


def copy_tree(mini_voc, tmp_path: Path) -> tuple[Path, Path]:
    """A private, modifiable copy of the miniature tree: (root, sbd)."""
    root = Path(shutil.copytree(mini_voc.root, tmp_path / "data"))
    sbd = Path(shutil.copytree(mini_voc.sbd, tmp_path / "sbd"))
    return root, sbd


# -- layout and lists -----------------------------------------------------------------------------


def test_find_roots_accepts_both_layouts(mini_voc, tmp_path):
    assert find_voc_root(mini_voc.root) == mini_voc.voc
    assert find_voc_root(mini_voc.voc) == mini_voc.voc
    assert find_sbd_root(mini_voc.sbd) == mini_voc.sbd / "dataset"
    assert find_sbd_root(mini_voc.sbd / "dataset") == mini_voc.sbd / "dataset"
    with pytest.raises(FileNotFoundError, match=escaped(tmp_path)):
        find_voc_root(tmp_path)
    with pytest.raises(FileNotFoundError, match=escaped(tmp_path)):
        find_sbd_root(tmp_path)
    with pytest.raises(FileNotFoundError, match=escaped(tmp_path)):
        VOCSegmentation(tmp_path, "train")


def test_voc_splits_follow_the_lists(mini_voc):
    assert VOCSegmentation(mini_voc.root, "train").names == VOC_TRAIN
    assert VOCSegmentation(mini_voc.voc, "val").names == VOC_VAL
    assert VOCSegmentation(mini_voc.root, "trainval").names == VOC_TRAIN + VOC_VAL


def test_train_aug_set_algebra(mini_voc):
    dataset = VOCSegmentation(mini_voc.root, "train_aug", sbd_root=mini_voc.sbd)
    expected = ("2007_000032", "2008_000002", "2008_000003", "2009_000001")
    assert dataset.names == expected == TRAIN_AUG
    assert len(dataset) == 4
    # the same algebra written out: no VOC val image leaks in, SBD duplicates appear once
    union = set(VOC_TRAIN) | set(SBD_TRAIN) | set(SBD_VAL)
    assert set(dataset.names) == union - set(VOC_VAL)
    assert not set(dataset.names) & set(VOC_VAL)


def test_train_aug_needs_sbd_and_split_is_checked(mini_voc):
    with pytest.raises(ValueError, match="sbd_root"):
        VOCSegmentation(mini_voc.root, "train_aug")
    with pytest.raises(ValueError, match="split"):
        VOCSegmentation(mini_voc.root, "test")


@pytest.mark.parametrize(
    "entry", ["../../etc/passwd", "/etc/passwd", "JPEGImages/2007_000032", "..", "a b", "x\\y"]
)
def test_escaping_list_entry_is_refused(mini_voc, tmp_path, entry):
    root, sbd = copy_tree(mini_voc, tmp_path)
    train = root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / "train.txt"
    train.write_text(f"2007_000032\n\n{entry}\n")
    with pytest.raises(ValueError, match=rf"{escaped(train)}:3: .*plain file name stem"):
        read_image_list(train)
    with pytest.raises(ValueError, match=rf"{escaped(train)}:3"):
        VOCSegmentation(root, "train")
    with pytest.raises(ValueError, match=rf"{escaped(train)}:3"):
        VOCSegmentation(root, "train_aug", sbd_root=sbd)
    train.write_text("2007_000032\n")  # now the bad entry sits in an SBD list
    sbd_val = sbd / "dataset" / "val.txt"
    sbd_val.write_text(f"{entry}\n")
    with pytest.raises(ValueError, match=rf"{escaped(sbd_val)}:1"):
        voc_split_names(root / "VOCdevkit" / "VOC2012", "train_aug", sbd / "dataset")


def test_stem_path_refuses_escaping_names():
    with pytest.raises(ValueError, match="stem"):
        stem_path("JPEGImages", "../secret", ".jpg")


def test_missing_list_names_path(mini_voc, tmp_path):
    root, _ = copy_tree(mini_voc, tmp_path)
    val = root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation" / "val.txt"
    val.unlink()
    with pytest.raises(FileNotFoundError, match=escaped(val)):
        VOCSegmentation(root, "val")


# -- SBD .mat -------------------------------------------------------------------------------------


def test_read_sbd_mask_matches_written_mask(mini_voc):
    for name, expected in mini_voc.sbd_labels.items():
        mask = read_sbd_mask(mini_voc.sbd / "dataset" / "cls" / f"{name}.mat")
        assert mask.dtype == np.uint8 and mask.shape == SIZES[name]
        np.testing.assert_array_equal(mask, expected)


def test_read_sbd_mask_double_values(tmp_path):
    path = tmp_path / "d.mat"
    scipy.io.savemat(path, {"GTcls": {"Segmentation": np.array([[0.0, 12.0]])}})
    assert read_sbd_mask(path).tolist() == [[0, 12]]


def test_read_sbd_mask_errors_name_the_file(tmp_path):
    text = tmp_path / "text.mat"
    text.write_text("not matlab")
    with pytest.raises(CorruptFileError, match=escaped(text)):
        read_sbd_mask(text)
    other = tmp_path / "other.mat"
    scipy.io.savemat(other, {"GTinst": {"Segmentation": np.zeros((2, 2), np.uint8)}})
    with pytest.raises(CorruptFileError, match=rf"{escaped(other)}: expected a struct GTcls"):
        read_sbd_mask(other)
    bad = tmp_path / "bad.mat"
    scipy.io.savemat(bad, {"GTcls": {"Segmentation": np.array([[0, 30]], np.uint8)}})
    with pytest.raises(ValueError, match=rf"{escaped(bad)}: label values .*\[30\]"):
        read_sbd_mask(bad)
    with pytest.raises(FileNotFoundError, match=escaped(tmp_path / "none.mat")):
        read_sbd_mask(tmp_path / "none.mat")


# -- samples and label sources --------------------------------------------------------------------


def test_samples_of_train_aug(mini_voc):
    dataset = VOCSegmentation(mini_voc.root, "train_aug", sbd_root=mini_voc.sbd)
    for index, name in enumerate(TRAIN_AUG):
        sample = dataset[index]
        assert isinstance(sample, Sample) and sample.name == name
        assert sample.image.dtype == np.uint8 and sample.image.shape == (*SIZES[name], 3)
        np.testing.assert_array_equal(sample.image, mini_voc.images[name])
        expected = mini_voc.voc_labels.get(name, mini_voc.sbd_labels.get(name))
        np.testing.assert_array_equal(sample.label, expected)  # VOC PNG first, then SBD
        assert sample.classes.dtype == np.float32 and sample.classes.shape == (20,)
        assert sample.saliency is None
    assert dataset[-1].name == TRAIN_AUG[-1]
    with pytest.raises(IndexError, match="index"):
        dataset[4]
    with pytest.raises(TypeError, match="index"):
        dataset["2007_000032"]


@pytest.mark.parametrize(
    ("label_source", "expected_classes"),
    [("auto", [2]), ("voc", [2]), ("aug", [2]), ("sbd", [7])],
)
def test_label_sources(mini_voc, label_source, expected_classes):
    """2008_000003 has a VOC PNG (bicycle = 2) and an SBD mask (car = 7)."""
    dataset = VOCSegmentation(
        mini_voc.root, "train_aug", sbd_root=mini_voc.sbd, label_source=label_source
    )
    label = dataset.load("2008_000003").label
    assert sorted(set(np.unique(label).tolist()) - {0, 255}) == expected_classes


def test_label_source_folder_and_none(mini_voc):
    folder = mini_voc.voc / "SegmentationClassAug"
    dataset = VOCSegmentation(
        mini_voc.root, "train_aug", sbd_root=mini_voc.sbd, label_source=folder
    )
    np.testing.assert_array_equal(dataset[1].label, mini_voc.sbd_labels["2008_000002"])
    unlabelled = VOCSegmentation(mini_voc.root, "val", label_source="none")
    assert unlabelled[0].label is None
    assert unlabelled[0].classes.tolist() == [0.0] * 19 + [1.0]  # tvmonitor, from the XML


def test_label_source_is_checked(mini_voc, tmp_path):
    with pytest.raises(ValueError, match="label_source"):
        VOCSegmentation(mini_voc.root, "train", label_source=str(mini_voc.voc / "Segmentation"))
    with pytest.raises(ValueError, match="label_source"):
        VOCSegmentation(mini_voc.root, "train", label_source="sbd")  # no sbd_root
    with pytest.raises(FileNotFoundError, match=escaped(tmp_path / "none")):
        VOCSegmentation(mini_voc.root, "train", label_source=tmp_path / "none")


def test_missing_labels_name_the_paths(mini_voc):
    voc_only = VOCSegmentation(
        mini_voc.root, "train_aug", sbd_root=mini_voc.sbd, label_source="voc"
    )
    missing = mini_voc.voc / "SegmentationClass" / "2008_000002.png"
    with pytest.raises(FileNotFoundError, match=escaped(missing)):
        voc_only[1]
    no_sbd = VOCSegmentation(mini_voc.root, "train")  # auto, but no SBD to fall back on
    message = rf"2008_000002: no pixel labels found; tried .*{escaped(missing)}"
    with pytest.raises(FileNotFoundError, match=message):
        no_sbd.load("2008_000002")


def test_class_sources(mini_voc, tmp_path):
    by_xml = VOCSegmentation(mini_voc.root, "train")
    by_mask = VOCSegmentation(mini_voc.root, "train", class_source="mask")
    assert by_xml.class_source == "xml" and by_mask.class_source == "mask"
    # the XML also lists a difficult chair (class 8) that the mask does not draw
    assert np.flatnonzero(by_xml[0].classes).tolist() == [0, 8, 14]
    assert np.flatnonzero(by_mask[0].classes).tolist() == [0, 14]

    table = {name: np.eye(20, dtype=np.float32)[k] for k, name in enumerate(VOC_TRAIN)}
    path = tmp_path / "cls_labels.npy"
    np.save(path, {int(name.replace("_", "")): vector for name, vector in table.items()})
    for source in (path, table):
        dataset = VOCSegmentation(mini_voc.root, "train", class_source=source)
        assert dataset.class_source == "cls_labels"
        assert np.flatnonzero(dataset[1].classes).tolist() == [1]

    with pytest.raises(ValueError, match=r"class_source: no image-level labels .*2008_000003"):
        VOCSegmentation(mini_voc.root, "train", class_source={"2007_000032": table["2007_000032"]})
    with pytest.raises(ValueError, match="class_source"):
        VOCSegmentation(mini_voc.root, "train", class_source="cls_labels")
    with pytest.raises(ValueError, match="class_source"):
        VOCSegmentation(mini_voc.root, "train", class_source="mask", label_source="none")


# -- broken files ---------------------------------------------------------------------------------


def test_truncated_jpeg_names_path(mini_voc, tmp_path):
    root, _ = copy_tree(mini_voc, tmp_path)
    jpeg = root / "VOCdevkit" / "VOC2012" / "JPEGImages" / "2007_000032.jpg"
    data = jpeg.read_bytes()
    jpeg.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptFileError, match=rf"{escaped(jpeg)}: cannot decode .*truncated"):
        read_image(jpeg)
    with pytest.raises(CorruptFileError, match=escaped(jpeg)):
        VOCSegmentation(root, "train")[0]


def test_text_file_named_png_and_missing_file(mini_voc, tmp_path):
    root, _ = copy_tree(mini_voc, tmp_path)
    voc = root / "VOCdevkit" / "VOC2012"
    label = voc / "SegmentationClass" / "2007_000032.png"
    label.write_text("<html>404</html>")
    with pytest.raises(CorruptFileError, match=rf"{escaped(label)}: not an image"):
        VOCSegmentation(root, "train")[0]
    jpeg = voc / "JPEGImages" / "2008_000003.jpg"
    jpeg.unlink()
    with pytest.raises(FileNotFoundError, match=escaped(jpeg)):
        VOCSegmentation(root, "train")[1]


def test_bad_label_value_and_size_mismatch(mini_voc, tmp_path):
    root, _ = copy_tree(mini_voc, tmp_path)
    voc = root / "VOCdevkit" / "VOC2012"
    label = voc / "SegmentationClass" / "2007_000032.png"
    write_label(label, np.full(SIZES["2007_000032"], 42, np.uint8))
    with pytest.raises(ValueError, match=rf"{escaped(label)}: label values .*\[42\]"):
        VOCSegmentation(root, "train")[0]
    write_label(label, np.zeros((5, 5), np.uint8))
    with pytest.raises(ValueError, match=rf"{escaped(label)}: label is 5x5 .* is 37x53"):
        VOCSegmentation(root, "train")[0]


def test_read_image_modes(tmp_path):
    grey = tmp_path / "grey.jpg"
    Image.fromarray(np.full((3, 4), 90, np.uint8)).save(grey)
    image = read_image(grey)
    assert image.shape == (3, 4, 3) and image.dtype == np.uint8
    rgb = smooth_image(5, 6, 0)
    path = tmp_path / "rgb.png"
    Image.fromarray(rgb).save(path)
    np.testing.assert_array_equal(read_image(path), rgb)
    with pytest.raises(FileNotFoundError, match=escaped(tmp_path)):
        read_image(tmp_path)  # a folder


def test_saliency_in_dataset(mini_voc, tmp_path):
    for name in VOC_TRAIN:
        height, width = SIZES[name]
        Image.fromarray(np.full((height, width), 51, np.uint8)).save(tmp_path / f"{name}.png")
    dataset = VOCSegmentation(mini_voc.root, "train", saliency_dir=tmp_path)
    saliency = dataset[0].saliency
    assert saliency.dtype == np.float32 and saliency.shape == SIZES["2007_000032"]
    np.testing.assert_allclose(saliency, 0.2, rtol=1e-6)
    wrong = tmp_path / "2008_000003.png"
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(wrong)
    with pytest.raises(ValueError, match=rf"{escaped(wrong)}: saliency map is 4x4 .* 33x34"):
        dataset[1]
