"""benchmarks/synthetic_presets.py: the table over presets, from hand-written results.json files,
and one tiny sweep end to end."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from wsss.diagnostics import attention_profiles
from wsss.engine import DataConfig, load_dataset
from wsss.engine.compare import CompareConfig

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "synthetic_presets.py"


@pytest.fixture(scope="module")
def sweep():
    spec = importlib.util.spec_from_file_location("synthetic_presets", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run(method, seed, miou, *, on_object, on_background, proxy, deeplab=None, branch_a=None):
    return {"method": method, "seed": seed, "attention_miou": miou, "attention_threshold": 0.3,
            "leak": {"on_object": on_object, "on_background": on_background,
                     "object_pixels": 10, "background_pixels": 30},
            "proxy_miou": proxy, "proxy_ignored": 0.05, "deeplab_miou": deeplab,
            "step_miou": [], "seconds": 1.0, "branch_a_miou": branch_a}


def test_table_from_hand_written_results(sweep, tmp_path):
    results = {
        "class_names": ["cat", "dog"],
        "runs": [
            run("cam", 0, 0.40, on_object=0.50, on_background=0.10, proxy=0.70, deeplab=0.60),
            run("seenet", 0, 0.46, on_object=0.60, on_background=0.14, proxy=0.74, deeplab=0.66,
                branch_a=0.42),
            run("cam", 1, 0.44, on_object=0.52, on_background=0.12, proxy=0.72),
            run("seenet", 1, 0.43, on_object=0.62, on_background=0.16, proxy=0.76, branch_a=0.41),
        ],
        "ground_truth": [{"seed": 0, "miou": 0.80, "class_iou": [0.95, 0.70, 0.75],
                          "min_class_iou": 0.70, "seconds": 1.0}],
    }
    (tmp_path / "texture").mkdir()
    (tmp_path / "texture" / "results.json").write_text(json.dumps(results))
    profile = {"part": 0.8, "body": 0.5, "near background": 0.3, "far background": 0.1}
    profiles = {"cam/0": profile, "cam/1": {**profile, "body": 0.3},
                "seenet/0": {**profile, "body": 0.7}, "seenet/1": {**profile, "body": 0.6}}
    (tmp_path / "texture" / "profiles.json").write_text(json.dumps(profiles))
    sweep.write_table(tmp_path, ["texture", "hard"])  # "hard" has not run: no row
    table = (tmp_path / "presets.md").read_text()
    # margins seed by seed: +6 and -1 points -> mean 2.5, sd sqrt(24.5) = 4.9497
    assert ("| `texture` | 0,1 | 42.0 ± 2.8 | 41.5 ± 0.7 | 44.5 ± 2.1 | +2.5 ± 4.9 | 75.0 ± 1.4 "
            "| 66.0 (n = 1) | 60.0 (n = 1) | 80.0 (n = 1) | 70.0 |") in table
    assert "| `texture` | 51.0 ± 1.4 | 11.0 ± 1.4 | 61.0 ± 1.4 | 15.0 ± 1.4 |" in table
    assert "hard" not in table
    # bodies: CAM 0.5, 0.3 -> 40.0 +- 14.1; SeeNet 0.7, 0.6 -> 65.0 +- 7.1
    assert ("| `texture` | 80.0 ± 0.0 / 80.0 ± 0.0 | 40.0 ± 14.1 / 65.0 ± 7.1 | "
            "30.0 ± 0.0 / 30.0 ± 0.0 | 10.0 ± 0.0 / 10.0 ± 0.0 |") in table
    record = json.loads((tmp_path / "presets.json").read_text())
    assert record[0]["margin"]["mean"] == pytest.approx(0.025)
    assert record[0]["gt_classes"] == [0.95, 0.70, 0.75]


def test_tiny_sweep_end_to_end(sweep, tmp_path, monkeypatch):
    real = CompareConfig

    def small(**kwargs):  # the real sweep at a test's size: tiny data, two steps per training
        data = kwargs["data"]
        assert (data.synthetic_preset, data.synthetic_train, data.synthetic_val) == ("shape", 6, 4)
        kwargs["data"] = dataclasses.replace(data, image_size=48)
        assert kwargs.pop("iterations") == {"deeplab": 3}  # the flag reaches the harness
        return real(**kwargs, iterations={"pretrain": 2, "classifier": 2, "deeplab": 3},
                    batch_size=4)

    monkeypatch.setattr(sweep, "CompareConfig", small)
    root = tmp_path / "presets"
    sweep.main(["--run-root", str(root), "--presets", "shape", "--methods", "cam", "seenet",
                "--seeds", "2", "--deeplab", "--deeplab-seeds", "1", "--ground-truth",
                "--deeplab-iterations", "3", "--figures", "0", "--train-images", "6",
                "--val-images", "4"])
    saved = json.loads((root / "shape" / "results.json").read_text())
    assert [(r["method"], r["seed"]) for r in saved["runs"]] == [
        ("cam", 0), ("seenet", 0), ("cam", 1), ("seenet", 1)]
    assert [r["seed"] for r in saved["ground_truth"]] == [0]
    steps = (root / "shape" / "seed_0" / "ground_truth" / "deeplab" / "metrics.jsonl").read_text()
    assert json.loads(steps.splitlines()[-1])["iteration"] == 3
    assert json.loads((root / "shape" / "config.json").read_text())["dataset"]["arguments"][
        "preset"] == "shape"
    assert "| `shape` | 0,1 |" in (root / "presets.md").read_text()
    profiles = json.loads((root / "shape" / "profiles.json").read_text())
    assert sorted(profiles) == ["cam/0", "cam/1", "seenet/0", "seenet/1"]
    assert all(0.0 <= v <= 1.0 for p in profiles.values() for v in p.values())
    assert set(profiles["cam/0"]) == {"part", "body", "near background", "far background"}
    data = DataConfig(synthetic_preset="shape", synthetic_train=6, synthetic_val=4, image_size=48)
    again = attention_profiles(load_dataset(data, "train"),
                               {"x": (root / "shape" / "seed_1" / "seenet" / "attention", None)})
    assert profiles["seenet/1"] == pytest.approx(again["x"].as_dict(), abs=1e-12)


def test_image_counts_default_to_the_data_config(sweep):
    args = sweep.parse([])
    assert (args.train_images, args.val_images) == (1000, 200)
    assert sweep.parse(["--train-images", "2000"]).train_images == 2000
