"""The library's input checks (wsss.engine.preflight) and run chaining (wsss.engine.runconfig).

Without ``names`` the messages name the API arguments; the command-line layer passes flags
(tests/test_user_path.py). The trees are the hand-written ones of ``_mini_voc``,
``_mini_folder`` and ``_mini_coco``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from _mini_folder import build_mini_folder
from _mini_voc import SIZES, TRAIN_AUG
from PIL import Image

from wsss.data.transforms import CAFFE
from wsss.engine import DataConfig, ModelConfig, build_model
from wsss.engine.config import DEFAULT_SPLITS
from wsss.engine.preflight import (
    PreflightError,
    check_checkpoint,
    check_coverage,
    check_data,
    images_with_a_class,
)
from wsss.engine.runconfig import merge, read_prior_run
from wsss.io import CheckpointError, save_checkpoint


def voc(tree, **changes) -> DataConfig:
    return DataConfig(dataset="voc", root=str(tree.root), sbd_root=str(tree.sbd), **changes)


def test_messages_name_the_api_arguments_by_default(mini_voc, tmp_path):
    with pytest.raises(PreflightError, match=r"^sbd_root: the train_aug split needs the SBD"):
        check_data(DataConfig(dataset="voc", root=str(mini_voc.root)), "train")
    with pytest.raises(PreflightError, match=r"^saliency_dir: the proxy labels fuse saliency"):
        check_data(voc(mini_voc), "train", saliency=True)
    with pytest.raises(PreflightError, match=r"--saliency-dir: .* or use --proxy threshold"):
        check_data(voc(mini_voc), "train", saliency=True,
                   names={"saliency_dir": "--saliency-dir", "proxy": "--proxy"})


def test_saliency_coverage_counts_exactly(mini_voc, tmp_path):
    folder = tmp_path / "sal"
    folder.mkdir()
    for name in TRAIN_AUG[1:3]:
        Image.fromarray(np.zeros(SIZES[name], np.uint8)).save(folder / f"{name}.png")
    (folder / f"{TRAIN_AUG[0]}.jpg").write_bytes(b"")  # another suffix does not count
    data = voc(mini_voc, saliency_dir=str(folder))
    with pytest.raises(PreflightError, match=(rf"^saliency_dir {folder}: no saliency map for 2 of "
                                              r"4 training images \(2007_000032, 2009_000001\)$")):
        check_data(data, "train", saliency=True)
    check_data(data, "train")  # without fusion the folder is not read
    check_data(data, "val", masks=True)  # nor for the validation split
    with pytest.raises(PreflightError, match=r"^saliency_dir .*nowhere: folder not found$"):
        check_data(voc(mini_voc, saliency_dir=str(tmp_path / "nowhere")), "train",
                   saliency=True)


def test_voc_masks_checked_only_when_used(mini_voc, tmp_path):
    tree = tmp_path / "tree"
    shutil.copytree(mini_voc.root, tree / "data")
    shutil.copytree(mini_voc.sbd, tree / "benchmark_RELEASE")
    (tree / "benchmark_RELEASE" / "dataset" / "cls" / "2009_000001.mat").unlink()
    data = DataConfig(dataset="voc", root=str(tree / "data"),
                      sbd_root=str(tree / "benchmark_RELEASE"))
    assert len(check_data(data, "train")) == 4
    with pytest.raises(PreflightError, match=r"^root .*: no pixel labels for 1 of 4 training "
                                             r"images \(2009_000001\)"):
        check_data(data, "train", masks=True)
    with pytest.raises(PreflightError, match=r"^voc_labels voc: no pixel labels for 2 of 4 "):
        check_data(DataConfig(dataset="voc", root=str(tree / "data"), voc_labels="voc",
                              sbd_root=str(tree / "benchmark_RELEASE")), "train", masks=True)


def test_folder_without_masks_or_complete_saliency(tmp_path):
    tree = build_mini_folder(tmp_path / "folder")
    data = DataConfig(dataset="folder", root=str(tree.root))
    train = check_data(data, "train", masks=True, saliency=True)
    assert train.names == ("cat_1", "pair", "nothing")
    assert images_with_a_class(train) == ["cat_1", "pair"]
    # a folder dataset reads a saliency map for every image, the one without a class too
    (tree.root / "saliency" / "nothing.png").unlink()
    with pytest.raises(PreflightError, match=r"^saliency_dir: .*saliency: no saliency map for 1 "
                                             r"of 3 training images \(nothing\)$"):
        check_data(data, "train", saliency=True)
    shutil.rmtree(tree.root / "saliency")
    with pytest.raises(PreflightError, match=r"^saliency_dir: the proxy labels fuse saliency "
                                             r"maps, and none were given"):
        check_data(data, "train", saliency=True)
    shutil.rmtree(tree.root / "masks")
    with pytest.raises(PreflightError, match=r"^mask_dir: the validation images have no masks"):
        check_data(data, "val", masks=True)
    # a malformed labels file is reported under the data folder, with the file and line
    (tree.root / "labels.csv").write_text("name,classes\ncat_1,lion\n")
    with pytest.raises(PreflightError, match=r"^root .*labels.csv:2: .*lion"):
        check_data(data, "val")


def test_folder_splits_default_to_the_whole_folder(tmp_path):
    tree = build_mini_folder(tmp_path / "folder")
    shutil.rmtree(tree.root / "splits")
    data = DataConfig(dataset="folder", root=str(tree.root))
    assert check_data(data, "train").names == check_data(data, "val").names == tree.names
    with pytest.raises(PreflightError, match=r"^root .*: .*train.txt: split list not found"):
        check_data(DataConfig(dataset="folder", root=str(tree.root), train_split="train"),
                   "train")


def test_coco_checks(tmp_path):
    from _mini_coco import build_mini_coco

    root = build_mini_coco(tmp_path / "coco")
    data = DataConfig(dataset="coco", root=str(root))
    assert len(check_data(data, "val")) == 3
    with pytest.raises(PreflightError, match=r"^root .*coco: .*train2014: image folder not found"):
        check_data(data, "train")
    (root / "train2014").mkdir()
    with pytest.raises(PreflightError, match=r"^root .*instances_train2014.json: COCO "
                                             r"annotation file not found"):
        check_data(data, "train")
    with pytest.raises(PreflightError, match=r"^annotations_dir .*ann: folder not found$"):
        check_data(DataConfig(dataset="coco", root=str(root),
                              annotations_dir=str(tmp_path / "ann")), "val")
    assert DEFAULT_SPLITS["coco"] == ("train2014", "val2014")


def test_check_coverage_lists_the_missing_files(tmp_path):
    for name in ("a", "c"):
        (tmp_path / f"{name}.npz").write_bytes(b"")
    check_coverage(tmp_path, ["a", "c"], ".npz", argument="attention_dir", what="map")
    with pytest.raises(PreflightError, match=r"^attention_dir .*: no map for 4 of 6 images "
                                             r"\(b, d, e, \.\.\.\)$"):
        check_coverage(tmp_path, list("abcdef"), ".npz", argument="attention_dir", what="map")


def test_checkpoint_checks(tmp_path):
    seenet = ModelConfig("seenet", backbone="resnet_tiny")
    torch.manual_seed(0)
    path = tmp_path / "model.pt"
    save_checkpoint(build_model(seenet, 4).state_dict(), path)
    check_checkpoint(path, seenet, 4)
    with pytest.raises(PreflightError, match=r"the weights hold 4 classes, the data has 3"):
        check_checkpoint(path, seenet, 3)
    with pytest.raises(PreflightError, match=r"do not fit seenet on backbone vgg16_tiny with 4 "
                                             r"classes \(missing .*; unexpected "):
        check_checkpoint(path, ModelConfig("seenet", backbone="vgg16_tiny"), 4)
    deeplab = ModelConfig("deeplab_largefov", backbone="resnet_tiny")
    save_checkpoint({"model": build_model(deeplab, 2).state_dict(), "iteration": 3},
                    tmp_path / "checkpoint.pt")  # a training checkpoint, background included
    check_checkpoint(tmp_path / "checkpoint.pt", deeplab, 2)
    with pytest.raises(PreflightError, match=r"the weights hold 2 classes, the data has 5"):
        check_checkpoint(tmp_path / "checkpoint.pt", deeplab, 5)
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"bad.pt: cannot read the checkpoint"):
        check_checkpoint(tmp_path / "bad.pt", seenet, 4)


def test_read_prior_run_finds_a_pipeline_stage(tmp_path):
    run = tmp_path / "pipeline"
    (run / "deeplab_cam").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({
        "data": {"dataset": "folder", "root": "/data/mine", "future_field": 1},
        "deeplab": {"name": "deeplab_largefov", "backbone": "vgg16", "weights": "w.pth",
                    "weights_format": "caffe", "kwargs": {}},
        "seenet": {"name": "seenet", "backbone": "vgg16"},
        "dataset": {"class_names": ["cat", "dog"]},
    }))
    prior = read_prior_run(run / "deeplab_cam" / "model.pt")
    assert prior.config_path == run / "config.json"
    assert prior.data == DataConfig(dataset="folder", root="/data/mine")
    assert prior.model.name == "deeplab_largefov" and prior.model.normalizer is CAFFE
    assert prior.class_names == ("cat", "dog")
    (run / "attention_seenet").mkdir()
    assert read_prior_run(run / "attention_seenet").model.name == "seenet"
    (run / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"config.json: not a readable run configuration"):
        read_prior_run(run / "seenet" / "model.pt")


def test_merge_compares_paths_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    prior = {"root": str(tmp_path / "data"), "saliency_dir": None, "image_size": 48}
    merged = merge({"root": "data", "saliency_dir": "sal"}, prior, source="x")
    assert merged == {"root": "data", "saliency_dir": "sal", "image_size": 48}
    with pytest.raises(PreflightError, match=r"^image_size 64: the run in x used 48"):
        merge({"image_size": 64}, prior, source="x")
    assert merge({"image_size": 64}, prior, source="x", fixed=("root",))["image_size"] == 64


def test_data_config_rejects_options_of_other_datasets():
    with pytest.raises(ValueError, match=r"^mask_dir: only the coco and folder datasets read it"):
        DataConfig(dataset="voc", root="d", mask_dir="m")
    with pytest.raises(TypeError, match=r"^root: expected a non-empty str or None"):
        DataConfig(dataset="folder", root=Path("d"))
    with pytest.raises(ValueError, match=r"^voc_labels: expected one of"):
        DataConfig(dataset="voc", root="d", voc_labels="png")
    assert DataConfig(dataset="folder", root="d").split_name("val") == "val"
