"""Corrupt and missing inputs, end to end through the scripts on a miniature VOC tree.

Each bad file stops the run with an error that names the file and the problem; with
``--skip-bad`` the per-image stages skip it, finish the other images and list it in
``bad_inputs.json``. A stage reads only what it uses: a broken pixel label does not stop the
attention maps, and stops the evaluation that reads it.
"""

from __future__ import annotations

import json
import re
import runpy
import shutil
from pathlib import Path

import numpy as np
import pytest
from _mini_voc import SIZES, VOC_TRAIN, build_mini_voc
from _reliability import EXAMPLES, run_script
from PIL import Image

from wsss.data.images import read_label, write_label
from wsss.engine.labelling import load_attention
from wsss.io import save_checkpoint
from wsss.models import create_model

GOOD, BAD = VOC_TRAIN  # the VOC "train" split: 2007_000032, 2008_000003
RUNTIME = ["--train-split", "train", "--no-progress", "--threads", "1"]


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    """A healthy tree with saliency maps, SeeNet weights and the attention of both images."""
    base = tmp_path_factory.mktemp("clean")
    voc = build_mini_voc(base)
    saliency = base / "saliency"
    saliency.mkdir()
    for name, (height, width) in SIZES.items():
        values = np.linspace(0, 255, height * width).reshape(height, width).astype(np.uint8)
        Image.fromarray(values).save(saliency / f"{name}.png")
    weights = base / "seenet.pt"
    save_checkpoint(create_model("seenet", backbone="vgg16_narrow_bn").state_dict(), weights)
    attention = base / "attention"
    run_script("make_attention", attention_args(voc.root, weights, attention))
    return base, weights, attention / "maps"


def attention_args(root, weights, run):
    return ["--voc-root", str(root), "--backbone", "vgg16_narrow_bn", "--checkpoint",
            str(weights), "--scales", "1.0", *RUNTIME, "--run-dir", str(run)]


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def unknown_class(path):
    path.write_text(path.read_text().replace("<name>bicycle</name>", "<name>unicorn</name>"))


def label_value_21(path):
    label = read_label(path)
    label[0, 0] = 21
    write_label(path, label)


def wrong_size(path):
    Image.fromarray(np.zeros((10, 12), np.uint8)).save(path)


def not_an_image(path):
    path.write_bytes(b"this is not a PNG file\n" * 4)


VOC = "data/VOCdevkit/VOC2012"
#: case -> (script, file to break, how, what the message must say besides the file name)
CASES = {
    "truncated JPEG": ("make_attention", f"{VOC}/JPEGImages/{BAD}.jpg", truncate, "truncated"),
    "unknown class in XML": (
        "make_attention", f"{VOC}/Annotations/{BAD}.xml", unknown_class, "unknown class name"),
    "missing saliency map": ("make_pseudo_labels", f"saliency/{BAD}.png", lambda p: p.unlink(),
                             "no saliency map"),
    "saliency map of the wrong size": (
        "make_pseudo_labels", f"saliency/{BAD}.png", wrong_size, "saliency map is 10x12"),
    "saliency PNG that is not a PNG": (
        "make_pseudo_labels", f"saliency/{BAD}.png", not_an_image, "not an image"),
}


def broken_run(tmp_path, clean, case, skip_bad):
    """Copy the clean tree, break one file, run the case's script; return (run dir, output)."""
    base, weights, attention = clean
    script, relative, breaker, _ = CASES[case]
    tree = tmp_path / "tree"
    shutil.copytree(base / "data", tree / "data")
    shutil.copytree(base / "saliency", tree / "saliency")
    breaker(tree / relative)
    run = tmp_path / "run"
    flag = ["--skip-bad"] if skip_bad else []
    if script == "make_attention":
        argv, output = attention_args(tree / "data", weights, run), run / "maps"
    else:
        argv = ["--voc-root", str(tree / "data"), "--saliency-dir", str(tree / "saliency"),
                "--attention-dir", str(attention), *RUNTIME, "--run-dir", str(run)]
        output = run
    run_script(script, [*argv, *flag])
    return run, output, tree / relative


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_stops_with_an_error_naming_file_and_problem(tmp_path, clean, case):
    with pytest.raises((ValueError, FileNotFoundError)) as error:
        broken_run(tmp_path, clean, case, skip_bad=False)
    message = str(error.value)
    # the file, or (a missing file, found by the checks before any work) the image's name
    assert Path(CASES[case][1]).stem in message, message
    assert re.search(CASES[case][3], message), message


@pytest.mark.parametrize("case", list(CASES))
def test_skip_bad_skips_and_lists_the_file(tmp_path, clean, case):
    run, output, broken = broken_run(tmp_path, clean, case, skip_bad=True)
    suffix, load = (".npz", load_attention) if output.name == "maps" else (".png", read_label)
    assert sorted(p.name for p in output.glob(f"*{suffix}")) == [GOOD + suffix]
    load(output / (GOOD + suffix))
    listed = json.loads((run / "bad_inputs.json").read_text())
    assert [entry["name"] for entry in listed] == [BAD]
    assert broken.name in listed[0]["reason"]


def test_bad_proxy_label_stops_training_naming_the_file(tmp_path, clean):
    base, _, _ = clean
    labels = tmp_path / "labels"
    for name in VOC_TRAIN:
        write_label(labels / f"{name}.png", np.zeros(SIZES[name], np.uint8))
    bad = np.zeros(SIZES[BAD], np.uint8)
    bad[3, 4] = 30
    Image.fromarray(bad).save(labels / f"{BAD}.png")  # a grey PNG with a value 30
    with pytest.raises(ValueError, match=rf"{BAD}\.png.*found \[30\]"):
        run_script("train_deeplab", ["--voc-root", str(base / "data"), "--labels-dir",
                                     str(labels), "--backbone", "vgg16_narrow_bn", "--crop",
                                     "32", "--iterations", "1", "--batch-size", "2", *RUNTIME,
                                     "--run-dir", str(tmp_path / "run")])


@pytest.mark.parametrize("script", ["train_seenet", "train_deeplab", "evaluate"])
def test_skip_bad_is_refused_where_it_is_not_supported(script, capsys):
    """Training and evaluation cannot skip an image: the flag is an error, not a no-op."""
    parse = runpy.run_path(str(EXAMPLES / f"{script}.py"), run_name="not_main")["parse"]
    with pytest.raises(SystemExit):
        parse(["--skip-bad"])
    assert "unrecognized arguments: --skip-bad" in capsys.readouterr().err


#: A broken pixel label: (how, what the message must say besides the file name).
LABEL_CASES = {"label PNG that is not a PNG": (not_an_image, "not an image"),
               "label value 21": (label_value_21, r"\[21\]")}


@pytest.mark.parametrize("case", list(LABEL_CASES))
def test_broken_label_stops_only_the_stage_that_reads_it(tmp_path, clean, case):
    base, weights, _ = clean
    tree = tmp_path / "tree"
    shutil.copytree(base / "data", tree / "data")
    label = tree / VOC / "SegmentationClass" / f"{BAD}.png"
    LABEL_CASES[case][0](label)
    attention = tmp_path / "attention"  # reads images and image labels only
    run_script("make_attention", attention_args(tree / "data", weights, attention))
    assert sorted(p.stem for p in (attention / "maps").glob("*.npz")) == sorted(VOC_TRAIN)
    deeplab = tmp_path / "deeplab.pt"
    save_checkpoint(create_model("deeplab_largefov", backbone="vgg16_narrow_bn").state_dict(),
                    deeplab)
    with pytest.raises(ValueError) as error:  # scores against the ground truth
        run_script("evaluate", ["--voc-root", str(tree / "data"), "--val-split", "train",
                                "--backbone", "vgg16_narrow_bn", "--checkpoint", str(deeplab),
                                *RUNTIME, "--run-dir", str(tmp_path / "evaluate")])
    assert label.name in str(error.value) and re.search(LABEL_CASES[case][1], str(error.value))
