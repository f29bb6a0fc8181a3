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
