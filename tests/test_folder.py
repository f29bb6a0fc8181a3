"""FolderDataset and the labels-file readers, against hand-written files (``_mini_folder.py``)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from _mini_folder import (
    CLASS_NAMES,
    CLASSES,
    LABELS_JSON,
    NAMES,
    SIZES,
    SPLITS,
    build_mini_folder,
    expected_image,
    expected_mask,
)
from PIL import Image

from wsss.data import (
    CorruptFileError,
    FolderDataset,
    SegmentationDataset,
    check_dataset,
    describe_dataset,
    read_class_list,
    read_labels_file,
    split_by_labels,
)


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    return build_mini_folder(tmp_path / "data").root


def _tree(tmp_path: Path, labels_name: str, labels_text: str, images: dict[str, tuple]) -> Path:
    """A root with ``images/<file>`` of the given ``(H, W)`` sizes and one labels file."""
    root = tmp_path / "own"
    (root / "images").mkdir(parents=True)
    for file, (h, w) in images.items():
        Image.new("RGB", (w, h), (5, 6, 7)).save(root / "images" / file)
    (root / labels_name).write_text(labels_text)
    return root


# -- golden reads ----------------------------------------------------------------------------


@pytest.mark.parametrize("labels", ["csv", "json"])
def test_reads_the_hand_written_tree(tmp_path: Path, labels: str) -> None:
    root = build_mini_folder(tmp_path / labels, labels=labels).root
    data = FolderDataset(root)
    assert isinstance(data, SegmentationDataset)
    check_dataset(data)
    assert data.class_names == ("cat", "dog", "bird")  # classes.txt order, not sorted
    assert data.num_classes == 3
    assert data.names == NAMES  # labels-file order; "cat_1.jpg" becomes "cat_1"
    assert len(data) == 4
    for i, name in enumerate(NAMES):
        sample = data[i]
        assert sample.name == name
        assert sample.image.shape == (*SIZES[name], 3) and sample.image.dtype == np.uint8
        assert sample.classes.dtype == np.float32
        assert sample.classes.tolist() == list(CLASSES[name])
        np.testing.assert_array_equal(sample.label, expected_mask(name))
        np.testing.assert_allclose(sample.saliency, (i + 1) * 50 / 255, rtol=1e-6)
        if name != "cat_1":  # PNGs: grey "L", RGBA (alpha dropped), grey-palette "P"
            np.testing.assert_array_equal(sample.image, expected_image(name))
    np.testing.assert_array_equal(
        data.image_labels(), np.array([CLASSES[n] for n in NAMES], dtype=np.float32)
    )


def test_masks_by_hand(mini: Path) -> None:
    pair = FolderDataset(mini)[1].label
    # rows 0-7, cols 0-9: cat (1); row 8: ignore; rows 9-15, cols 12-23: dog (2)
    assert pair[0, 0] == 1 and pair[7, 9] == 1 and pair[7, 10] == 0
    assert (pair[8] == 255).all()
    assert pair[9, 11] == 0 and pair[9, 12] == 2 and pair[15, 23] == 2
    assert int((pair == 1).sum()) == 8 * 10 and int((pair == 2).sum()) == 7 * 12


def test_classes_without_a_class_list_are_the_sorted_names(mini: Path) -> None:
    (mini / "classes.txt").unlink()
    data = FolderDataset(mini)
    assert data.class_names == ("bird", "cat", "dog")
    assert data[1].classes.tolist() == [0.0, 1.0, 1.0]  # pair: cat;dog
    assert data[3].classes.tolist() == [1.0, 0.0, 0.0]  # bird_2
    # masks were drawn for the classes.txt order (bird = 3 > 3 classes is fine, but dog = 2
    # now means cat); the value check only refuses values outside 0..3 and 255
    assert np.unique(data[3].label).tolist() == [0, 3]


def test_classes_argument(mini: Path) -> None:
    data = FolderDataset(mini, classes=["bird", "dog", "cat", "horse"], mask_dir=None)
    assert data.num_classes == 4
    assert data[1].classes.tolist() == [0.0, 1.0, 1.0, 0.0]
    assert data[0].label is None
    listed = mini / "other.txt"
    listed.write_text("dog\ncat\nbird\n")
    assert FolderDataset(mini, classes=listed).class_names == ("dog", "cat", "bird")


def test_splits(mini: Path) -> None:
    train = FolderDataset(mini, split="train")
    assert train.names == SPLITS["train"]
    val = FolderDataset(mini, split="val")
    assert val.names == SPLITS["val"] and val[0].name == "bird_2"
    custom = mini / "mine.txt"
    custom.write_text("\nbird_2\npair\n")
    assert FolderDataset(mini, split=custom).names == ("bird_2", "pair")


def test_image_without_a_class(mini: Path) -> None:
    data = FolderDataset(mini)
    assert data[2].classes.tolist() == [0.0, 0.0, 0.0]
    assert np.unique(data[2].label).tolist() == [0]  # all background
    assert split_by_labels(data) == ([0, 1, 3], ["nothing"])


def test_auto_masks_need_every_image_explicit_masks_too(mini: Path) -> None:
    (mini / "masks" / "pair.png").unlink()
    assert FolderDataset(mini, split="val").mask_dir == mini / "masks"  # bird_2 has one
    assert FolderDataset(mini).mask_dir is None  # auto: partial cover -> no masks
    with pytest.raises(FileNotFoundError, match=re.escape(str(mini / "masks" / "pair.png"))):
        FolderDataset(mini, mask_dir=mini / "masks")
    assert FolderDataset(mini, saliency_dir=None).saliency is None


def test_describe_is_json(mini: Path) -> None:
    record = describe_dataset(FolderDataset(mini, split=Path(mini / "splits" / "val.txt")))
    again = json.loads(json.dumps(record))
    assert again["class"] == "wsss.data.folder.FolderDataset"
    assert again["arguments"]["split"] == str(mini / "splits" / "val.txt")
    assert again["class_names"] == list(CLASS_NAMES) and again["num_classes"] == 3


def test_json_literal_matches_csv(tmp_path: Path) -> None:
    csv_root = _tree(tmp_path / "c", "labels.csv", "name,classes\na,x;y\nb,\n", {})
    path = csv_root / "labels.csv"
    assert [(e.name, e.classes, e.line) for e in read_labels_file(path)] == [
        ("a", ("x", "y"), 2),
        ("b", (), 3),
    ]
    json_path = tmp_path / "labels.json"
    json_path.write_text(LABELS_JSON)
    entries = read_labels_file(json_path)
    assert [(e.name, e.classes, e.line) for e in entries] == [
        ("cat_1", ("cat",), 2),
        ("pair", ("cat", "dog"), 3),
        ("nothing", (), 4),
        ("bird_2", ("bird",), 5),
    ]


def test_csv_quoting_bom_crlf_and_spaces(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_bytes('\ufeffName , Classes\r\n"a" , dog ; cat;\r\n\r\nb.PNG,cat;cat\r\n'.encode())
    entries = read_labels_file(path)
    assert [(e.name, e.classes, e.line) for e in entries] == [
        ("a", ("dog", "cat"), 2),
        ("b", ("cat",), 4),
    ]


# -- errors name file and line ---------------------------------------------------------------


def _raises(exc: type[Exception], where: str, *fragments: str):
    pattern = re.escape(where) + ".*" + ".*".join(re.escape(f) for f in fragments)
    return pytest.raises(exc, match=pattern)


def test_unknown_class_names_file_and_line(mini: Path) -> None:
    (mini / "labels.csv").write_text("name,classes\ncat_1,cat\npair,cat;dgo\n")
    with _raises(ValueError, f"{mini / 'labels.csv'}:3:", "unknown class 'dgo'", "'pair'"):
        FolderDataset(mini)
    (mini / "labels.csv").unlink()
    (mini / "labels.json").write_text('{\n "cat_1": ["cat"],\n\n "pair": ["cow"]\n}\n')
    with _raises(ValueError, f"{mini / 'labels.json'}:4:", "unknown class 'cow'"):
        FolderDataset(mini)


def test_missing_image_names_the_row(mini: Path) -> None:
    (mini / "labels.csv").write_text("name,classes\ncat_1,cat\n\nghost,dog\n")
    with _raises(FileNotFoundError, f"{mini / 'labels.csv'}:4:", "no image for 'ghost'"):
        FolderDataset(mini)


def test_duplicate_names(mini: Path, tmp_path: Path) -> None:
    (mini / "labels.csv").write_text("name,classes\npair,cat\ncat_1,cat\npair.png,dog\n")
    with _raises(ValueError, f"{mini / 'labels.csv'}:4:", "'pair' appears twice", ":2)"):
        FolderDataset(mini)
    path = tmp_path / "labels.json"
    path.write_text('{"a": [],\n "b": [],\n "a": ["x"]}')
    with _raises(ValueError, f"{path}:3:", "'a' appears twice", f"{path}:1"):
        read_labels_file(path)
    (mini / "labels.csv").write_text("name,classes\npair,cat\n")
    Image.new("RGB", (2, 2)).save(mini / "images" / "pair.jpg")
    with _raises(ValueError, str(mini / "images"), "two images are named 'pair'"):
        FolderDataset(mini)


def test_malformed_labels_files(tmp_path: Path) -> None:
    path = tmp_path / "labels.csv"
    path.write_text("image,label\na,cat\n")
    with _raises(ValueError, f"{path}:1:", "header row 'name,classes'"):
        read_labels_file(path)
    path.write_text("name,classes\na,cat\nb,cat,dog\n")
    with _raises(ValueError, f"{path}:3:", "expected 2 fields", "';'"):
        read_labels_file(path)
    path.write_text("name,classes\n../etc,cat\n")
    with _raises(ValueError, f"{path}:2:", "'../etc'"):
        read_labels_file(path)
    path.write_text("")
    with _raises(ValueError, str(path), "empty"):
        read_labels_file(path)
    path.write_text("name,classes\n")
    with _raises(ValueError, str(path), "names no image"):
        read_labels_file(path)
    bad = tmp_path / "labels.json"
    bad.write_text('{\n "a": ["cat"],\n "b": ["dog"\n}')
    with _raises(CorruptFileError, f"{bad}:4:", "not valid JSON"):
        read_labels_file(bad)
    bad.write_text('{"a": "cat"}')
    with _raises(ValueError, f"{bad}:1:", "list of strings"):
        read_labels_file(bad)
    bad.write_text('["a", "b"]')
    with _raises(ValueError, str(bad), "expected an object"):
        read_labels_file(bad)
    other = tmp_path / "labels.txt"
    other.write_text("a cat\n")
    with _raises(ValueError, str(other), ".csv or .json"):
        read_labels_file(other)
    with _raises(FileNotFoundError, str(tmp_path / "none.csv"), "not found"):
        read_labels_file(tmp_path / "none.csv")


def test_class_list_errors(tmp_path: Path) -> None:
    path = tmp_path / "classes.txt"
    path.write_text("cat\ndog\n\ncat\n")
    with _raises(ValueError, f"{path}:4:", "'cat' is listed twice", "line 1"):
        read_class_list(path)
    path.write_text("cat\nbad;name\n")
    with _raises(ValueError, f"{path}:2:", "';'"):
        read_class_list(path)
    path.write_text("\n\n")
    with _raises(ValueError, str(path), "empty"):
        read_class_list(path)


def test_split_errors(mini: Path) -> None:
    (mini / "splits" / "val.txt").write_text("bird_2\nunknown\n")
    with _raises(ValueError, f"{mini / 'splits' / 'val.txt'}:2:", "'unknown'", "labels file"):
        FolderDataset(mini, split="val")
    (mini / "splits" / "val.txt").write_text("bird_2\n\nbird_2\n")
    with _raises(ValueError, f"{mini / 'splits' / 'val.txt'}:3:", "listed twice"):
        FolderDataset(mini, split="val")
    with _raises(FileNotFoundError, str(mini / "splits" / "test.txt")):
        FolderDataset(mini, split="test")


def test_mask_of_the_wrong_size_and_value(mini: Path) -> None:
    Image.fromarray(np.zeros((5, 5), np.uint8)).save(mini / "masks" / "pair.png")
    data = FolderDataset(mini)
    with _raises(ValueError, str(mini / "masks" / "pair.png"), "5x5", "16x24"):
        data[1]
    Image.fromarray(np.full((18, 14), 4, np.uint8)).save(mini / "masks" / "bird_2.png")
    with _raises(ValueError, str(mini / "masks" / "bird_2.png"), "'bird_2'", "{0, ..., 3, 255}"):
        data[3]


def test_saliency_of_the_wrong_size(mini: Path) -> None:
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(mini / "saliency" / "cat_1.png")
    with _raises(ValueError, str(mini / "saliency" / "cat_1.png"), "3x3", "20x30"):
        FolderDataset(mini)[0]


def test_labels_file_choice(mini: Path) -> None:
    (mini / "labels.json").write_text(LABELS_JSON)
    with _raises(ValueError, str(mini), "both labels.csv and labels.json"):
        FolderDataset(mini)
    assert FolderDataset(mini, labels=mini / "labels.json").names == NAMES
    (mini / "labels.csv").unlink()
    (mini / "labels.json").unlink()
    with _raises(FileNotFoundError, str(mini), "no labels file"):
        FolderDataset(mini)


def test_no_class_anywhere_needs_a_class_list(tmp_path: Path) -> None:
    root = _tree(tmp_path, "labels.csv", "name,classes\na,\n", {"a.png": (2, 2)})
    with _raises(ValueError, str(root / "labels.csv"), "classes.txt"):
        FolderDataset(root)
    (root / "classes.txt").write_text("cat\n")
    assert FolderDataset(root)[0].classes.tolist() == [0.0]


def test_index_errors(mini: Path) -> None:
    data = FolderDataset(mini)
    with pytest.raises(IndexError, match="index: 4"):
        data[4]
    with pytest.raises(TypeError, match="index"):
        data["pair"]  # type: ignore[index]
    assert data[-1].name == "bird_2"
