"""Every example script runs, in a seconds-long configuration, and chains with the next."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from wsss.data.images import read_label

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TINY = ["--synthetic-train", "8", "--synthetic-val", "4", "--image-size", "48", "--no-progress",
        "--threads", "1"]


def script(name: str):
    return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="not_main")


def test_quickstart_runs(capsys):
    script("quickstart")["main"](["--steps", "2"])
    assert "proxy label histogram" in capsys.readouterr().out


def test_scripts_chain_on_synthetic_data(tmp_path):
    train = tmp_path / "seenet"
    script("train_seenet")["main"]([*TINY, "--iterations", "2", "--batch-size", "4",
                                    "--run-dir", str(train)])
    config = json.loads((train / "config.json").read_text())
    assert config["train"]["iterations"] == 2 and config["data"]["dataset"] == "synthetic"
    assert (train / "model.pt").exists() and (train / "checkpoint.pt").exists()
    assert [m["iteration"] for m in map(json.loads, (train / "metrics.jsonl").open())] == [2]

    attention = tmp_path / "attention"
    script("make_attention")["main"]([*TINY, "--checkpoint", str(train / "model.pt"),
                                      "--scales", "1.0", "--run-dir", str(attention)])
    assert len(list((attention / "maps").glob("*.npz"))) == 8

    labels = tmp_path / "labels"
    script("make_pseudo_labels")["main"]([*TINY, "--attention-dir", str(attention / "maps"),
                                          "--run-dir", str(labels)])
    pngs = sorted(labels.glob("*.png"))
    assert len(pngs) == 8 and read_label(pngs[0]).shape == (48, 48)
    quality = json.loads((labels / "quality.json").read_text())
    assert 0.0 <= quality["miou"] <= 1.0 and 0.0 <= quality["ignored"] <= 1.0

    deeplab = tmp_path / "deeplab"
    script("train_deeplab")["main"]([*TINY, "--iterations", "2", "--batch-size", "4",
                                     "--labels-dir", str(labels), "--run-dir", str(deeplab)])
    evaluation = tmp_path / "evaluate"
    script("evaluate")["main"]([*TINY, "--checkpoint", str(deeplab / "model.pt"),
                                "--run-dir", str(evaluation)])
    scores = json.loads((evaluation / "scores.json").read_text())
    assert 0.0 <= scores["miou"] <= 1.0
    assert "background" in (evaluation / "iou_table.md").read_text()


PIPELINE = [*TINY, "--pretrain-iterations", "2", "--classifier-iterations", "2",
            "--deeplab-iterations", "2", "--figures", "2", "--batch-size", "4"]


def test_run_pipeline_writes_a_report(tmp_path):
    run = tmp_path / "pipeline"
    result = script("run_pipeline")["main"]([*PIPELINE, "--run-dir", str(run)])
    report = (run / "report.md").read_text()
    for needle in ("plain CAM", "SeeNet S_A", "SeeNet max(S_A, S_B)", "ignored", "upper bound",
                   "figures/pipeline.png", "Per-class IoU", "aeroplane", "## Time",
                   "wsss.data.synthetic.SyntheticVOC", "figures/loss_seenet.png"):
        assert needle in report, needle
    assert "Diagnostics" not in report  # only with --diagnostics
    assert (run / "figures" / "pipeline.png").stat().st_size > 1000
    for name in ("pretrain", "seenet", "cam", "deeplab_seenet", "deeplab_cam", "deeplab_gt"):
        assert (run / "figures" / f"loss_{name}.png").stat().st_size > 500, name
    saved = json.loads((run / "results.json").read_text())
    assert saved["ratio"] == pytest.approx(saved["deeplab_miou"]["seenet"]
                                           / saved["deeplab_miou"]["ground truth"])
    assert saved["ratio"] == pytest.approx(result.ratio)
    assert set(saved["deeplab_miou"]) == {"seenet", "cam", "ground truth"}
    assert saved["seenet_margin"] == pytest.approx(
        saved["attention_miou"]["SeeNet max(S_A, S_B)"] - saved["attention_miou"]["plain CAM"])
    # the synthetic recipe pretrains one backbone on the image labels; every network starts there
    config = json.loads((run / "config.json").read_text())
    assert config["recipe"]["pretrain_train"]["iterations"] == 2
    assert config["recipe"]["pretrain_part_prob"] == 0.5  # half the parts hidden
    assert config["data"]["synthetic_part_prob"] == 1.0  # every later stage sees them all
    assert config["dataset"]["class"] == "wsss.data.synthetic.SyntheticVOC"
    assert (run / "pretrain" / "backbone.pt").exists()
    for name in ("seenet", "cam", "deeplab"):
        assert config[name]["weights_format"] == "backbone"
        assert config[name]["weights"] == str(run / "pretrain" / "backbone.pt")
    # --resume reuses every finished stage and gives the same numbers
    again = script("run_pipeline")["main"]([*PIPELINE, "--run-dir", str(run), "--resume"])
    assert again.deeplab["seenet"].miou == result.deeplab["seenet"].miou
    assert "train seenet" not in again.seconds
    assert "pretrain backbone" not in again.seconds
    # a second run into a used folder is refused, not mixed in
    with pytest.raises(SystemExit, match="--run-dir"):
        script("run_pipeline")["main"]([*PIPELINE, "--run-dir", str(run)])


def test_run_pipeline_diagnostics_on_request(tmp_path):
    run = tmp_path / "pipeline"
    result = script("run_pipeline")["main"]([*PIPELINE, "--no-baseline-deeplab",
                                             "--diagnostics", "--run-dir", str(run)])
    report = (run / "report.md").read_text()
    assert "Where the attention lies" in report
    assert "What S_B finds when other cells are erased" in report
    assert set(result.deeplab) == {"seenet", "ground truth"}
    profile = result.diagnostics["attention_profile"]
    assert list(profile) == ["plain CAM", "SeeNet S_A", "SeeNet max(S_A, S_B)", "SeeNet S_B"]
    for means in profile.values():
        assert list(means) == ["part", "body", "near background", "far background"]
        assert all(0.0 <= m <= 1.0 for m in means.values())
    ablation = result.diagnostics["erasing_ablation"]
    assert set(ablation) == {"a", "b/learned", "b/parts", "b/none",
                             "max/learned", "max/parts", "max/none"}
    for zone in ("learned", "parts", "none"):
        assert ablation[f"max/{zone}"]["body"] >= ablation["a"]["body"] - 1e-9


@pytest.mark.parametrize("name", ["train_seenet", "train_deeplab", "make_attention",
                                  "make_pseudo_labels", "evaluate", "run_pipeline"])
def test_help_mentions_voc_root(name, capsys):
    with pytest.raises(SystemExit):
        script(name)["parse"](["--help"])
    out = capsys.readouterr().out
    assert "--voc-root" in out and "--run-dir" in out and "--dataset" in out
    # what each dataset needs, and each dataset's own flags
    for needle in ("synthetic  nothing", "voc        --data-root", "coco       --data-root",
                   "folder     --data-root", "--sbd-root", "--train-list", "--voc-labels",
                   "--labels-file", "--classes-file", "--annotations-dir", "--mask-dir",
                   "--saliency-dir", "{synthetic,voc,coco,folder}"):
        assert needle in out, needle


# -- every dataset through every script --------------------------------------------------------

SMALL = ["--no-progress", "--threads", "1"]
TRAIN = ["--iterations", "2", "--batch-size", "2", "--crop", "40"]


def write_saliency(folder: Path, sizes: dict[str, tuple[int, int]]) -> Path:
    """Constant grey saliency PNGs (a value per image) named after the images."""
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for k, (name, (height, width)) in enumerate(sorted(sizes.items())):
        Image.fromarray(np.full((height, width), 60 + 40 * k, np.uint8)).save(
            folder / f"{name}.png")
    return folder


def scaled_mini_coco(root: Path, scale: int) -> Path:
    """The miniature COCO tree of ``_mini_coco`` (both splits) with every image and annotation
    ``scale`` times larger: its 3-6 px images are smaller than the networks' output stride."""
    import numpy as np
    from _mini_coco import INSTANCES_JSON
    from PIL import Image

    mask = pytest.importorskip("pycocotools.mask")
    instances = json.loads(INSTANCES_JSON)
    for image in instances["images"]:
        image["height"] *= scale
        image["width"] *= scale
    for annotation in instances["annotations"]:
        segmentation = annotation["segmentation"]
        if isinstance(segmentation, list):  # polygons
            annotation["segmentation"] = [[v * scale for v in p] for p in segmentation]
            continue
        height, width = segmentation["size"]
        counts = segmentation["counts"]
        rle = (mask.frPyObjects(segmentation, height, width) if isinstance(counts, list)
               else {"size": [height, width], "counts": counts.encode()})
        big = np.kron(mask.decode(rle), np.ones((scale, scale), np.uint8))
        encoded = mask.encode(np.asfortranarray(big.astype(np.uint8)))
        annotation["segmentation"] = {"size": [height * scale, width * scale],
                                      "counts": encoded["counts"].decode()}
    for split in ("train2014", "val2014"):
        (root / split).mkdir(parents=True)
        (root / "annotations").mkdir(exist_ok=True)
        text = json.dumps(instances).replace("val2014", split)
        (root / "annotations" / f"instances_{split}.json").write_text(text)
        for k, image in enumerate(json.loads(text)["images"]):
            pixels = np.random.default_rng(k).integers(
                0, 256, (image["height"], image["width"], 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / split / image["file_name"])
    return root


def mini_dataset(kind: str, base: Path) -> tuple[list[str], tuple[str, ...], list[str]]:
    """``(data flags, class names, proxy flags)`` of a miniature tree of ``kind``."""
    if kind == "folder":
        from _mini_folder import build_mini_folder

        tree = build_mini_folder(base / "folder")  # masks/ and saliency/ found by default
        return (["--dataset", "folder", "--data-root", str(tree.root)], tree.class_names,
                ["--proxy", "saliency"])
    if kind == "coco":
        from _mini_coco import CLASS_NAMES

        root = scaled_mini_coco(base / "coco", 8)
        return ["--dataset", "coco", "--data-root", str(root)], CLASS_NAMES, ["--proxy",
                                                                               "threshold"]
    from _mini_voc import SIZES, TRAIN_AUG, build_mini_voc

    from wsss.data.sample import VOC_CLASSES

    tree = build_mini_voc(base / "voc")
    saliency = write_saliency(base / "saliency", {n: SIZES[n] for n in TRAIN_AUG})
    return (["--dataset", "voc", "--data-root", str(tree.root), "--sbd-root", str(tree.sbd),
             "--saliency-dir", str(saliency)], VOC_CLASSES, ["--proxy", "saliency"])


def check_scores(scores: dict, names: tuple[str, ...]) -> None:
    """The per-class IoU of scores.json names background and every class, and the mIoU is the
    mean over the classes that occur."""
    import math

    per_class = scores["iou"]
    assert sorted(per_class) == sorted(["background", *names])
    present = [v for v in per_class.values() if v is not None and not math.isnan(v)]
    assert scores["miou"] == pytest.approx(sum(present) / len(present))


@pytest.mark.parametrize("kind", ["folder", "coco", "voc"])
def test_every_script_on_every_dataset(kind, tmp_path, capsys):
    data, names, proxy = mini_dataset(kind, tmp_path)
    seenet, attention, labels = tmp_path / "seenet", tmp_path / "attention", tmp_path / "labels"
    deeplab, evaluation = tmp_path / "deeplab", tmp_path / "evaluate"
    script("train_seenet")["main"]([*data, *SMALL, *TRAIN, "--backbone", "vgg16_tiny3",
                                    "--run-dir", str(seenet)])
    config = json.loads((seenet / "config.json").read_text())
    assert config["data"]["dataset"] == kind and config["dataset"]["class_names"] == list(names)
    assert config["dataset"]["arguments"].get("saliency_dir") is None  # not read for training
    assert config["warnings"] and "from scratch" in config["warnings"][0]  # no --weights
    assert "WARNING: no --weights" in capsys.readouterr().out
    # every later stage reads the data, the backbone and the classes from the earlier run
    script("make_attention")["main"]([*SMALL, "--checkpoint", str(seenet / "model.pt"),
                                      "--scales", "1.0", "--run-dir", str(attention)])
    written = {p.stem for p in (attention / "maps").glob("*.npz")}
    assert written and json.loads((attention / "config.json").read_text())["model"][
        "backbone"] == "vgg16_tiny3"
    script("make_pseudo_labels")["main"]([*SMALL, *proxy, "--attention-dir",
                                          str(attention / "maps"), "--score",
                                          "--run-dir", str(labels)])
    quality = json.loads((labels / "quality.json").read_text())
    check_scores(quality["per_class"], names)
    script("train_deeplab")["main"]([*SMALL, *TRAIN, "--backbone", "vgg16_tiny",
                                     "--labels-dir", str(labels), "--run-dir", str(deeplab)])
    script("evaluate")["main"]([*SMALL, "--checkpoint", str(deeplab / "model.pt"),
                                "--run-dir", str(evaluation)])
    check_scores(json.loads((evaluation / "scores.json").read_text()), names)
    table = (evaluation / "iou_table.md").read_text()
    for name in ("background", *names):
        assert f"| {name} |" in table, name

    # the main job, on the same data
    run = tmp_path / "pipeline"
    result = script("run_pipeline")["main"](
        [*data, *SMALL, *proxy, "--backbone", "vgg16_tiny", "--classifier-iterations", "2",
         "--deeplab-iterations", "2", "--batch-size", "2", "--figures", "1",
         "--run-dir", str(run)])
    assert result.class_names == names
    report = (run / "report.md").read_text()
    assert "Per-class IoU" in report
    for name in ("background", *names):
        assert f"| {name} |" in report, name
    saved = json.loads((run / "results.json").read_text())
    check_scores(saved["deeplab_per_class"]["seenet"], names)


def test_main_job_on_a_folder_without_saliency(tmp_path):
    """--proxy threshold: the whole pipeline on one's own images (mixed sizes, one without any
    class) with a labels CSV and masks but no saliency maps at all."""
    import numpy as np
    from PIL import Image

    from wsss.data.images import write_label

    root = tmp_path / "folder"
    (root / "images").mkdir(parents=True)
    rows = {"a": ("cat", (48, 56)), "b": ("dog", (64, 48)), "c": ("cat;dog", (56, 64)),
            "d": ("", (48, 48))}
    rng = np.random.default_rng(0)
    for name, (classes, (h, w)) in rows.items():
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            root / "images" / f"{name}.png")
        mask = np.zeros((h, w), np.uint8)
        for k, cls in enumerate(c for c in classes.split(";") if c):
            mask[k * 10 : k * 10 + 12, 8:30] = ("cat", "dog").index(cls) + 1
        write_label(root / "masks" / f"{name}.png", mask)
    (root / "labels.csv").write_text(
        "name,classes\n" + "".join(f"{n},{c}\n" for n, (c, _) in rows.items()))
    run = tmp_path / "pipeline"
    result = script("run_pipeline")["main"]([
        "--dataset", "folder", "--data-root", str(root), "--proxy", "threshold",
        "--pretrain-iterations", "2", "--classifier-iterations", "2", "--deeplab-iterations",
        "2", "--batch-size", "2", "--figures", "1", "--no-progress", "--threads", "1",
        "--run-dir", str(run)])
    assert result.proxy_route == "threshold" and set(result.proxy) == {"seenet", "cam"}
    assert result.deeplab["seenet"].class_names == ("background", "cat", "dog")
    assert json.loads((run / "no_class_images.json").read_text()) == ["d"]
    report = (run / "report.md").read_text()
    assert "threshold route" in report and "| dog |" in report
