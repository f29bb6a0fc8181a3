"""AugmentedDataset: item format, collation, and determinism in (seed, epoch, index)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _mini_voc import SIZES, TRAIN_AUG
from PIL import Image
from torch.utils.data import DataLoader, default_collate

from wsss.data.loader import AugmentedDataset
from wsss.data.sample import Sample
from wsss.data.transforms import (
    CAFFE,
    TORCHVISION,
    Compose,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
)
from wsss.data.voc import VOCSegmentation

CROP = 24


def augmentation() -> Compose:
    return Compose([RandomScale(0.7, 1.3), RandomHorizontalFlip(), RandomCrop(CROP)])


@pytest.fixture(scope="module")
def train_aug(mini_voc) -> VOCSegmentation:
    return VOCSegmentation(mini_voc.root, "train_aug", sbd_root=mini_voc.sbd)


def test_item_format(train_aug):
    data = AugmentedDataset(train_aug, augmentation(), TORCHVISION, seed=0)
    assert len(data) == 4
    item = data[2]
    assert set(item) == {"image", "classes", "label", "index", "name"}
    assert item["image"].dtype == torch.float32 and item["image"].shape == (3, CROP, CROP)
    assert item["classes"].dtype == torch.float32 and item["classes"].shape == (20,)
    assert item["label"].dtype == torch.int64 and item["label"].shape == (CROP, CROP)
    assert set(item["label"].unique().tolist()) <= {0, 2, 255}  # 2008_000003: bicycle
    assert item["index"] == 2 and item["name"] == TRAIN_AUG[2]
    assert item["classes"].nonzero().flatten().tolist() == [1]


def test_without_transform_keeps_pixels(train_aug, mini_voc):
    item = AugmentedDataset(train_aug, None, CAFFE, seed=0)[0]
    name = TRAIN_AUG[0]
    assert item["image"].shape == (3, *SIZES[name])
    image = mini_voc.images[name].astype(np.float32)
    np.testing.assert_allclose(item["image"][0].numpy(), image[..., 2] - 104.008, atol=1e-4)
    np.testing.assert_array_equal(item["label"].numpy(), mini_voc.voc_labels[name])


def test_saliency_key(mini_voc, tmp_path):
    for name in TRAIN_AUG:
        Image.fromarray(np.full(SIZES[name], 255, np.uint8)).save(tmp_path / f"{name}.png")
    dataset = VOCSegmentation(
        mini_voc.root,
        "train_aug",
        sbd_root=mini_voc.sbd,
        label_source="none",
        saliency_dir=tmp_path,
    )
    item = AugmentedDataset(dataset, RandomCrop(40), TORCHVISION, seed=0)[1]
    assert "label" not in item
    saliency = item["saliency"]
    assert saliency.dtype == torch.float32 and saliency.shape == (40, 40)
    height = SIZES[TRAIN_AUG[1]][0]  # 30 x 45: rows below 30 are padding (0)
    assert (saliency[:height] == 1).all() and (saliency[height:] == 0).all()


def assert_items_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        if isinstance(a[key], torch.Tensor):
            assert torch.equal(a[key], b[key]), key
        else:
            assert a[key] == b[key], key


def test_deterministic_in_seed_epoch_index(train_aug):
    first = AugmentedDataset(train_aug, augmentation(), TORCHVISION, seed=7)
    second = AugmentedDataset(train_aug, augmentation(), TORCHVISION, seed=7)
    first.set_epoch(3)
    second.set_epoch(3)
    forward = [first[i] for i in range(4)]
    np.random.seed(123)  # noqa: NPY002 (global generators must not matter)
    torch.manual_seed(123)
    backward = [second[i] for i in reversed(range(4))][::-1]
    for a, b in zip(forward, backward):
        assert_items_equal(a, b)

    first.set_epoch(4)
    changed = [not torch.equal(first[i]["image"], forward[i]["image"]) for i in range(4)]
    assert any(changed)
    first.set_epoch(3)
    assert_items_equal(first[1], forward[1])

    other_seed = AugmentedDataset(train_aug, augmentation(), TORCHVISION, seed=8)
    other_seed.set_epoch(3)
    assert any(not torch.equal(other_seed[i]["image"], forward[i]["image"]) for i in range(4))


def test_rng_is_default_rng_of_seed_epoch_index(train_aug):
    data = AugmentedDataset(train_aug, augmentation(), TORCHVISION, seed=5)
    data.set_epoch(2)
    expected = np.random.default_rng([5, 2, 3]).random(4)
    np.testing.assert_array_equal(data.rng(3).random(4), expected)


def test_same_batches_whatever_the_worker_count(train_aug):
    data = AugmentedDataset(train_aug, augmentation(), TORCHVISION, seed=1)
    data.set_epoch(5)
    batches = {}
    for workers in (0, 2):
        loader = DataLoader(data, batch_size=2, shuffle=False, num_workers=workers)
        batches[workers] = list(loader)
    for a, b in zip(batches[0], batches[2]):
        assert_items_equal(a, b)
    batch = batches[0][0]
    assert batch["image"].shape == (2, 3, CROP, CROP) and batch["label"].shape == (2, CROP, CROP)
    assert batch["index"].tolist() == [0, 1] and batch["name"] == list(TRAIN_AUG[:2])


def test_default_collate_on_plain_samples():
    samples = [
        Sample(f"s{i}", np.full((4, 5, 3), i, np.uint8), np.eye(20, dtype=np.float32)[i])
        for i in range(3)
    ]
    data = AugmentedDataset(samples, RandomCrop(3), TORCHVISION, seed=0)
    batch = default_collate([data[i] for i in range(3)])
    assert batch["image"].shape == (3, 3, 3, 3) and batch["classes"].shape == (3, 20)


def test_argument_checks(train_aug):
    with pytest.raises(ValueError, match="seed"):
        AugmentedDataset(train_aug, None, TORCHVISION, seed=-1)
    with pytest.raises(TypeError, match="seed"):
        AugmentedDataset(train_aug, None, TORCHVISION, seed=1.5)
    with pytest.raises(TypeError, match="normalizer"):
        AugmentedDataset(train_aug, None, "torchvision", seed=0)
    with pytest.raises(TypeError, match="transform"):
        AugmentedDataset(train_aug, 3, TORCHVISION, seed=0)
    data = AugmentedDataset(train_aug, None, TORCHVISION, seed=0)
    with pytest.raises(ValueError, match="epoch"):
        data.set_epoch(-1)
    with pytest.raises(IndexError, match="index"):
        data[4]
