"""COCOSegmentation against a hand-written instances file (``_mini_coco.py``).

Image-level labels need only the standard library; tests that render masks skip without
pycocotools.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from _mini_coco import (
    CLASS_NAMES,
    CLASSES,
    EXPECTED_MASKS,
    INSTANCES_JSON,
    NAMES,
    SIZES,
    build_mini_coco,
)
from PIL import Image

from wsss.data import (
    COCOAnnotation,
    COCOSegmentation,
    CorruptFileError,
    SegmentationDataset,
    check_dataset,
    describe_dataset,
    split_by_labels,
    write_label,
)


@pytest.fixture
def coco(tmp_path: Path) -> Path:
    return build_mini_coco(tmp_path / "coco")


def _write_instances(root: Path, change) -> Path:
    data = json.loads(INSTANCES_JSON)
    change(data)
    path = root / "annotations" / "instances_val2014.json"
    path.write_text(json.dumps(data))
    return path


# -- labels: no pycocotools needed -----------------------------------------------------------


def test_labels_and_class_mapping(coco: Path) -> None:
    data = COCOSegmentation(coco, "val2014", masks=False)
    assert isinstance(data, SegmentationDataset)
    check_dataset(data)
    assert data.class_names == CLASS_NAMES and data.num_classes == 3
    assert data.category_labels == {1: 1, 3: 2, 90: 3}  # ids 1, 3, 90 -> labels 1, 2, 3
    assert data.names == NAMES
    for i, name in enumerate(NAMES):
        sample = data[i]
        assert sample.name == name
        assert sample.image.shape == (*SIZES[name], 3)  # mixed sizes
        assert sample.classes.tolist() == list(CLASSES[name])  # crowd toothbrush counts
        assert sample.label is None
    np.testing.assert_array_equal(
        data.image_labels(), np.array([CLASSES[n] for n in NAMES], dtype=np.float32)
    )
    assert split_by_labels(data) == ([0, 2], [NAMES[1]])


def test_labels_follow_the_files_category_order(coco: Path) -> None:
    def reorder(data: dict) -> None:
        data["categories"] = [data["categories"][i] for i in (2, 0, 1)]  # 90, 1, 3

    _write_instances(coco, reorder)
    data = COCOSegmentation(coco, "val2014", masks=False)
    assert data.class_names == ("toothbrush", "person", "car")
    assert data[2].classes.tolist() == [0.0, 1.0, 1.0]  # person, car


def test_describe_is_json(coco: Path) -> None:
    record = json.loads(
        json.dumps(describe_dataset(COCOSegmentation(coco, "val2014", masks=False)))
    )
    assert record["class"] == "wsss.data.coco.COCOSegmentation"
    assert record["arguments"]["root"] == str(coco) and record["arguments"]["masks"] is False
    assert record["class_names"] == list(CLASS_NAMES)


def test_train_split_and_bad_split(tmp_path: Path) -> None:
    root = build_mini_coco(tmp_path / "c", split="train2014")
    assert COCOSegmentation(root, "train2014", masks=False).names[0] == (
        "COCO_train2014_000000000009"
    )
    with pytest.raises(ValueError, match=r"split: expected one of \('train2014', 'val2014'\)"):
        COCOSegmentation(root, "val2017", masks=False)


def test_pre_rendered_masks(coco: Path) -> None:
    for name, mask in EXPECTED_MASKS.items():
        write_label(coco / "labels" / f"{name}.png", mask)
    data = COCOSegmentation(coco, "val2014", mask_dir=coco / "labels")
    for i, name in enumerate(NAMES):
        np.testing.assert_array_equal(data[i].label, EXPECTED_MASKS[name])
    write_label(coco / "labels" / f"{NAMES[1]}.png", np.full((3, 5), 4, np.uint8))
    path = coco / "labels" / f"{NAMES[1]}.png"
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*{0, ..., 3, 255}"):
        data[1]
    write_label(path, np.zeros((5, 3), np.uint8))
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*5x3.*3x5"):
        data[1]


def test_annotation_errors_name_file_and_annotation(coco: Path) -> None:
    def unknown_category(data: dict) -> None:
        data["annotations"][1]["category_id"] = 2

    path = _write_instances(coco, unknown_category)
    with pytest.raises(
        ValueError, match=re.escape(f"{path}: annotation id 102") + ".*category_id 2"
    ):
        COCOSegmentation(coco, "val2014", masks=False)

    def unknown_image(data: dict) -> None:
        data["annotations"][0]["image_id"] = 77

    _write_instances(coco, unknown_image)
    with pytest.raises(ValueError, match=re.escape(f"{path}: annotation id 101") + ".*image_id 77"):
        COCOSegmentation(coco, "val2014", masks=False)

    def missing_field(data: dict) -> None:
        del data["images"][1]["height"]

    _write_instances(coco, missing_field)
    with pytest.raises(ValueError, match=re.escape(f"{path}: images[1]") + ".*'height'"):
        COCOSegmentation(coco, "val2014", masks=False)

    def duplicate_image(data: dict) -> None:
        data["images"][2]["id"] = 9

    _write_instances(coco, duplicate_image)
    with pytest.raises(ValueError, match=re.escape(f"{path}: images[2]") + ".*appears twice"):
        COCOSegmentation(coco, "val2014", masks=False)

    def path_in_file_name(data: dict) -> None:
        data["images"][0]["file_name"] = "../secret.jpg"

    _write_instances(coco, path_in_file_name)
    with pytest.raises(ValueError, match=re.escape(f"{path}: images[0] file_name")):
        COCOSegmentation(coco, "val2014", masks=False)

    path.write_text('{"images": [\n], "annotations": [,\n]}')
    with pytest.raises(CorruptFileError, match=re.escape(f"{path}:2:") + ".*not valid JSON"):
        COCOSegmentation(coco, "val2014", masks=False)
    path.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(path))):
        COCOSegmentation(coco, "val2014", masks=False)


def test_image_errors_name_the_image(coco: Path) -> None:
    image = coco / "val2014" / f"{NAMES[2]}.jpg"
    Image.new("RGB", (4, 4)).save(image)
    data = COCOSegmentation(coco, "val2014", masks=False)
    with pytest.raises(ValueError, match=re.escape(str(image)) + ".*4x4.*5x3"):
        data[2]
    image.unlink()
    with pytest.raises(FileNotFoundError, match=re.escape(str(image))):
        data[2]


def test_missing_pycocotools_is_explained(coco: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pycocotools", None)
    with pytest.raises(ImportError, match=r"pip install 'wsss\[coco\]'.*mask_dir=.*masks=False"):
        COCOSegmentation(coco, "val2014")
    assert len(COCOSegmentation(coco, "val2014", masks=False)) == 3


# -- masks rendered with pycocotools ---------------------------------------------------------


def test_rendered_masks_match_the_hand_computed_ones(coco: Path) -> None:
    pytest.importorskip("pycocotools")
    data = COCOSegmentation(coco, "val2014")
    for i, name in enumerate(NAMES):
        np.testing.assert_array_equal(data[i].label, EXPECTED_MASKS[name], err_msg=name)


def test_segmentation_formats_by_hand() -> None:
    pytest.importorskip("pycocotools")
    from wsss.data import decode_segmentation

    # compressed RLE "231O": counts 2, 3, 1, then 3 + (-1) = 2 (the 4th count is a delta of
    # the 2nd: 'O' = 48 + 31, i.e. -1 in 5 bits); column-major 0 0 | 1 1 | 1 0 | 1 1
    np.testing.assert_array_equal(
        decode_segmentation({"size": [2, 4], "counts": "231O"}, 2, 4),
        np.array([[0, 1, 1, 1], [0, 1, 0, 1]], dtype=bool),
    )
    np.testing.assert_array_equal(  # bytes too; "R1" is 34 (2 + 32, continuation bit set)
        decode_segmentation({"size": [8, 5], "counts": b"3R13"}, 8, 5).T.ravel(),
        np.r_[np.zeros(3), np.ones(34), np.zeros(3)].astype(bool),
    )
    # a non-convex polygon along pixel edges: the L covers exactly its 5 pixels
    np.testing.assert_array_equal(
        decode_segmentation([[0, 0, 3, 0, 3, 1, 1, 1, 1, 3, 0, 3]], 4, 4).astype(int),
        [[1, 1, 1, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]],
    )
    with pytest.raises(ValueError, match=r"RLE size \[3, 3\] differs"):
        decode_segmentation({"size": [3, 3], "counts": [9]}, 2, 3)
    with pytest.raises(ValueError, match="add up to 5, expected 6"):
        decode_segmentation({"size": [2, 3], "counts": [2, 3]}, 2, 3)
    with pytest.raises(ValueError, match="even number"):
        decode_segmentation([[0, 0, 1, 1]], 2, 2)


def test_overlap_and_crowd_policy() -> None:
    pytest.importorskip("pycocotools")
    from wsss.data import render_coco_mask

    box = [[0, 0, 4, 0, 4, 2, 0, 2]]  # 8 px
    corner = [[0, 0, 2, 0, 2, 1, 0, 1]]  # 2 px
    crowd = COCOAnnotation(3, 3, True, [[2, 0, 4, 0, 4, 2, 2, 2]])  # right half, 4 px
    # the smaller instance wins whatever the file order; instances overwrite crowd pixels
    for order in ([0, 1], [1, 0]):
        annotations = [COCOAnnotation(1, 1, False, box), COCOAnnotation(2, 2, False, corner)]
        label = render_coco_mask([crowd, *(annotations[i] for i in order)], 2, 5)
        np.testing.assert_array_equal(label, [[2, 2, 1, 1, 0], [1, 1, 1, 1, 0]])
    alone = render_coco_mask([crowd], 2, 5)
    np.testing.assert_array_equal(alone, [[0, 0, 255, 255, 0], [0, 0, 255, 255, 0]])
    # equal sizes: the later annotation wins
    left = COCOAnnotation(4, 1, False, [[0, 0, 2, 0, 2, 1, 0, 1]])
    shifted = COCOAnnotation(5, 2, False, [[1, 0, 3, 0, 3, 1, 1, 1]])
    np.testing.assert_array_equal(render_coco_mask([left, shifted], 1, 3), [[1, 2, 2]])
    np.testing.assert_array_equal(render_coco_mask([shifted, left], 1, 3), [[1, 1, 2]])


def test_bad_segmentation_names_image_and_annotation(coco: Path) -> None:
    pytest.importorskip("pycocotools")

    def bad_rle(data: dict) -> None:
        data["annotations"][1]["segmentation"] = {"size": [5, 5], "counts": [25]}

    path = _write_instances(coco, bad_rle)
    data = COCOSegmentation(coco, "val2014")
    pattern = re.escape(f"{path}: image '{NAMES[0]}': annotation 102:") + ".*RLE size"
    with pytest.raises(ValueError, match=pattern):
        data[0]
