"""The path a user takes on PASCAL VOC, on the hand-written VOC + SBD tree of ``_mini_voc``.

Each test reproduces a finding of a user trial: inputs checked before any work, with messages
that name the flags; later stages reading the earlier run's config.json; only what a stage uses
is read; --threads honoured; training from scratch announced; --proxy / --refine wired.
"""

from __future__ import annotations

import json
import runpy
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from _mini_voc import SIZES, TRAIN_AUG, build_mini_voc, write_list
from PIL import Image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = ("train_seenet", "make_attention", "make_pseudo_labels", "train_deeplab", "evaluate",
           "run_pipeline")
SMALL = ["--no-progress", "--threads", "1"]
TRAIN = ["--iterations", "2", "--batch-size", "2", "--crop", "40"]


def script(name: str):
    return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="not_main")


def write_saliency(folder: Path, names) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(names):
        Image.fromarray(np.full(SIZES[name], 80 + 30 * k, np.uint8)).save(folder / f"{name}.png")
    return folder


@pytest.fixture()
def voc(tmp_path):
    """A fresh miniature VOC tree (tests here may delete files from it)."""
    return build_mini_voc(tmp_path / "tree")


def voc_flags(tree) -> list[str]:
    return ["--dataset", "voc", "--data-root", str(tree.root), "--sbd-root", str(tree.sbd)]


@pytest.fixture()
def seenet_run(voc, tmp_path):
    """A SeeNet trained for two steps on the tree's train_aug split."""
    run = tmp_path / "seenet"
    script("train_seenet")["main"]([*voc_flags(voc), *SMALL, *TRAIN, "--backbone",
                                    "vgg16_tiny3", "--run-dir", str(run)])
    return run


# -- 1. preflight: inputs checked first, errors name flags, config.json only after --------------


def test_saliency_folder_must_cover_every_training_image(voc, seenet_run, tmp_path):
    attention = tmp_path / "attention"
    script("make_attention")["main"]([*SMALL, "--checkpoint", str(seenet_run / "model.pt"),
                                      "--scales", "1.0", "--run-dir", str(attention)])
    saliency = write_saliency(tmp_path / "sal", ["2009_000001"])  # 1 of the 4 images
    labels = tmp_path / "labels"
    with pytest.raises(ValueError, match=(
            rf"^--saliency-dir {saliency}: no saliency map for 3 of 4 training images "
            r"\(2007_000032, 2008_000002, 2008_000003\)$")):
        script("make_pseudo_labels")["main"]([*SMALL, "--attention-dir", str(attention / "maps"),
                                              "--saliency-dir", str(saliency),
                                              "--run-dir", str(labels)])
    assert not labels.exists()  # nothing written: config.json comes after the checks
    with pytest.raises(ValueError, match=r"^--saliency-dir: the proxy labels fuse saliency maps, "
                                         r"and none were given; .* or use --proxy threshold$"):
        script("make_pseudo_labels")["main"]([*SMALL, "--attention-dir", str(attention / "maps"),
                                              "--run-dir", str(labels)])
    # the main job checks the same before its first stage
    run = tmp_path / "pipeline"
    with pytest.raises(ValueError, match=rf"^--saliency-dir {saliency}: no saliency map for 3 "):
        script("run_pipeline")["main"]([*voc_flags(voc), *SMALL, "--saliency-dir", str(saliency),
                                        "--run-dir", str(run)])
    assert not run.exists()


def test_train_aug_needs_the_sbd_folder(voc, tmp_path):
    run = tmp_path / "run"
    for name in SCRIPTS[:1] + SCRIPTS[-1:]:
        with pytest.raises(ValueError, match=r"^--sbd-root: the train_aug split needs the SBD "
                                             r"folder \(benchmark_RELEASE\), or the field's "
                                             r"train_aug.txt as --train-list$"):
            script(name)["main"](["--dataset", "voc", "--data-root", str(voc.root), *SMALL,
                                  "--run-dir", str(run)])
    assert not run.exists()
    with pytest.raises(ValueError, match=rf"^--sbd-root {tmp_path}: .*no SBD found"):
        script("train_seenet")["main"](["--dataset", "voc", "--data-root", str(voc.root),
                                        "--sbd-root", str(tmp_path), *SMALL])


def test_data_root_and_split_errors_name_their_flags(voc, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match=rf"^--data-root {missing}: folder not found$"):
        script("train_seenet")["main"](["--dataset", "voc", "--data-root", str(missing), *SMALL])
    with pytest.raises(ValueError, match=rf"^--data-root {tmp_path}: .*no PASCAL VOC 2012 found"):
        script("train_seenet")["main"](["--voc-root", str(tmp_path), *SMALL])
    with pytest.raises(ValueError, match=r"^--train-split trainaug: expected one of"):
        script("train_seenet")["main"]([*voc_flags(voc), "--train-split", "trainaug", *SMALL])
    with pytest.raises(ValueError, match=rf"^--train-list {missing}: list file not found$"):
        script("train_seenet")["main"]([*voc_flags(voc), "--train-list", str(missing), *SMALL])
    (voc.voc / "JPEGImages" / "2008_000002.jpg").unlink()
    with pytest.raises(ValueError, match=r"^--data-root .*: no image for 1 of 4 training images "
                                         r"in .*JPEGImages \(2008_000002\)$"):
        script("train_seenet")["main"]([*voc_flags(voc), *SMALL])
    with pytest.raises(ValueError, match=r"^--weights .*vgg.pth: file not found$"):
        script("train_seenet")["main"](["--weights", str(tmp_path / "vgg.pth"), *SMALL])
    with pytest.raises(ValueError, match=r"^--sbd-root: only the voc dataset reads it"):
        script("train_seenet")["main"](["--sbd-root", str(tmp_path), *SMALL])


def test_checkpoint_errors_name_the_flags(voc, seenet_run, tmp_path):
    make_attention = script("make_attention")["main"]
    with pytest.raises(ValueError, match=r"^--checkpoint .*model.pt: file not found$"):
        make_attention([*SMALL, "--checkpoint", str(tmp_path / "none" / "model.pt")])
    # a backbone other than the one the checkpoint's run was trained on: both values named
    with pytest.raises(ValueError, match=(
            rf"^--backbone vgg16: the run in {seenet_run / 'config.json'} used 'vgg16_tiny3'; "
            r"leave --backbone out to use the run's value, or give 'vgg16_tiny3'$")):
        make_attention([*SMALL, "--checkpoint", str(seenet_run / "model.pt"),
                        "--backbone", "vgg16"])
    with pytest.raises(ValueError, match=r"^--weights-format caffe: the run in .* used "
                                         r"'torchvision'"):  # the input normalisation
        make_attention([*SMALL, "--checkpoint", str(seenet_run / "model.pt"),
                        "--weights-format", "caffe"])
    with pytest.raises(ValueError, match=r"^--model cam_classifier: the run in .* used 'seenet'"):
        make_attention([*SMALL, "--checkpoint", str(seenet_run / "model.pt"),
                        "--model", "cam_classifier"])
    with pytest.raises(ValueError, match=r"^--dataset synthetic: the run in .* used 'voc'"):
        make_attention([*SMALL, "--checkpoint", str(seenet_run / "model.pt"),
                        "--dataset", "synthetic"])
    # without the run's config.json the weights themselves are compared with the network
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(seenet_run / "model.pt", alone / "model.pt")
    with pytest.raises(ValueError, match=r"^--checkpoint .*model.pt: the weights do not fit "
                                         r"seenet on --backbone vgg16_tiny with 20 classes"):
        make_attention([*voc_flags(voc), *SMALL, "--checkpoint", str(alone / "model.pt"),
                        "--backbone", "vgg16_tiny"])
    from _mini_folder import build_mini_folder

    folder = build_mini_folder(tmp_path / "folder")
    with pytest.raises(ValueError, match=r"^--checkpoint .*model.pt: the weights hold 20 "
                                         r"classes, the data has 3; use the checkpoint"):
        make_attention(["--dataset", "folder", "--data-root", str(folder.root), *SMALL,
                        "--checkpoint", str(alone / "model.pt"), "--backbone", "vgg16_tiny3"])


def test_batch_size_must_split_over_the_processes(monkeypatch, tmp_path):
    monkeypatch.setenv("WORLD_SIZE", "4")
    with pytest.raises(ValueError, match=r"^--batch-size 10: not a multiple of --micro-batch "
                                         r"\(1\) x processes \(4\); use 8 or 12$"):
        script("train_seenet")["main"](["--batch-size", "10", "--micro-batch", "1", *SMALL,
                                        "--run-dir", str(tmp_path / "run")])
    assert not (tmp_path / "run").exists()


# -- 2. stages chain through the run directory --------------------------------------------------


def test_later_stages_read_the_earlier_run(voc, seenet_run, tmp_path):
    attention = tmp_path / "attention"
    script("make_attention")["main"]([*SMALL, "--checkpoint", str(seenet_run / "model.pt"),
                                      "--scales", "1.0", "--run-dir", str(attention)])
    config = json.loads((attention / "config.json").read_text())
    trained = json.loads((seenet_run / "config.json").read_text())
    assert config["data"] == trained["data"]  # dataset, root, SBD, splits: nothing repeated
    assert config["model"] == trained["model"]  # backbone, weights format, model arguments
    assert sorted(p.stem for p in (attention / "maps").glob("*.npz")) == sorted(TRAIN_AUG)
    # flags given again that agree are accepted
    again = tmp_path / "again"
    script("make_attention")["main"]([*voc_flags(voc), *SMALL, "--backbone", "vgg16_tiny3",
                                      "--checkpoint", str(seenet_run / "model.pt"),
                                      "--scales", "1.0", "--run-dir", str(again)])
    assert (again / "maps").is_dir()


def test_a_pipeline_stage_is_read_from_the_pipeline_config(tmp_path):
    """A checkpoint inside a run_pipeline.py run: its config.json is one folder up."""
    run = tmp_path / "pipeline"
    script("run_pipeline")["main"](["--synthetic-train", "8", "--synthetic-val", "4",
                                    "--image-size", "48", "--pretrain-iterations", "2",
                                    "--classifier-iterations", "2", "--deeplab-iterations", "2",
                                    "--batch-size", "4", "--figures", "1",
                                    "--no-baseline-deeplab", *SMALL, "--run-dir", str(run)])
    out = tmp_path / "evaluate"
    script("evaluate")["main"]([*SMALL, "--checkpoint", str(run / "deeplab_seenet" / "model.pt"),
                                "--run-dir", str(out)])
    config = json.loads((out / "config.json").read_text())
    pipeline = json.loads((run / "config.json").read_text())
    assert config["data"]["synthetic_train"] == 8 and config["data"]["image_size"] == 48
    assert config["model"]["backbone"] == pipeline["deeplab"]["backbone"] == "vgg16_tiny"
    with pytest.raises(ValueError, match=r"^--backbone resnet_tiny: the run in .*config.json "
                                         r"used 'vgg16_tiny3'"):
        script("make_attention")["main"]([*SMALL, "--backbone", "resnet_tiny", "--checkpoint",
                                          str(run / "seenet" / "model.pt")])


# -- 3. load only what a stage uses ---------------------------------------------------------------


def test_classifier_training_reads_no_masks_and_no_saliency(voc, tmp_path):
    (voc.sbd / "dataset" / "cls" / "2008_000002.mat").unlink()  # an SBD mask missing
    saliency = write_saliency(tmp_path / "sal", TRAIN_AUG[:1])  # covers 1 of 4: not needed
    run = tmp_path / "seenet"
    script("train_seenet")["main"]([*voc_flags(voc), "--saliency-dir", str(saliency), *SMALL,
                                    *TRAIN, "--backbone", "vgg16_tiny3", "--run-dir", str(run)])
    arguments = json.loads((run / "config.json").read_text())["dataset"]["arguments"]
    assert arguments["label_source"] == "none" and arguments["saliency_dir"] is None
    assert (run / "model.pt").exists()
    # the stages that score against the ground truth do need it, and say which image lacks it
    with pytest.raises(ValueError, match=r"^--data-root .*: no pixel labels for 1 of 4 training "
                                         r"images \(2008_000002\)"):
        script("train_deeplab")["main"]([*voc_flags(voc), "--ground-truth", *SMALL,
                                         "--run-dir", str(tmp_path / "deeplab")])
    assert not (tmp_path / "deeplab").exists()


def test_train_aug_list_and_segmentation_class_aug_without_sbd(voc, tmp_path):
    """The field's train_aug.txt and SegmentationClassAug stand in for SBD."""
    shutil.rmtree(voc.sbd)
    listed = voc.voc / "ImageSets" / "Segmentation" / "train_aug.txt"
    write_list(listed, TRAIN_AUG)
    flags = ["--dataset", "voc", "--data-root", str(voc.root), "--train-list", str(listed),
             "--voc-labels", "aug"]
    run = tmp_path / "deeplab"
    script("train_deeplab")["main"]([*flags, "--ground-truth", *SMALL, *TRAIN, "--backbone",
                                     "vgg16_tiny", "--run-dir", str(run)])
    arguments = json.loads((run / "config.json").read_text())["dataset"]["arguments"]
    assert arguments["label_source"] == "aug" and arguments["image_list"] == str(listed)
    from wsss.engine import DataConfig, load_dataset

    data = DataConfig(dataset="voc", root=str(voc.root), train_list=str(listed),
                      voc_labels="aug")
    train = load_dataset(data, "train")
    assert train.names == TRAIN_AUG
    for name in TRAIN_AUG:  # SegmentationClassAug holds VOC's mask where there is one, else SBD's
        expected = voc.voc_labels.get(name, voc.sbd_labels.get(name))
        np.testing.assert_array_equal(train.load(name).label, expected)


# -- 4. --threads ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCRIPTS)
def test_threads_flag_is_honoured(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the default --checkpoint and --run-dir are relative
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with pytest.raises(ValueError, match="--data-root"):  # set before the checks fail
            script(name)["main"](["--dataset", "folder", "--data-root", str(tmp_path / "x"),
                                  "--threads", "2"])
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


# -- 6. training from scratch is announced -------------------------------------------------------


def test_training_from_scratch_warns(voc, tmp_path, capsys):
    run = tmp_path / "seenet"
    script("train_seenet")["main"]([*voc_flags(voc), *SMALL, *TRAIN, "--iterations", "1",
                                    "--backbone", "vgg16_tiny3", "--run-dir", str(run)])
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["weights"] is None
    assert len(config["warnings"]) == 1 and "trains from scratch" in config["warnings"][0]
    assert "WARNING: no --weights: every network trains from scratch" in capsys.readouterr().out


# -- 7. --proxy and --refine ---------------------------------------------------------------------


def test_proxy_threshold_needs_no_saliency(voc, seenet_run, tmp_path):
    attention = tmp_path / "attention"
    script("make_attention")["main"]([*SMALL, "--checkpoint", str(seenet_run / "model.pt"),
                                      "--scales", "1.0", "--run-dir", str(attention)])
    labels = tmp_path / "labels"
    script("make_pseudo_labels")["main"]([*SMALL, "--proxy", "threshold", "--refine", "pamr",
                                          "--attention-dir", str(attention / "maps"),
                                          "--run-dir", str(labels)])
    config = json.loads((labels / "config.json").read_text())
    assert config["proxy"] == "threshold" and config["refine"] == "pamr"
    assert sorted(p.stem for p in labels.glob("*.png")) == sorted(TRAIN_AUG)


def test_proxy_and_refine_flags_parse():
    parse = script("make_pseudo_labels")["parse"]
    assert parse([]).proxy == "saliency" and parse([]).refine == "none"
    assert parse(["--crf"]).refine == "crf"  # the older flag, same as --refine crf
    assert parse(["--proxy", "threshold", "--refine", "pamr"]).refine == "pamr"
    pipeline = script("run_pipeline")["parse"](["--proxy", "threshold", "--refine", "crf"])
    assert (pipeline.proxy, pipeline.refine, pipeline.crf) == ("threshold", "crf", False)
