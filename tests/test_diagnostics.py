"""Tests of the diagnostics' counters: hand-computed counts and float64 references."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from wsss.data.transforms import to_tensor
from wsss.diagnostics import ERASING_ZONES, erasing_ablation, part_reach
from wsss.diagnostics.ablation import _part_cells
from wsss.engine import DataConfig, ModelConfig, build_model, load_dataset

DATA = DataConfig(synthetic_train=4, synthetic_val=2, image_size=48)
TRAIN = load_dataset(DATA, "train")

# ------------------------------------------------------------------ ternary-mask zone shares


def _zone_counts_reference(attention, classes, target, delta_h, delta_l):
    """Pixel by pixel, in float64."""
    counts = np.zeros((2, 3), dtype=np.int64)
    present = [c for c in range(attention.shape[0]) if classes[c]]
    for i in range(target.shape[0]):
        for j in range(target.shape[1]):
            peak = max((float(attention[c, i, j]) for c in present), default=0.0)
            zone = 0 if peak > delta_h else (2 if peak < delta_l else 1)
            if target[i, j] == 0:
                counts[1, zone] += 1
            elif target[i, j] != 255:
                counts[0, zone] += 1
    return counts


def test_zone_counter_hand_computed():
    from wsss.diagnostics import TernaryZoneCounter

    counter = TernaryZoneCounter(delta_h=0.7, delta_l=0.05)
    attention = np.zeros((3, 2, 3), np.float32)
    attention[0] = [[0.8, 0.6, 0.0], [0.04, 0.05, 0.7]]  # class 0, in the image
    attention[2] = [[0.0, 0.9, 0.0], [0.0, 0.0, 0.0]]  # class 2, absent: never used
    target = np.array([[1, 1, 0], [255, 0, 1]])
    counter.update(attention, np.array([1, 0, 0]), target)
    # objects: 0.8 -> attention, 0.6 -> potential, 0.7 -> potential (not > 0.7)
    # background: 0.0 -> background, 0.05 -> potential (not < 0.05); 255 is not counted
    shares = counter.compute()
    assert shares.counts.tolist() == [[1, 2, 0], [0, 1, 1]]
    np.testing.assert_allclose(shares.object_share, [1.0, 2 / 3, 0.0])
    # an image without classes puts everything in the background zone
    counter.update(attention, np.array([0, 0, 0]), target)
    assert counter.compute().counts.tolist() == [[1, 2, 3], [0, 1, 3]]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(0.1, 0.9), st.floats(0.0, 0.09))
def test_zone_counter_matches_reference(seed, delta_h, delta_l):
    from wsss.diagnostics import TernaryZoneCounter

    rng = np.random.default_rng(seed)
    attention = rng.random((4, 5, 6)).astype(np.float32)
    classes = rng.integers(0, 2, 4)
    target = rng.choice([0, 1, 3, 255], size=(5, 6))
    counter = TernaryZoneCounter(delta_h, delta_l)
    counter.update(attention, classes, target)
    expected = _zone_counts_reference(attention, classes, target, delta_h, delta_l)
    assert counter.compute().counts.tolist() == expected.tolist()
    any_object = bool(((target > 0) & (target != 255)).any())
    assert counter.compute().object_in_zones.sum() == pytest.approx(float(any_object))


def test_zone_counter_bad_inputs():
    from wsss.diagnostics import TernaryZoneCounter

    with pytest.raises(ValueError, match="delta_l"):
        TernaryZoneCounter(delta_h=0.05, delta_l=0.7)
    counter = TernaryZoneCounter()
    with pytest.raises(ValueError, match="attention"):
        counter.update(np.full((1, 2, 2), np.nan), np.array([1]), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match="classes"):
        counter.update(np.zeros((2, 2, 2)), np.array([1]), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match="target"):
        counter.update(np.zeros((1, 2, 2)), np.array([1]), np.zeros((3, 2), int))


# ------------------------------------------------------------------ attention profile


def _profile_reference(attention, classes, target, parts, radius):
    """Pixel by pixel, chessboard distances by brute force, float64 sums."""
    h, w = target.shape
    labelled = [(i, j) for i in range(h) for j in range(w) if target[i, j] not in (0, 255)]
    sums, counts = np.zeros(4), np.zeros(4, dtype=np.int64)

    def near(i, j, cells):
        return any(max(abs(i - a), abs(j - b)) <= radius for a, b in cells)

    for c in range(attention.shape[0]):
        if not classes[c]:
            continue
        own = [(i, j) for i in range(h) for j in range(w) if target[i, j] == c + 1]
        for i in range(h):
            for j in range(w):
                t, v = target[i, j], float(attention[c, i, j])
                if t == c + 1:
                    k = 0 if parts[i, j] else 1
                elif t == 0 and near(i, j, own):
                    k = 2
                elif t == 0 and not near(i, j, labelled):
                    k = 3
                else:
                    continue
                sums[k] += v
                counts[k] += 1
    return sums, counts


def test_attention_profile_hand_computed():
    from wsss.diagnostics import PROFILE_REGIONS, AttentionProfileCounter

    attention = np.zeros((2, 3, 5), np.float32)
    attention[0] = [[0.9, 0.5, 0.1, 0.0, 0.0],
                    [0.7, 0.3, 0.2, 0.0, 0.0],
                    [0.1, 0.1, 0.1, 0.0, 0.6]]
    attention[1] = 0.25  # class 1 is absent from the image: never read
    target = np.array([[1, 1, 0, 0, 0],
                       [1, 1, 0, 0, 0],
                       [255, 0, 0, 0, 0]])
    parts = np.zeros((3, 5), bool)
    parts[0, 0] = True
    counter = AttentionProfileCounter(radius=1)
    counter.update(attention, np.array([1, 0]), target, parts)
    profile = counter.compute()
    # part (0,0) 0.9; body 0.5 0.7 0.3; near (within 1 of the object, background):
    # (0,2) 0.1, (1,2) 0.2, (2,1) 0.1, (2,2) 0.1; far (farther than 1 from every object pixel):
    # (0,3) (0,4) (1,3) (1,4) (2,3) 0.0 and (2,4) 0.6; the 255 pixel is in no region
    assert profile.counts.tolist() == [1, 3, 4, 6]
    np.testing.assert_allclose(profile.means, [0.9, 0.5, 0.125, 0.1], atol=1e-7)
    assert list(profile.as_dict()) == list(PROFILE_REGIONS)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1), st.integers(1, 3))
def test_attention_profile_matches_reference(seed, radius):
    from wsss.diagnostics import AttentionProfileCounter

    rng = np.random.default_rng(seed)
    attention = rng.random((3, 7, 8)).astype(np.float32)
    classes = rng.integers(0, 2, 3)
    target = rng.choice([0, 0, 0, 1, 3, 255], size=(7, 8))
    parts = rng.random((7, 8)) < 0.3
    counter = AttentionProfileCounter(radius=radius)
    counter.update(attention, classes, target, parts)
    sums, counts = _profile_reference(attention, classes, target, parts, radius)
    profile = counter.compute()
    assert profile.counts.tolist() == counts.tolist()
    np.testing.assert_allclose(profile.sums, sums, rtol=1e-6)


def test_attention_profile_bad_inputs():
    from wsss.diagnostics import AttentionProfileCounter

    with pytest.raises(ValueError, match="radius"):
        AttentionProfileCounter(radius=0)
    counter = AttentionProfileCounter()
    ok = (np.zeros((1, 2, 2), np.float32), np.array([1]), np.zeros((2, 2), int))
    with pytest.raises(ValueError, match="parts"):
        counter.update(*ok, np.zeros((3, 2), bool))
    with pytest.raises(ValueError, match="parts"):
        counter.update(*ok, np.full((2, 2), 2))
    with pytest.raises(ValueError, match="attention"):
        counter.update(np.full((1, 2, 2), 1.5), *ok[1:], np.zeros((2, 2), bool))
    assert np.isnan(counter.compute().means).all()  # nothing was added


# ------------------------------------------------------------------ erasing ablation, part reach


def test_part_cells_erase_the_cells_the_part_covers_enough():
    parts = torch.zeros(4, 4, dtype=torch.bool)
    parts[:2, :2] = True  # the whole top-left cell of a 2x2 grid
    parts[3, 3] = True  # a quarter of the bottom-right cell
    cells = _part_cells(parts, (2, 2), 0.25)
    assert cells.tolist() == [[True, False], [False, True]]
    assert _part_cells(parts, (2, 2), 0.3).tolist() == [[True, False], [False, False]]


def _scored(curve_maps):
    from wsss.metrics import CAMThresholdCurve

    curve = CAMThresholdCurve(num_classes=21)
    for maps, sample in curve_maps:
        curve.update(maps, sample.classes, sample.label)
    return curve.compute()


def test_erasing_ablation_learned_zone_is_the_models_own_attention():
    from wsss.cam import CAMExtractor
    from wsss.data.transforms import to_tensor

    torch.manual_seed(0)
    config = ModelConfig("seenet", backbone="resnet_tiny")
    model = build_model(config, 20)
    data = DataConfig(synthetic_train=3, image_size=48)
    scores = erasing_ablation(model, load_dataset(data, "train"), normalizer=config.normalizer,
                              progress=False)
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
    scores = erasing_ablation(build_model(config, 20), load_dataset(data, "train"),
                              normalizer=config.normalizer, progress=False)
    np.testing.assert_array_equal(scores["b/parts"].curve.miou, scores["b/none"].curve.miou)
    np.testing.assert_array_equal(scores["b/parts"].profile.sums, scores["b/none"].profile.sums)


def test_erasing_ablation_argument_errors():
    config = ModelConfig("seenet", backbone="resnet_tiny")
    model = build_model(config, 20)
    norm = config.normalizer
    with pytest.raises(TypeError, match="model: expected a SeeNet"):
        erasing_ablation(build_model(ModelConfig("cam_classifier", "resnet_tiny"), 20), TRAIN,
                         normalizer=norm)
    with pytest.raises(TypeError, match=r"dataset: .*scene ground truth"):
        erasing_ablation(model, list(TRAIN), normalizer=norm)
    for bad in (0.0, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match="part_cover"):
            erasing_ablation(model, TRAIN, normalizer=norm, part_cover=bad)


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


def _reach(model, data, config, **kwargs):
    shown = load_dataset(data, "train")
    hidden = load_dataset(dataclasses.replace(data, synthetic_part_prob=0.0), "train")
    return part_reach(model, shown, hidden, normalizer=config.normalizer, **kwargs)


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
    reach = _reach(_PixelMaps(), data, config, bins=bins, radius=3, progress=False)
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
    reach = _reach(Blurred(), data, config, bins=(0.0, 3.0, 6.0), progress=False)
    body_lift, _ = reach.lift()
    assert abs(body_lift[0]) > 1e-3  # next to the part the blur mixes the part in
    np.testing.assert_allclose(body_lift[2], 0.0, atol=1e-5)  # 6+ px away it cannot


def test_part_reach_argument_errors():
    config = ModelConfig("cam_classifier", backbone="resnet_tiny")
    model = _PixelMaps()
    norm = config.normalizer
    with pytest.raises(TypeError, match=r"dataset: .*scene ground truth"):
        part_reach(model, list(TRAIN), list(TRAIN), normalizer=norm)
    with pytest.raises(ValueError, match="hidden: expected 4 images"):
        part_reach(model, TRAIN, list(TRAIN)[:2], normalizer=norm)
    for bad in ((), (1.0, 2.0), (0.0, 5.0, 5.0)):
        with pytest.raises(ValueError, match="bins"):
            part_reach(model, TRAIN, TRAIN, normalizer=norm, bins=bad)
    for bad in (0, 2.5, True):
        with pytest.raises(ValueError, match="radius"):
            part_reach(model, TRAIN, TRAIN, normalizer=norm, radius=bad)
    with pytest.raises(ValueError, match=r"branch: .*\['cam'\], got 'b'"):
        part_reach(model, TRAIN, TRAIN, normalizer=norm, branch="b", progress=False)
