"""The method comparison harness: every method end to end, adversarial erasing's steps on disk,
the leak measure, resume, and the ablation models."""

from __future__ import annotations

import dataclasses
import json
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch

import wsss.engine.compare as compare_module
from wsss.data.erasing import DEFAULT_FILL, erasing_mask
from wsss.engine import DataConfig, build_model, load_attention, load_dataset
from wsss.engine.compare import METHODS, CompareConfig, attention_folder, compare_methods
from wsss.engine.compare_results import GroundTruthRun, MeanSD, MethodRun
from wsss.engine.leak import AttentionLeak, AttentionLeakCounter
from wsss.engine.rundir import fill_missing_fields, to_jsonable
from wsss.engine.stages import attention_quality

TINY_DATA = DataConfig(synthetic_train=6, synthetic_val=4, image_size=48)
TINY = dict(data=TINY_DATA, seeds=(0,), iterations={"pretrain": 2, "classifier": 2, "deeplab": 2},
            batch_size=4, figures=2, ae_steps=3)


def quiet(message: str) -> None:
    pass


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """Every method, one seed, two iterations each; training datasets recorded."""
    root = tmp_path_factory.mktemp("compare") / "run"
    seen: list[tuple[Path, tuple]] = []
    original = compare_module.train_model

    def recording(cfg, dataset, train_cfg, run, **kwargs):
        seen.append((run.path, (cfg, dataset, train_cfg)))
        return original(cfg, dataset, train_cfg, run, **kwargs)

    compare_module.train_model = recording
    try:
        result = compare_methods(CompareConfig(**TINY), root, progress=False, log=quiet)
    finally:
        compare_module.train_model = original
    return root, result, dict(seen)


def test_every_method_writes_the_report_and_the_table(full_run):
    root, result, _ = full_run
    assert [r.method for r in result.runs] == list(METHODS)
    report = (root / "report.md").read_text()
    for name, method in METHODS.items():
        assert f"| {method.label} (`{name}`) |" in report, name
    for needle in ("attention mIoU (oracle)", "background / objects", "proxy-label mIoU",
                   "Adversarial erasing, step by step", "| 1-3 |", "figures/methods.png",
                   "figures/ae_steps.png", "## Every run"):
        assert needle in report, needle
    assert "DeepLab mIoU" not in report  # off by default
    for figure in ("methods.png", "ae_steps.png"):
        assert (root / "figures" / figure).stat().st_size > 1000
    saved = json.loads((root / "results.json").read_text())
    assert set(saved["summary"]) == set(METHODS)
    for run, record in zip(result.runs, saved["runs"]):
        assert record["attention_miou"] == pytest.approx(run.attention_miou)
        assert 0.0 <= run.attention_miou <= 1.0 and 0.0 <= run.proxy_miou <= 1.0
        assert run.deeplab_miou is None
        stored = json.loads((root / "seed_0" / run.method / "scores.json").read_text())
        assert MethodRun.from_dict(stored) == run
    assert len(result.summary["ae"].step_miou) == 3
    config = json.loads((root / "config.json").read_text())
    assert config["compare"]["methods"] == list(METHODS)
    assert config["methods"]["seenet_unshared"]["kwargs"] == {"share_weights": False}
    # one pretrained backbone, shared by every method
    assert (root / "pretrain" / "backbone.pt").exists()


def test_every_method_starts_from_the_same_backbone_and_schedule(full_run):
    root, _, seen = full_run
    classifiers = {path: cfgs for path, cfgs in seen.items() if path.name == "train"}
    assert len(classifiers) == len(METHODS) - 1 + 3  # AE trains three classifiers
    backbone = str(root / "pretrain" / "backbone.pt")
    schedules = set()
    for path, (cfg, _, train_cfg) in classifiers.items():
        assert (cfg.weights, cfg.weights_format, cfg.backbone) == (backbone, "backbone",
                                                                   "vgg16_tiny3"), path
        schedules.add(train_cfg)
        record = [json.loads(line) for line in (path / "metrics.jsonl").open()]
        assert record[-1]["iteration"] == 2, path
    assert len(schedules) == 1 and schedules.pop().seed == 0
    assert seen[root / "seed_0" / "seenet_unshared" / "train"][0].kwargs == {
        "init_std": None, "share_weights": False}


def test_ae_step_attention_is_the_max_of_the_steps_on_disk(full_run):
    root, _, _ = full_run
    ae = root / "seed_0" / "ae"
    names = [p.stem for p in sorted((ae / "step_1" / "attention").glob("*.npz"))]
    assert len(names) == TINY_DATA.synthetic_train
    assert attention_folder(root, "ae", 0, 3) == ae / "step_3" / "accumulated"
    for name in names:
        raw = [load_attention(ae / f"step_{j}" / "attention" / f"{name}.npz").fused
               for j in (1, 2, 3)]
        for j in (1, 2, 3):
            accumulated = load_attention(ae / f"step_{j}" / "accumulated" / f"{name}.npz").fused
            np.testing.assert_array_equal(accumulated, np.maximum.reduce(raw[:j]))
    # the steps differ, so the maximum is not trivially one of them
    assert any(not np.array_equal(
        load_attention(ae / "step_1" / "attention" / f"{n}.npz").fused,
        load_attention(ae / "step_2" / "attention" / f"{n}.npz").fused) for n in names)


def test_ae_step_2_trains_on_images_erased_where_step_1_attended(full_run):
    root, _, seen = full_run
    ae = root / "seed_0" / "ae"
    original = load_dataset(TINY_DATA, "train")
    step1 = seen[ae / "step_1" / "train"][1]
    step2 = seen[ae / "step_2" / "train"][1]
    erased_pixels = 0
    for i, sample in enumerate(original):
        np.testing.assert_array_equal(step1[i].image, sample.image)  # step 1: the images
        maps = load_attention(ae / "step_1" / "attention" / f"{sample.name}.npz").fused
        mask = np.zeros(maps.shape[1:], bool)
        for c in np.flatnonzero(sample.classes):  # by hand: any class of the image above 0.7
            mask |= maps[c] > 0.7
        np.testing.assert_array_equal(mask, erasing_mask(maps, sample.classes, 0.7))
        image = step2[i].image
        assert (image[mask] == np.array(DEFAULT_FILL, np.uint8)).all()
        np.testing.assert_array_equal(image[~mask], sample.image[~mask])
        np.testing.assert_array_equal(step2[i].label, sample.label)  # only pixels change
        erased_pixels += int(mask.sum())
    assert erased_pixels > 0


def test_resume_skips_finished_methods(full_run, tmp_path, monkeypatch):
    root, first, _ = full_run
    calls = []
    monkeypatch.setattr(compare_module, "train_model",
                        lambda *args, **kwargs: calls.append(args) or pytest.fail("trained"))
    stamps = {p: p.stat().st_mtime_ns for p in root.glob("seed_0/*/scores.json")}
    again = compare_methods(CompareConfig(**TINY), root, resume=True, progress=False, log=quiet)
    assert calls == [] and again.runs == first.runs
    assert stamps == {p: p.stat().st_mtime_ns for p in root.glob("seed_0/*/scores.json")}


def test_resume_runs_what_is_missing_and_refuses_other_settings(tmp_path):
    root = tmp_path / "run"
    config = CompareConfig(**{**TINY, "methods": ("cam",), "figures": 0})
    compare_methods(config, root, progress=False, log=quiet)
    with pytest.raises(ValueError, match="not empty"):
        compare_methods(config, root, progress=False, log=quiet)
    with pytest.raises(ValueError, match=r"compare\.ae_steps"):
        compare_methods(CompareConfig(**{**TINY, "methods": ("cam",), "ae_steps": 2}), root,
                        resume=True, progress=False, log=quiet)
    with pytest.raises(ValueError, match="recipe"):
        compare_methods(CompareConfig(**{**TINY, "methods": ("cam",),
                                         "iterations": {"pretrain": 2, "classifier": 3}}),
                        root, resume=True, progress=False, log=quiet)
    (root / "seed_0" / "cam" / "scores.json").unlink()  # interrupted after training
    model = root / "seed_0" / "cam" / "train" / "model.pt"
    stamp = model.stat().st_mtime_ns
    more = compare_methods(CompareConfig(**{**TINY, "methods": ("cam",), "seeds": (0, 1),
                                            "figures": 0}),
                           root, resume=True, progress=False, log=quiet)
    assert model.stat().st_mtime_ns == stamp  # loaded, not trained again
    assert [r.seed for r in more.runs] == [0, 1]
    assert more.summary["cam"].attention_miou.n == 2


def test_a_run_from_before_a_config_field_existed_resumes(tmp_path):
    # config.json without deeplab_class_weighting (compare) and class_weighting (the recipe's
    # DeepLab schedule), as written before the fields existed: the run used their defaults
    root = tmp_path / "run"
    config = CompareConfig(**{**TINY, "methods": ("cam",), "figures": 0})
    compare_methods(config, root, progress=False, log=quiet)
    stored = json.loads((root / "config.json").read_text())
    del stored["compare"]["deeplab_class_weighting"]
    del stored["recipe"]["deeplab_train"]["class_weighting"]
    (root / "config.json").write_text(json.dumps(stored))
    again = compare_methods(config, root, resume=True, progress=False, log=quiet)
    assert [r.seed for r in again.runs] == [0]
    (root / "config.json").write_text(json.dumps(stored))
    with pytest.raises(ValueError, match="recipe"):
        compare_methods(CompareConfig(**{**TINY, "methods": ("cam",), "figures": 0,
                                         "deeplab_class_weighting": "inverse"}),
                        root, resume=True, progress=False, log=quiet)


def test_fill_missing_fields_follows_the_config():
    record = {"compare": CompareConfig(**TINY), "recipe": CompareConfig(**TINY).resolved_recipe()}
    full = json.loads(json.dumps(to_jsonable(record)))
    stripped = json.loads(json.dumps(full))
    del stripped["recipe"]["deeplab_train"]["class_weighting"]
    del stripped["compare"]["deeplab_class_weighting"]
    stripped["extra"] = {"kept": 1}  # keys the config does not know are left alone
    assert fill_missing_fields(stripped, record) == {**full, "extra": {"kept": 1}}
    assert fill_missing_fields(full, record) == full


def test_deeplab_on_request(tmp_path):
    config = CompareConfig(**{**TINY, "methods": ("cam",), "deeplab": True, "figures": 0})
    result = compare_methods(config, tmp_path / "run", progress=False, log=quiet)
    assert 0.0 <= result.runs[0].deeplab_miou <= 1.0
    assert "DeepLab mIoU (val)" in (tmp_path / "run" / "report.md").read_text()


def test_ground_truth_deeplab_and_deeplab_on_the_first_seeds_only(tmp_path, monkeypatch):
    root = tmp_path / "run"
    trained = []
    original = compare_module.train_model

    def recording(cfg, dataset, train_cfg, run, **kwargs):
        trained.append((run.path.relative_to(root).as_posix(), kwargs.get("labels_from")))
        return original(cfg, dataset, train_cfg, run, **kwargs)

    monkeypatch.setattr(compare_module, "train_model", recording)
    config = CompareConfig(**{**TINY, "methods": ("cam", "seenet"), "seeds": (0, 1),
                              "deeplab": True, "deeplab_seeds": 1, "ground_truth": True,
                              "figures": 0})
    result = compare_methods(config, root, progress=False, log=quiet)
    deeplabs = {path: labels for path, labels in trained if path.endswith("deeplab")}
    assert deeplabs == {"seed_0/cam/deeplab": root / "seed_0/cam/proxy_labels",
                        "seed_0/seenet/deeplab": root / "seed_0/seenet/proxy_labels",
                        "seed_0/ground_truth/deeplab": None}  # None: the ground-truth masks
    assert [(r.method, r.seed, r.deeplab_miou is not None) for r in result.runs] == [
        ("cam", 0, True), ("seenet", 0, True), ("cam", 1, False), ("seenet", 1, False)]
    # S_A alone: SeeNet's branch a, scored on its own; none for the one-branch CAM
    train_set = load_dataset(TINY_DATA, "train")
    for run in result.runs:
        folder = attention_folder(root, run.method, run.seed, config.ae_steps)
        if run.method == "seenet":
            assert run.branch_a_miou == attention_quality(train_set, folder, "a").best_miou
        else:
            assert run.branch_a_miou is None
    assert result.summary["seenet"].branch_a_miou.n == 2
    assert result.summary["cam"].deeplab_miou.n == 1  # the seed that trained one
    (truth,) = result.ground_truth
    assert truth.seed == 0 and 0.0 <= truth.miou <= 1.0
    assert len(truth.class_iou) == len(result.class_names) + 1
    present = [v for v in truth.class_iou[1:] if v is not None]
    assert truth.min_class_iou == min(present)
    stored = json.loads((root / "seed_0" / "ground_truth" / "scores.json").read_text())
    assert GroundTruthRun.from_dict(stored) == truth
    assert json.loads((root / "results.json").read_text())["ground_truth"] == [truth.to_dict()]
    report = (root / "report.md").read_text()
    assert "## DeepLab on the ground truth" in report and "| S_A alone |" in report
    assert "(n = 1)" in report
    seenet_0 = next(r for r in result.runs if (r.method, r.seed) == ("seenet", 0))
    if truth.miou > 0:
        ratio = MeanSD.of([seenet_0.deeplab_miou / truth.miou]).format()
        assert f"| SeeNet (`seenet`) | {ratio} |" in report

    # extend the run: the ground truth's DeepLab is kept, not trained again
    trained.clear()
    more = compare_methods(dataclasses.replace(config, methods=()), root, resume=True,
                           progress=False, log=quiet)
    assert trained == [] and more.ground_truth == result.ground_truth and more.runs == ()


def test_leak_against_hand_computed_values():
    counter = AttentionLeakCounter()
    # image 1: classes 0 and 2 of 3; label 0 background, 1 and 3 objects, 255 ignored
    maps = np.zeros((3, 2, 3), np.float32)
    maps[0] = [[0.5, 0.0, 0.25], [1.0, 0.5, 0.0]]
    maps[1] = 1.0  # not in the image: never read
    maps[2] = [[0.0, 0.75, 0.5], [0.0, 0.0, 0.125]]
    label = np.array([[0, 1, 3], [255, 0, 0]], np.uint8)
    counter.update(maps, np.array([1, 0, 1]), label)
    # peak = [[0.5, 0.75, 0.5], [1.0, 0.5, 0.125]]; objects: 0.75, 0.5; background: 0.5, 0.5,
    # 0.125 (the ignored 1.0 counts nowhere)
    # image 2: no class at all, two background pixels, one object pixel: zero attention
    counter.update(np.ones((3, 1, 3), np.float32), np.zeros(3), np.array([[0, 2, 0]], np.uint8))
    leak = counter.compute()
    assert (leak.object_pixels, leak.background_pixels) == (3, 5)
    assert leak.on_object == pytest.approx((0.75 + 0.5 + 0.0) / 3)
    assert leak.on_background == pytest.approx((0.5 + 0.5 + 0.125 + 0 + 0) / 5)
    assert leak.ratio == pytest.approx((1.125 / 5) / (1.25 / 3))


def test_leak_refuses_bad_input():
    counter = AttentionLeakCounter()
    maps = np.zeros((2, 1, 2), np.float32)
    with pytest.raises(ValueError, match="label"):
        counter.update(maps, np.array([1, 0]), np.array([[0, 3]], np.uint8))  # class 3 of 2
    with pytest.raises(ValueError, match="label"):
        counter.update(maps, np.array([1, 0]), np.zeros((2, 2), np.uint8))
    with pytest.raises(ValueError, match="classes"):
        counter.update(maps, np.array([1, 0, 0]), np.zeros((1, 2), np.uint8))
    with pytest.raises(ValueError, match="maps"):
        counter.update(np.full((2, 1, 2), np.nan, np.float32), np.array([1, 0]),
                       np.zeros((1, 2), np.uint8))
    with pytest.raises(ValueError, match="maps"):
        counter.update(np.zeros((1, 2)), np.array([1]), np.zeros((1, 2), np.uint8))
    counter.update(maps, np.array([1, 0]), np.zeros((1, 2), np.uint8))
    with pytest.raises(ValueError, match="no ground-truth object pixels"):
        counter.compute()
    assert np.isnan(AttentionLeak(0.0, 0.5, 1, 1).ratio)


def test_mean_sd_against_numpy():
    values = [0.31, 0.35, 0.42]
    stat = MeanSD.of(values)
    assert stat.mean == pytest.approx(np.mean(values))
    assert stat.sd == pytest.approx(np.std(values, ddof=1))
    assert stat.format() == f"{np.mean(values) * 100:.1f} ± {np.std(values, ddof=1) * 100:.1f}"
    with pytest.raises(ValueError, match="values"):
        MeanSD.of([])


def test_ablation_models_really_differ():
    config = CompareConfig(data=TINY_DATA, seeds=(0,))
    harness_cfg = config.resolved_recipe().classifier
    models = {}
    for name in ("seenet", "seenet_no_sc", "seenet_no_reversal", "seenet_unshared", "acol"):
        method = METHODS[name]
        cfg = harness_cfg.model(method.model)
        cfg = dataclasses.replace(cfg, kwargs={**cfg.kwargs, **method.kwargs})
        torch.manual_seed(0)
        models[name] = build_model(cfg, 20).eval()
    heads = {k: m.head for k, m in models.items()}
    assert heads["seenet_no_sc"].branch_c is None
    assert heads["seenet"].branch_c is heads["seenet"].branch_b
    assert heads["seenet_unshared"].branch_c is not heads["seenet_unshared"].branch_b
    params = {k: sum(p.numel() for p in m.parameters()) for k, m in models.items()}
    branch = sum(p.numel() for p in heads["seenet"].branch_b.parameters())
    assert params["seenet_unshared"] == params["seenet"] + branch
    assert params["seenet_no_sc"] == params["seenet"]  # S_C shares S_B's weights: none of its own
    assert heads["seenet_no_reversal"].reverse_background is False
    # the same weights, a different forward: the background zone is passed, not reversed
    images = torch.rand(2, 3, 48, 48)
    labels = torch.tensor([[1.0] + [0.0] * 19, [0.0, 1.0] + [0.0] * 18])
    models["seenet_no_reversal"].load_state_dict(models["seenet"].state_dict())
    with torch.no_grad():
        plain = models["seenet"](images, labels)
        ablated = models["seenet_no_reversal"](images, labels)
        no_sc = models["seenet_no_sc"](images, labels)
    assert torch.equal(plain.logits_a, ablated.logits_a)
    assert bool((plain.mask == -1).any())  # a background zone exists to reverse
    assert not torch.allclose(plain.logits_b, ablated.logits_b)
    assert no_sc.logits_c is None and plain.logits_c is not None


def test_config_refuses_bad_values():
    for bad, match in (({"methods": ()}, "methods"), ({"methods": ("cam", "cam")}, "methods"),
                       ({"methods": ("gradcam",)}, "unknown method"), ({"seeds": ()}, "seeds"),
                       ({"seeds": (0, 0)}, "seeds"), ({"ae_steps": 0}, "ae_steps"),
                       ({"ae_threshold": 1.0}, "ae_threshold"), ({"figures": -1}, "figures"),
                       ({"iterations": {"seenet": 3}}, "iterations"),
                       ({"deeplab_seeds": 0}, "deeplab_seeds"),
                       ({"seeds": (0, 1), "deeplab_seeds": 3}, "deeplab_seeds")):
        with pytest.raises(ValueError, match=match):
            CompareConfig(**bad)


def test_example_runs_with_tiny_flags(tmp_path):
    example = runpy.run_path(str(Path(__file__).resolve().parents[1] / "examples" /
                                 "compare_methods.py"), run_name="not_main")
    run = tmp_path / "run"
    result = example["main"](["--synthetic-train", "4", "--synthetic-val", "2", "--image-size",
                              "48", "--no-progress", "--threads", "1", "--seeds", "1",
                              "--methods", "cam", "ae", "--ae-steps", "2",
                              "--pretrain-iterations", "2", "--classifier-iterations", "2",
                              "--batch-size", "4", "--figures", "1", "--run-dir", str(run)])
    assert [(r.method, r.seed) for r in result.runs] == [("cam", 0), ("ae", 0)]
    assert len(result.summary["ae"].step_miou) == 2
    assert (run / "report.md").exists()
    with pytest.raises(SystemExit):
        example["parse"](["--methods", "gradcam"])
    with pytest.raises(SystemExit, match="seeds"):
        example["main"](["--seeds", "0", "--run-dir", str(tmp_path / "none")])
