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
    assert config["train"]["iterations"] == 2 and config["data"]["voc_root"] is None
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


def test_run_pipeline_writes_a_report(tmp_path):
    run = tmp_path / "pipeline"
    results = script("run_pipeline")["main"]([*TINY, "--pretrain-iterations", "2",
                                              "--classifier-iterations", "2",
                                              "--deeplab-iterations", "2", "--figures", "2",
                                              "--batch-size", "4", "--run-dir", str(run)])
    report = (run / "report.md").read_text()
    for needle in ("plain CAM", "SeeNet S_A", "SeeNet max(S_A, S_B)", "ignored", "upper bound",
                   "figures/pipeline.png"):
        assert needle in report
    assert (run / "figures" / "pipeline.png").stat().st_size > 1000
    assert results["ratio"] == pytest.approx(results["deeplab_proxy_miou"]
                                             / results["deeplab_gt_miou"])
    # the synthetic data knows its parts: the report says where each map's attention lies
    assert "Where the attention lies" in report
    profile = results["attention_profile"]
    assert list(profile) == ["plain CAM", "SeeNet S_A", "SeeNet S_B", "SeeNet max(S_A, S_B)"]
    for means in profile.values():
        assert list(means) == ["part", "body", "near background", "far background"]
        assert all(0.0 <= m <= 1.0 for m in means.values())
    # ... and what S_B finds with other erased zones
    assert "What S_B finds when other cells are erased" in report
    ablation = results["erasing_ablation"]
    assert set(ablation) == {"a", "b/learned", "b/parts", "b/none",
                             "max/learned", "max/parts", "max/none"}
    for zone in ("learned", "parts", "none"):
        assert ablation[f"max/{zone}"]["body"] >= ablation["a"]["body"] - 1e-9
    # the synthetic recipe pretrains one backbone on the image labels; every network starts there
    config = json.loads((run / "config.json").read_text())
    assert config["pretrain_train"]["iterations"] == 2
    assert config["pretrain_data"]["synthetic_part_prob"] == 0.5  # half the parts hidden
    assert config["data"]["synthetic_part_prob"] == 1.0  # every later stage sees them all
    assert (run / "pretrain" / "backbone.pt").exists()
    for name in ("seenet", "cam", "deeplab"):
        assert config[name]["weights_format"] == "backbone"
        assert config[name]["weights"] == str(run / "pretrain" / "backbone.pt")
    # --resume reuses every finished stage and gives the same numbers
    again = script("run_pipeline")["main"]([*TINY, "--pretrain-iterations", "2",
                                            "--classifier-iterations", "2",
                                            "--deeplab-iterations", "2", "--figures", "2",
                                            "--batch-size", "4", "--run-dir", str(run),
                                            "--resume"])
    assert again["deeplab_proxy_miou"] == results["deeplab_proxy_miou"]
    assert "train seenet" not in again["seconds"]
    assert "pretrain backbone" not in again["seconds"]


@pytest.mark.parametrize("name", ["train_seenet", "train_deeplab", "make_attention",
                                  "make_pseudo_labels", "evaluate", "run_pipeline"])
def test_help_mentions_voc_root(name, capsys):
    with pytest.raises(SystemExit):
        script(name)["parse"](["--help"])
    out = capsys.readouterr().out
    assert "--voc-root" in out and "--run-dir" in out
