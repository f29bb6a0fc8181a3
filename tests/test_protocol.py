"""The dataset protocol, subsets, images without a class, and the collates for mixed sizes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _mini_folder import SIZES, build_mini_folder

from wsss.data import (
    TORCHVISION,
    AugmentedDataset,
    DatasetSubset,
    FolderDataset,
    Sample,
    SegmentationDataset,
    SyntheticVOC,
    VOCSegmentation,
    WithLabels,
    check_dataset,
    describe_dataset,
    image_labels,
    pad_collate,
    split_by_labels,
    stack_collate,
    write_label,
)


class Foreign:
    """A dataset written outside ``wsss``: three images, two classes, no ``describe``."""

    class_names = ("apple", "pear")
    num_classes = 2

    def __init__(self, vectors=((1, 0), (0, 0), (1, 1))) -> None:
        self.vectors = [np.array(v, np.float32) for v in vectors]
        self.names = [f"img{i}" for i in range(len(self.vectors))]
        self.reads = 0

    def __len__(self) -> int:
        return len(self.vectors)

    def __getitem__(self, index: int) -> Sample:
        self.reads += 1
        h, w = 2 + index, 3
        return Sample(self.names[index], np.full((h, w, 3), 10 * index, np.uint8),
                      self.vectors[index], np.full((h, w), index, np.uint8))  # fmt: skip


def test_builtin_datasets_follow_the_protocol(mini_voc, tmp_path: Path) -> None:
    synthetic = SyntheticVOC(2, image_size=40)
    voc = VOCSegmentation(mini_voc.root, "train", class_source="mask")
    folder = FolderDataset(build_mini_folder(tmp_path / "f").root)
    for name in synthetic.names:
        write_label(tmp_path / "proxy" / f"{name}.png", np.zeros((40, 40), np.uint8))
    relabelled = WithLabels(synthetic, tmp_path / "proxy")
    subset = DatasetSubset(folder, [3, 0])
    for data in (synthetic, voc, folder, relabelled, subset, Foreign()):
        assert isinstance(data, SegmentationDataset)
        check_dataset(data)
        assert data[0].classes.shape == (data.num_classes,)
        assert data[0].name == data.names[0]
    assert voc.class_names[14] == "person" and relabelled.class_names == synthetic.class_names
    assert subset.class_names == ("cat", "dog", "bird") and subset.names == ["bird_2", "cat_1"]


def test_check_dataset_names_argument_and_missing_members() -> None:
    with pytest.raises(TypeError, match=r"^train: a list .* lacks class_names, num_classes, names"):
        check_dataset([], argument="train")

    class NoNames(Foreign):
        names = None

    del NoNames.names
    bad = NoNames.__new__(NoNames)
    with pytest.raises(TypeError, match=r"^dataset: a NoNames .* lacks names \("):
        check_dataset(bad)


@pytest.mark.parametrize(
    ("attribute", "value", "error", "message"),
    [
        ("class_names", ["apple", "pear"], TypeError, "class_names must be a tuple of str"),
        ("class_names", (), ValueError, "class_names is empty"),
        ("class_names", ("a", "a"), ValueError, r"class_names repeats \['a'\]"),
        ("class_names", ("a", ""), ValueError, "class_names holds an empty name"),
        ("num_classes", 3, ValueError, "num_classes is 3 but class_names has 2"),
        ("num_classes", 2.0, TypeError, "num_classes must be an int"),
        ("names", ["a"], ValueError, "names has 1 entries but the dataset 3"),
        ("names", "abc", TypeError, "names must be a sequence of str"),
    ],
)
def test_check_dataset_values(attribute, value, error, message) -> None:
    data = Foreign()
    setattr(data, attribute, value)
    with pytest.raises(error, match="^val_data: " + message):
        check_dataset(data, "val_data")


def test_describe_dataset(mini_voc) -> None:
    foreign = describe_dataset(Foreign())
    assert foreign == {
        "class": f"{__name__}.Foreign",
        "arguments": {},
        "num_classes": 2,
        "class_names": ["apple", "pear"],
    }
    data = Foreign()
    data.describe = {"seed": np.int64(3), "path": Path("/x"), "sizes": (1, 2)}  # an attribute
    assert describe_dataset(data)["arguments"] == {"seed": 3, "path": "/x", "sizes": [1, 2]}
    data.describe = lambda: ["not", "a", "dict"]
    with pytest.raises(TypeError, match="describe\\(\\) must return a mapping"):
        describe_dataset(data)
    voc = VOCSegmentation(mini_voc.root, "val", class_source={n: np.zeros(20) for n in
                                                             ("2007_000039", "2010_000005",
                                                              "2011_000010")})  # fmt: skip
    record = json.loads(json.dumps(describe_dataset(voc)))
    assert record["arguments"]["root"] == str(mini_voc.root)
    assert record["arguments"]["class_source"] == "<3 image-level label vectors>"
    synthetic = describe_dataset(SyntheticVOC(2, image_size=40, seed=5))["arguments"]
    assert synthetic["seed"] == 5 and synthetic["saliency"]["blur_sigma"] == 1.5
    assert SyntheticVOC(**{k: (tuple(v) if isinstance(v, list) else v)
                           for k, v in synthetic.items() if k != "saliency"}).seed == 5  # fmt: skip


def test_split_by_labels_and_image_labels() -> None:
    data = Foreign()
    assert split_by_labels(data) == ([0, 2], ["img1"])
    assert data.reads == 3  # no image_labels(): every sample read once
    np.testing.assert_array_equal(image_labels(data), [[1, 0], [0, 0], [1, 1]])
    nothing = Foreign(vectors=((0, 0), (0, 0)))
    assert split_by_labels(nothing) == ([], ["img0", "img1"])
    data.image_labels = lambda: np.zeros((3, 5))
    with pytest.raises(ValueError, match=r"image_labels\(\) has shape \(3, 5\), expected \(3, 2\)"):
        image_labels(data)
    wrong = Foreign(vectors=((1, 0, 0),))
    with pytest.raises(ValueError, match="image 'img0' has a classes vector of shape \\(3,\\)"):
        image_labels(wrong)


def test_subset_keeps_the_protocol() -> None:
    parent = Foreign()
    with_class, _ = split_by_labels(parent)
    kept = DatasetSubset(parent, with_class)
    assert kept.names == ["img0", "img2"] and len(kept) == 2
    assert kept[1].name == "img2" and kept[-1].name == "img2"
    np.testing.assert_array_equal(kept.image_labels(), [[1, 0], [1, 1]])
    assert describe_dataset(kept)["arguments"]["indices"] == [0, 2]
    with pytest.raises(ValueError, match=r"indices: entry 1 \(3\) is outside \[0, 3\)"):
        DatasetSubset(parent, [0, 3])
    with pytest.raises(TypeError, match="indices: entry 0 is a str"):
        DatasetSubset(parent, ["img0"])
    with pytest.raises(IndexError, match="index: 2"):
        kept[2]


def test_with_labels_reads_with_the_datasets_class_count(tmp_path: Path) -> None:
    parent = Foreign()
    write_label(tmp_path / "img0.png", np.full((2, 3), 2, np.uint8))
    write_label(tmp_path / "img1.png", np.full((3, 3), 3, np.uint8))  # 3 > 2 classes
    relabelled = WithLabels(parent, tmp_path)
    assert relabelled.num_classes == 2
    assert relabelled[0].label.tolist() == [[2, 2, 2], [2, 2, 2]]
    with pytest.raises(ValueError, match=r"img1\.png: label values must lie in \{0, \.\.\., 2"):
        relabelled[1]
    with pytest.raises(TypeError, match="dataset: a list"):
        WithLabels([], tmp_path)
    with pytest.raises(FileNotFoundError, match="label folder not found"):
        WithLabels(parent, tmp_path / "missing")


# -- collates ---------------------------------------------------------------------------------


def test_pad_collate_on_mixed_sizes(tmp_path: Path) -> None:
    folder = FolderDataset(build_mini_folder(tmp_path / "f").root)
    items = AugmentedDataset(folder, None, TORCHVISION, seed=0)
    batch = pad_collate([items[0], items[2], items[3]])  # 20x30, 12x12, 18x14
    assert batch["image"].shape == (3, 3, 20, 30)
    assert batch["label"].shape == (3, 20, 30) and batch["label"].dtype == torch.int64
    assert batch["size"].tolist() == [list(SIZES["cat_1"]), [12, 12], [18, 14]]
    assert batch["name"] == ["cat_1", "nothing", "bird_2"]
    assert batch["index"].tolist() == [0, 2, 3]
    assert batch["classes"].tolist() == [[1, 0, 0], [0, 0, 0], [0, 0, 1]]
    # image "nothing" (12x12): its own pixels, then the fill
    torch.testing.assert_close(batch["image"][1, :, :12, :12], items[2]["image"])
    assert (batch["image"][1, :, 12:, :] == 0).all() and (batch["image"][1, :, :, 12:] == 0).all()
    assert (batch["label"][1, :12, :12] == 0).all()
    assert int((batch["label"][1] == 255).sum()) == 20 * 30 - 12 * 12
    assert int((batch["label"][2] == 255).sum()) == 20 * 30 - 18 * 14
    assert (batch["saliency"][2, 18:, :] == 0).all()
    torch.testing.assert_close(batch["saliency"][2, :18, :14], items[3]["saliency"])
    other = pad_collate([items[2]], image_fill=-1.0, label_fill=7)
    assert other["image"].shape == (1, 3, 12, 12) and other["label"].max() == 0


def test_collate_errors_name_the_images(tmp_path: Path) -> None:
    folder = FolderDataset(build_mini_folder(tmp_path / "f").root)
    items = AugmentedDataset(folder, None, TORCHVISION, seed=0)
    with pytest.raises(ValueError, match=r"image 'pair' is 16x24 .* image 'cat_1' is 20x30.*pad_"):
        stack_collate([items[0], items[1]])
    same = stack_collate([items[1], items[1]])
    assert same["image"].shape == (2, 3, 16, 24) and same["name"] == ["pair", "pair"]
    no_mask = AugmentedDataset(FolderDataset(folder.root, mask_dir=None), None, TORCHVISION,
                               seed=0)  # fmt: skip
    with pytest.raises(ValueError, match=r"image 'pair' and image 'cat_1' differ in the keys"):
        pad_collate([items[0], no_mask[1]])
    with pytest.raises(ValueError, match="batch: is empty"):
        pad_collate([])
    with pytest.raises(TypeError, match="batch: item 0"):
        pad_collate([torch.zeros(3)])
