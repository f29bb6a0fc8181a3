"""The pipeline's stage functions: pretraining, model building from weight files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from wsss.data.transforms import to_tensor
from wsss.engine.rundir import RunDir
from wsss.engine.stages import (
    ERASING_ZONES,
    PRESETS,
    DataConfig,
    ModelConfig,
    _part_cells,
    build_model,
    erasing_ablation,
    load_dataset,
    part_reach,
    pretrain_backbone,
)
from wsss.engine.trainer import TrainConfig

DATA = DataConfig(synthetic_train=4, synthetic_val=2, image_size=48)
TWO_STEPS = TrainConfig(iterations=2, batch_size=2)


def test_pretrained_backbone_initialises_every_network(tmp_path):
    classifier = ModelConfig("cam_classifier", backbone="vgg16_tiny")
    path = pretrain_backbone(classifier, DATA, TWO_STEPS, RunDir(tmp_path), progress=False)
    assert path == tmp_path / "backbone.pt"
    saved = torch.load(path, weights_only=True)
    assert saved.keys() == build_model(classifier).backbone.state_dict().keys()
    for name in ("seenet", "cam_classifier", "deeplab_largefov"):
        config = ModelConfig(name, "vgg16_tiny", weights=str(path), weights_format="backbone")
        model = build_model(config)
        for key, value in saved.items():
            assert torch.equal(model.backbone.state_dict()[key], value), (name, key)
    # the synthetic recipe's classifiers take the first three blocks of the same file
    shallow = build_model(ModelConfig("seenet", "vgg16_tiny3", weights=str(path),
                                      weights_format="backbone")).backbone.state_dict()
    assert shallow.keys() < saved.keys()
    assert all(torch.equal(value, saved[key]) for key, value in shallow.items())
    # a finished pretraining is not repeated: the file stays as it is
    stamp = path.stat().st_mtime_ns
    assert pretrain_backbone(classifier, DATA, TWO_STEPS, RunDir(tmp_path), progress=False) == path
    assert path.stat().st_mtime_ns == stamp


def test_pretraining_is_the_synthetic_recipe_only():
    assert PRESETS["voc"]["pretrain"] is None
    synthetic = PRESETS["synthetic"]
    backbones = {role: synthetic[role]["backbone"]
                 for role in ("pretrain", "classifier", "deeplab")}
    # one pretrained file initialises them all: the classifiers take its first three blocks
    assert backbones == {"pretrain": "vgg16_tiny", "classifier": "vgg16_tiny3",
                         "deeplab": "vgg16_tiny"}
    assert PRESETS["voc"]["pretrain_part_prob"] is None
    assert synthetic["pretrain_part_prob"] == 0.5
    # fine-tuning: the pretrained backbone at a tenth of the heads' learning rate
    multipliers = synthetic["classifier_train"].multipliers
    assert multipliers.of("backbone", "weight") == multipliers.of("backbone", "bias") == 0.1
    assert {multipliers.of(role, kind) for role in ("new", "classifier")
            for kind in ("weight", "bias")} == {1.0}


def test_load_dataset_passes_the_part_probability():
    data = DataConfig(synthetic_train=6, image_size=48)
    full = load_dataset(data, "train")
    none = load_dataset(dataclasses.replace(data, synthetic_part_prob=0.0), "train")
    assert none.part_prob == 0.0 and full.part_prob == 1.0
    for a, b in zip(full, none):
        np.testing.assert_array_equal(a.label, b.label)  # the same scenes, without their parts
    assert any((a.image != b.image).any() for a, b in zip(full, none))


def test_stage_argument_errors(tmp_path):
    with pytest.raises(ValueError, match=r"model_config\.name"):
        pretrain_backbone(ModelConfig("deeplab_largefov", "vgg16_tiny"), DATA, TWO_STEPS,
                          RunDir(tmp_path), progress=False)
    with pytest.raises(ValueError, match="weights_format"):
        build_model(ModelConfig("seenet", "vgg16_tiny", weights="x.pt", weights_format="onnx"))
    tiny = build_model(ModelConfig("seenet", "vgg16_tiny")).backbone.state_dict()
    torch.save(tiny, tmp_path / "tiny.pt")
    with pytest.raises(ValueError, match=r"missing.*conv5_1"):  # the file has no conv5
        build_model(ModelConfig("deeplab_largefov", "vgg16_narrow_bn",
                                weights=str(tmp_path / "tiny.pt"), weights_format="backbone"))


def test_part_cells_erase_the_cells_the_part_covers_enough():
    parts = torch.zeros(4, 4, dtype=torch.bool)
    parts[:2, :2] = True  # the whole top-left cell of a 2x2 grid
    parts[3, 3] = True  # a quarter of the bottom-right cell
    cells = _part_cells(parts, torch.Size([2, 2]), 0.25)
    assert cells.tolist() == [[True, False], [False, True]]
    assert _part_cells(parts, torch.Size([2, 2]), 0.3).tolist() == [[True, False], [False, False]]


def _scored(curve_maps):
    from wsss.metrics import CAMThresholdCurve

    curve = CAMThresholdCurve()
    for maps, sample in curve_maps:
        curve.update(maps, sample.classes, sample.label)
    return curve.compute()


def test_erasing_ablation_learned_zone_is_the_models_own_attention():
    from wsss.cam import CAMExtractor
    from wsss.data.transforms import to_tensor

    torch.manual_seed(0)
    config = ModelConfig("seenet", backbone="resnet_tiny")
    model = build_model(config)
    data = DataConfig(synthetic_train=3, image_size=48)
    scores = erasing_ablation(model, config, data, progress=False)
    assert sorted(scores) == sorted(
        ["a", *(f"{kind}/{zone}" for kind in ("b", "max") for zone in ERASING_ZONES)]
    )
    extractor = CAMExtractor(model)  # one scale, no flip, S_A's own mask
    samples = list(load_dataset(data, "train"))
    att = [
        extractor(to_tensor(s.image, config.normalizer)[None], torch.from_numpy(s.classes)[None])
        for s in samples
    ]
    for name, maps in (("a", [a.branches["a"] for a in att]),
                       ("b/learned", [a.branches["b"] for a in att]),
                       ("max/learned", [a.fused for a in att])):
        expected = _scored((m[0].numpy(), s) for m, s in zip(maps, samples))
        np.testing.assert_allclose(scores[name].curve.miou, expected.miou, atol=1e-12)
    # erasing other cells changes S_B, and the max is taken with S_A
    assert not np.allclose(scores["b/parts"].profile.sums, scores["b/learned"].profile.sums)
    for zone in ERASING_ZONES:
        assert (scores[f"max/{zone}"].profile.means >= scores["a"].profile.means - 1e-9).all()


def test_erasing_ablation_without_parts_erases_nothing():
    torch.manual_seed(0)
    config = ModelConfig("seenet", backbone="resnet_tiny")
    data = DataConfig(synthetic_train=3, image_size=48, synthetic_part_prob=0.0)
    scores = erasing_ablation(build_model(config), config, data, progress=False)
    np.testing.assert_array_equal(scores["b/parts"].curve.miou, scores["b/none"].curve.miou)
    np.testing.assert_array_equal(scores["b/parts"].profile.sums, scores["b/none"].profile.sums)


def test_erasing_ablation_argument_errors():
    config = ModelConfig("seenet", backbone="resnet_tiny")
    model = build_model(config)
    with pytest.raises(TypeError, match="model: expected a SeeNet"):
        erasing_ablation(build_model(ModelConfig("cam_classifier", "resnet_tiny")), config, DATA)
    with pytest.raises(ValueError, match=r"data: .*synthetic"):
        erasing_ablation(model, config, DataConfig(voc_root="/nonexistent"))
    for bad in (0.0, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match="part_cover"):
            erasing_ablation(model, config, DATA, part_cover=bad)


class _PixelMaps(torch.nn.Module):
    """A model with no receptive field beyond one pixel: class c's map is ``(c + 1) * r + g``."""

    def __init__(self) -> None:
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(()))

    def class_maps(self, images, labels=None):
        scale = torch.arange(1, 21, dtype=images.dtype).view(1, 20, 1, 1)
        return {"cam": images[:, :1] * scale + images[:, 1:2]}


def _distance_to(mask):
    """Euclidean distance of every pixel to the nearest ``True`` pixel, by brute force."""
    h, w = mask.shape
    grid = np.stack(np.meshgrid(np.arange(h), np.arange(w), indexing="ij"), -1).reshape(-1, 2)
    points = np.argwhere(mask)
    return np.sqrt(((grid[:, None] - points[None]) ** 2).sum(-1)).min(1).reshape(h, w)


def _reach_reference(data, config, bins, radius):
    """Brute-force float64 :func:`part_reach` of :class:`_PixelMaps` (direct distances)."""
    shown = load_dataset(data, "train")
    hidden = load_dataset(dataclasses.replace(data, synthetic_part_prob=0.0), "train")
    sums, counts = np.zeros((2, 2, len(bins))), np.zeros((2, len(bins)))
    part_sum, part_count = np.zeros(2), 0
    for i in range(len(shown)):
        scene = shown.scene(i)
        images = [to_tensor(d[i].image, config.normalizer).double().numpy()
                  for d in (shown, hidden)]
        for k, obj in enumerate(scene.objects):
            part = scene.parts == k + 1
            if not part.any():
                continue
            instance = scene.instances == k + 1
            d = _distance_to(part)
            ring = (_distance_to(instance) <= radius) & ~scene.foreground
            for region, mask in enumerate((instance & ~part, ring)):
                for b, low in enumerate(bins):
                    high = bins[b + 1] if b + 1 < len(bins) else np.inf
                    sel = mask & (d >= low) & (d < high)
                    counts[region, b] += sel.sum()
                    for row, image in enumerate(images):
                        value = (obj.class_index + 1) * image[0] + image[1]
                        sums[row, region, b] += value[sel].sum()
            for row, image in enumerate(images):
                part_sum[row] += ((obj.class_index + 1) * image[0] + image[1])[part].sum()
            part_count += part.sum()
    return sums / counts[None], counts, part_sum / part_count


def test_part_reach_matches_a_brute_force_reference():
    data = DataConfig(synthetic_train=3, image_size=40)
    config = ModelConfig("cam_classifier", backbone="resnet_tiny")
    bins = (0.0, 4.0, 10.0)
    reach = part_reach(_PixelMaps(), config, data, bins=bins, radius=3, progress=False)
    means, counts, part = _reach_reference(data, config, bins, radius=3)
    assert counts.min() > 0
    np.testing.assert_array_equal(reach.pixels, counts)
    np.testing.assert_allclose(reach.body, means[:, 0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(reach.background, means[:, 1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(reach.part, part, rtol=1e-5)
    # A one-pixel model cannot see the part from anywhere else: hiding it changes only the part.
    body_lift, background_lift = reach.lift()
    np.testing.assert_allclose(body_lift, 0.0, atol=1e-5)
    np.testing.assert_allclose(background_lift, 0.0, atol=1e-5)
    assert reach.part[0] != pytest.approx(reach.part[1])


def test_part_reach_sees_a_wide_model_reach_from_the_part():
    class Blurred(_PixelMaps):  # the same maps averaged over 9 x 9 pixels
        def class_maps(self, images, labels=None):
            maps = super().class_maps(images)["cam"]
            return {"cam": torch.nn.functional.avg_pool2d(maps, 9, 1, 4, count_include_pad=False)}

    data = DataConfig(synthetic_train=3, image_size=40)
    config = ModelConfig("cam_classifier", backbone="resnet_tiny")
    reach = part_reach(Blurred(), config, data, bins=(0.0, 3.0, 6.0), progress=False)
    body_lift, _ = reach.lift()
    assert abs(body_lift[0]) > 1e-3  # next to the part the blur mixes the part in
    np.testing.assert_allclose(body_lift[2], 0.0, atol=1e-5)  # 6+ px away it cannot


def test_part_reach_argument_errors():
    config = ModelConfig("cam_classifier", backbone="resnet_tiny")
    model = _PixelMaps()
    with pytest.raises(ValueError, match=r"data: .*synthetic"):
        part_reach(model, config, DataConfig(voc_root="/nonexistent"))
    for bad in ((), (1.0, 2.0), (0.0, 5.0, 5.0)):
        with pytest.raises(ValueError, match="bins"):
            part_reach(model, config, DATA, bins=bad)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="radius"):
            part_reach(model, config, DATA, radius=bad)
    with pytest.raises(ValueError, match=r"branch: .*\['cam'\], got 'b'"):
        part_reach(model, config, DATA, branch="b", progress=False)
