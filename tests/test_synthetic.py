"""Tests of the embedded synthetic dataset (wsss.data.synthetic)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wsss.data.palette import colorize
from wsss.data.sample import NUM_CLASSES, VOC_CLASSES, Sample
from wsss.data.synthetic import (
    DEFAULT_ACTIVE_CLASSES,
    SYNTHETIC_PRESETS,
    SaliencyQuality,
    SyntheticObject,
    SyntheticPreset,
    SyntheticScene,
    SyntheticVOC,
    render_preview,
    synthetic_dataset,
)
from wsss.data.synthetic.draw import _Canvas, _class_texture, _Texture

DEFAULT_INDICES = {VOC_CLASSES.index(name) for name in DEFAULT_ACTIVE_CLASSES}
NO_CORRUPTION = SaliencyQuality.perfect()


@pytest.fixture(scope="module")
def scenes() -> list[SyntheticScene]:
    data = SyntheticVOC(40, seed=3)
    return [data.scene(i) for i in range(len(data))]


# ------------------------------------------------------------------------------ determinism


def test_same_seed_and_index_give_identical_samples_in_any_order() -> None:
    first = SyntheticVOC(10, seed=7)
    second = SyntheticVOC(10, seed=7)
    backwards = {i: second[i] for i in reversed(range(10))}
    for i in range(10):
        a, b = first[i], backwards[i]
        assert a.name == b.name
        for field in ("image", "classes", "label", "saliency"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_splits_and_seeds_give_different_images() -> None:
    train = SyntheticVOC(8, split="train")
    val = SyntheticVOC(8, split="val")
    other_seed = SyntheticVOC(8, seed=1)
    for i in range(8):
        assert not np.array_equal(train[i].image, val[i].image)
        assert not np.array_equal(train[i].image, other_seed[i].image)
        assert train[i].name != val[i].name
    # a sample does not depend on the dataset length
    np.testing.assert_array_equal(SyntheticVOC(100)[5].image, train[5].image)


def test_saliency_quality_never_changes_the_scene() -> None:
    good = SyntheticVOC(5)
    poor = SyntheticVOC(5, saliency=SaliencyQuality.poor())
    absent = SyntheticVOC(5, saliency=None)
    for i in range(5):
        np.testing.assert_array_equal(good[i].image, poor[i].image)
        np.testing.assert_array_equal(good[i].label, absent[i].label)
        assert absent[i].saliency is None
        assert not np.array_equal(good[i].saliency, poor[i].saliency)


# ------------------------------------------------------------------------------ structure


def test_shapes_dtypes_and_value_sets(scenes: list[SyntheticScene]) -> None:
    allowed_labels = {0, 255} | {c + 1 for c in DEFAULT_INDICES}
    for scene in scenes:
        sample = scene.sample
        assert isinstance(sample, Sample)
        assert sample.image.shape == (128, 128, 3) and sample.image.dtype == np.uint8
        assert sample.classes.shape == (NUM_CLASSES,) and sample.classes.dtype == np.float32
        assert set(np.unique(sample.classes).tolist()) <= {0.0, 1.0}
        assert sample.label.shape == (128, 128) and sample.label.dtype == np.uint8
        assert set(np.unique(sample.label).tolist()) <= allowed_labels
        assert sample.saliency.shape == (128, 128) and sample.saliency.dtype == np.float32
        assert 0.0 <= sample.saliency.min() and sample.saliency.max() <= 1.0
        assert scene.instances.dtype == np.uint8 and scene.parts.dtype == np.uint8
        assert scene.foreground.dtype == bool and scene.distractors.dtype == bool
        assert not (scene.distractors & scene.foreground).any()
    # the images are not trivial: several colours and a spread of intensities
    image = scenes[0].sample.image
    assert image.std() > 20 and len(np.unique(image.reshape(-1, 3), axis=0)) > 1000


def test_sequence_protocol_and_names() -> None:
    data = SyntheticVOC(3, image_size=48, split="val")
    assert len(data) == 3
    assert data.names == ("synthetic_val_000000", "synthetic_val_000001", "synthetic_val_000002")
    assert [s.name for s in data] == list(data.names)
    np.testing.assert_array_equal(data[-1].image, data[2].image)
    assert [s.name for s in data[1:]] == list(data.names[1:])
    with pytest.raises(IndexError, match="index"):
        data[3]
    with pytest.raises(IndexError, match="index"):
        data[-4]
    with pytest.raises(TypeError, match="index"):
        data["0"]
    assert "person" in repr(data)


def test_image_labels_equal_the_classes_in_the_mask(scenes: list[SyntheticScene]) -> None:
    multi_class = 0
    for scene in scenes:
        named = set(np.flatnonzero(scene.sample.classes).tolist())
        in_mask = {int(v) - 1 for v in np.unique(scene.sample.label)} - {-1, 254}
        assert named == in_mask
        assert named == {o.class_index for o in scene.objects}
        assert 1 <= len(scene.objects) <= 3
        multi_class += len(named) > 1
    assert multi_class >= 5  # images with several classes do occur


def test_label_is_the_instance_classes_with_a_boundary_band(scenes: list[SyntheticScene]) -> None:
    for scene in scenes[:10]:
        lookup = np.array([0] + [o.class_index + 1 for o in scene.objects], dtype=np.uint8)
        plain = lookup[scene.instances]
        label = scene.sample.label
        kept = label != 255
        np.testing.assert_array_equal(label[kept], plain[kept])
        # the band is exactly where a 3x3 window sees two different instances
        padded = np.pad(scene.instances, 1, mode="edge")
        windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3))
        expected = windows.max(axis=(2, 3)) != windows.min(axis=(2, 3))
        np.testing.assert_array_equal(label == 255, expected)
    no_band = SyntheticVOC(3, boundary_width=0)
    for i in range(3):
        scene = no_band.scene(i)
        assert 255 not in scene.sample.label
        assert ((scene.sample.label > 0) == scene.foreground).all()


def test_active_classes_subset_is_respected() -> None:
    data = SyntheticVOC(40, active_classes=("bus", 3), saliency=None)
    assert data.active_classes == (3, 5)
    seen = set()
    for sample in data:
        present = set(np.flatnonzero(sample.classes).tolist())
        assert present and present <= {3, 5}
        seen |= present
    assert seen == {3, 5}
    single = SyntheticVOC(5, active_classes=[0], saliency=None)
    assert all(set(np.unique(s.label).tolist()) <= {0, 1, 255} for s in single)


def test_objects_follow_the_scale_range_and_stay_in_the_image(
    scenes: list[SyntheticScene],
) -> None:
    lengths = []
    for scene in scenes:
        for k, obj in enumerate(scene.objects):
            lengths.append(obj.length / 128)
            assert 0.45 - 1e-6 <= obj.width / obj.length <= 0.8 + 1e-6
            # pixel count of the ellipse ~ pi/4 * length * width
            assert obj.area == pytest.approx(math.pi / 4 * obj.length * obj.width, rel=0.12)
            rows, cols = np.nonzero(scene.instances == k + 1)
            assert rows.min() >= 1 and cols.min() >= 1 and rows.max() <= 126 and cols.max() <= 126
    assert 0.2 <= min(lengths) and max(lengths) <= 0.5
    assert min(lengths) < 0.27 and max(lengths) > 0.43  # the range is used, not just its middle
    small = SyntheticVOC(10, object_scale=(0.25, 0.3), saliency=None)
    for i in range(10):
        for obj in small.scene(i).objects:
            assert 0.25 * 128 - 1e-4 <= obj.length <= 0.3 * 128 + 1e-4


def test_discriminative_part_is_inside_its_object_at_its_head(
    scenes: list[SyntheticScene],
) -> None:
    for scene in scenes:
        for k, obj in enumerate(scene.objects):
            part = scene.parts == k + 1
            # inside its own object, never occluded, the documented share of the object
            assert (scene.instances[part] == k + 1).all()
            assert int(part.sum()) == obj.part_area
            assert 0.07 - 1 / obj.area <= obj.part_area / obj.area <= 0.13 + 1 / obj.area
            # at the end of the major axis that ``angle`` points to
            rows, cols = np.nonzero(part)
            along = (cols - obj.center[1]) * math.cos(obj.angle) + (
                rows - obj.center[0]
            ) * math.sin(obj.angle)
            assert along.mean() > 0.6 * obj.length / 2


def test_later_objects_cover_at_most_max_overlap_of_earlier_ones(
    scenes: list[SyntheticScene],
) -> None:
    for scene in scenes:
        count = len(scene.objects)
        for k, obj in enumerate(scene.objects):
            visible = int((scene.instances == k + 1).sum())
            later = count - 1 - k
            assert visible >= obj.area * (1 - 0.2 * later) - 1


def test_part_fraction_argument_sets_the_part_share() -> None:
    data = SyntheticVOC(10, part_fraction=(0.2, 0.2), saliency=None)
    for i in range(10):
        for obj in data.scene(i).objects:
            assert obj.part_area == round(0.2 * obj.area)


def test_part_prob_removes_parts_and_changes_nothing_else() -> None:
    full = SyntheticVOC(60, image_size=64, saliency=SaliencyQuality())
    half = SyntheticVOC(60, image_size=64, saliency=SaliencyQuality(), part_prob=0.5)
    kept = total = 0
    for i in range(60):
        a, b = full.scene(i), half.scene(i)
        np.testing.assert_array_equal(a.sample.label, b.sample.label)
        np.testing.assert_array_equal(a.sample.saliency, b.sample.saliency)
        np.testing.assert_array_equal(a.instances, b.instances)
        changed = (a.sample.image != b.sample.image).any(-1)
        assert not (changed & (a.parts == 0)).any()  # only part pixels change
        for k, (obj_a, obj_b) in enumerate(zip(a.objects, b.objects)):
            total += 1
            assert dataclasses.replace(obj_b, part_area=obj_a.part_area) == obj_a
            if obj_b.part_area:  # kept: the same part, painted the same
                kept += 1
                np.testing.assert_array_equal(a.parts == k + 1, b.parts == k + 1)
                assert not changed[a.parts == k + 1].any()
            else:  # dropped: no part pixel left, and the body's colour painted over it
                assert not (b.parts == k + 1).any()
                assert changed[a.parts == k + 1].mean() > 0.9
    assert total > 100 and 0.4 < kept / total < 0.6


def test_part_prob_zero_draws_no_part_and_one_every_part() -> None:
    assert all((SyntheticVOC(10, part_prob=0.0).scene(i).parts == 0).all() for i in range(10))
    data = SyntheticVOC(10, part_prob=1.0)
    assert all(o.part_area > 0 for i in range(10) for o in data.scene(i).objects)


def test_clutter_zero_leaves_no_distractors_and_a_smooth_background() -> None:
    data = SyntheticVOC(6, clutter=0.0, saliency=None)
    busy = SyntheticVOC(6, saliency=None)
    for i in range(6):
        scene = data.scene(i)
        assert not scene.distractors.any()
    busy_distractors = sum(int(busy.scene(i).distractors.any()) for i in range(6))
    assert busy_distractors >= 2


# ------------------------------------------------------------------------------ class signal


def _mean_colours(data: SyntheticVOC, region: str) -> tuple[np.ndarray, np.ndarray]:
    features, classes = [], []
    for i in range(len(data)):
        scene = data.scene(i)
        image = scene.sample.image.astype(np.float64)
        for k, obj in enumerate(scene.objects):
            part = scene.parts == k + 1
            if region == "part":
                mask = part
            else:
                mask = (scene.instances == k + 1) & ~part & (scene.sample.label != 255)
            features.append(image[mask].mean(axis=0))
            classes.append(obj.class_index)
    return np.array(features), np.array(classes)


def _nearest_mean_accuracy(region: str, body_signal: float) -> float:
    options = {"body_signal": body_signal, "saliency": None}
    x_train, y_train = _mean_colours(SyntheticVOC(120, **options), region)
    x_val, y_val = _mean_colours(SyntheticVOC(60, split="val", **options), region)
    labels = np.unique(y_train)
    means = np.stack([x_train[y_train == c].mean(axis=0) for c in labels])
    distance = ((x_val[:, None, :] - means[None]) ** 2).sum(axis=2)
    return float((labels[distance.argmin(axis=1)] == y_val).mean())


def test_part_names_the_class_and_the_body_only_weakly() -> None:
    part = _nearest_mean_accuracy("part", 0.3)
    body = _nearest_mean_accuracy("body", 0.3)
    body_without_signal = _nearest_mean_accuracy("body", 0.0)
    body_strong = _nearest_mean_accuracy("body", 1.0)
    assert part > 0.97  # chance is 0.2 with 5 classes
    assert 0.3 < body < 0.8  # weak but real evidence
    assert body_without_signal < 0.35
    assert body_strong > 0.9


def _stripe_sign(rows: np.ndarray, cols: np.ndarray, angle: float, period: float) -> np.ndarray:
    """+1 on the set half of stripes with normal ``angle`` and ``period`` px, -1 elsewhere."""
    phase = (cols * math.cos(angle) + rows * math.sin(angle)) / period
    return np.where(phase % 1 < 0.5, 1, -1)


def _evidence(data: SyntheticVOC) -> dict[str, np.ndarray]:
    """Per object: mean body and part RGB, and the match of body and part to each texture."""
    # the five default classes' textures, by VOC index: (stripe normal in degrees, period px,
    # checks): vertical stripes, horizontal stripes, upright checks, diagonal checks, then
    # vertical stripes of period 4
    textures = {0: (0, 3, False), 6: (90, 3, False), 7: (0, 3, True), 11: (45, 3, True),
                14: (0, 4, False)}
    out: dict[str, list] = {"body": [], "part": [], "body_texture": [], "part_texture": [],
                            "class": []}  # fmt: skip
    for i in range(len(data)):
        scene = data.scene(i)
        image = scene.sample.image.astype(np.float64)
        rows, cols = np.indices(image.shape[:2])
        for k, obj in enumerate(scene.objects):
            part = scene.parts == k + 1
            body = (scene.instances == k + 1) & ~part & (scene.sample.label != 255)
            for region, mask in (("body", body), ("part", part)):
                out[region].append(image[mask].mean(axis=0))
                grey = image[mask].mean(axis=1)
                matches = []
                for degrees, period, checks in textures.values():
                    sign = _stripe_sign(rows[mask], cols[mask], math.radians(degrees), period)
                    if checks:  # set where exactly one of the two stripe sets is
                        sign = -sign * _stripe_sign(rows[mask], cols[mask],
                                                    math.radians(degrees + 90), period)
                    matches.append(((grey - grey.mean()) * sign).mean())
                out[f"{region}_texture"].append(matches)
            out["class"].append(obj.class_index)
    return {key: np.array(value) for key, value in out.items()}


def test_texture_preset_moves_the_class_evidence_from_colour_to_texture() -> None:
    classes = np.array([0, 6, 7, 11, 14])
    accuracy = {}
    for name in ("default", "texture"):
        train = _evidence(synthetic_dataset(name, 120, saliency=None))
        val = _evidence(synthetic_dataset(name, 60, split="val", saliency=None))
        for region in ("body", "part"):
            # float64 nearest class mean on the mean RGB
            means = np.stack([train[region][train["class"] == c].mean(axis=0) for c in classes])
            distance = ((val[region][:, None] - means[None]) ** 2).sum(axis=2)
            accuracy[name, region] = (classes[distance.argmin(axis=1)] == val["class"]).mean()
            # best match among the class textures (no training)
            best = classes[val[f"{region}_texture"].argmax(axis=1)]
            accuracy[name, region + "_texture"] = (best == val["class"]).mean()
    # colour names the class by default, not in the texture preset (chance is 0.2) ...
    assert accuracy["default", "body"] > 0.7 and accuracy["default", "part"] > 0.97
    assert accuracy["texture", "body"] < 0.35 and accuracy["texture", "part"] < 0.35
    # ... where the texture does, and by default it does not (on the body)
    assert accuracy["texture", "body_texture"] > 0.9 and accuracy["texture", "part_texture"] > 0.97
    assert accuracy["default", "body_texture"] < 0.35


def _power_spectrum(pattern: np.ndarray) -> np.ndarray:
    """The 2-D power spectrum of a +-1 pattern: unchanged by a translation of the pattern."""
    return np.abs(np.fft.fft2(np.where(pattern, 1.0, -1.0)))


def test_class_textures_are_distinct_and_survive_a_horizontal_flip() -> None:
    # The recipes flip training images horizontally: a class texture must stay itself under a
    # flip (up to a shift), or two classes whose textures are mirror images (stripes at 45 and
    # 135 degrees) become one class to the network.
    canvas = _Canvas(64, np.random.default_rng(0))
    window = (slice(0, 64), slice(0, 64))
    spectra = []
    for rank in range(20):
        pattern = _class_texture(rank).pattern(canvas, window)
        spectrum, mirrored = _power_spectrum(pattern), _power_spectrum(pattern[:, ::-1])
        assert np.abs(spectrum - mirrored).max() < 0.1 * spectrum.max(), rank
        spectra.append(spectrum)
    for i in range(20):
        for j in range(i + 1, 20):
            gap = np.abs(spectra[i] - spectra[j]).max() / max(spectra[i].max(), spectra[j].max())
            assert gap > 0.5, (i, j)
    # the check can fail: diagonal stripes are the mirror image of the other diagonal
    diagonal = _Texture(math.pi / 4, 3.0).pattern(canvas, window)
    assert np.abs(_power_spectrum(diagonal) - _power_spectrum(diagonal[:, ::-1])).max() > (
        0.9 * _power_spectrum(diagonal).max())


# ------------------------------------------------------------------------------ saliency


def _saliency_error(quality: SaliencyQuality, n: int = 6) -> np.ndarray:
    data = SyntheticVOC(n, image_size=64, saliency=quality)
    errors = []
    for i in range(n):
        scene = data.scene(i)
        errors.append(np.abs(scene.sample.saliency - scene.foreground).mean())
    return np.array(errors)


def test_perfect_saliency_is_the_foreground_mask() -> None:
    data = SyntheticVOC(6, saliency=SaliencyQuality.perfect())
    for i in range(6):
        scene = data.scene(i)
        np.testing.assert_array_equal(scene.sample.saliency, scene.foreground.astype(np.float32))


def test_default_saliency_is_good_but_imperfect() -> None:
    error = _saliency_error(SaliencyQuality()).mean()
    poor = _saliency_error(SaliencyQuality.poor()).mean()
    assert 0.01 < error < 0.12
    assert poor > error


def test_more_noise_never_lowers_the_error() -> None:
    errors = [
        _saliency_error(dataclasses.replace(NO_CORRUPTION, noise_std=s, blur_sigma=1.0))
        for s in (0.0, 0.05, 0.2)
    ]
    assert (errors[1] >= errors[0]).all() and (errors[2] >= errors[1]).all()
    assert errors[0].mean() < errors[1].mean() < errors[2].mean()


def test_blur_softens_the_boundary_only() -> None:
    data = SyntheticVOC(3, saliency=dataclasses.replace(NO_CORRUPTION, blur_sigma=2.0))
    for i in range(3):
        scene = data.scene(i)
        saliency = scene.sample.saliency
        soft = (saliency > 0.02) & (saliency < 0.98)
        assert soft.any()
        near_edge = scene.sample.label == 255
        # soft values stay near the object outline (within a few sigma)
        grown = near_edge.copy()
        for _ in range(6):
            grown[1:] |= grown[:-1]
            grown[:-1] |= grown[1:]
            grown[:, 1:] |= grown[:, :-1]
            grown[:, :-1] |= grown[:, 1:]
        assert (soft <= grown).all()


def test_missed_objects_lose_the_requested_fraction() -> None:
    quality = dataclasses.replace(NO_CORRUPTION, miss_prob=1.0, miss_fraction=0.3)
    data = SyntheticVOC(8, saliency=quality)
    for i in range(8):
        scene = data.scene(i)
        for k in range(len(scene.objects)):
            visible = scene.instances == k + 1
            dropped = float((scene.sample.saliency[visible] == 0).mean())
            assert 0.27 <= dropped <= 0.33
    never = dataclasses.replace(quality, miss_prob=0.0)
    assert _saliency_error(never).max() == 0.0
    assert (_saliency_error(quality) > 0).all()


def test_false_positives_light_up_distractors() -> None:
    quality = dataclasses.replace(
        NO_CORRUPTION, false_positive_prob=1.0, false_positive_strength=0.8
    )
    data = SyntheticVOC(8, saliency=quality)
    lit = 0
    for i in range(8):
        scene = data.scene(i)
        expected = np.where(scene.foreground, 1.0, np.where(scene.distractors, 0.8, 0.0))
        np.testing.assert_array_equal(scene.sample.saliency, expected.astype(np.float32))
        lit += int(scene.distractors.any())
    assert lit >= 3


# ------------------------------------------------------------------------------ properties


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    index=st.integers(0, 10**6),
    size=st.sampled_from([40, 48, 64, 96]),
    split=st.sampled_from(["train", "val"]),
)
def test_invariants_hold_for_any_seed(seed: int, index: int, size: int, split: str) -> None:
    data = SyntheticVOC(index + 1, image_size=size, seed=seed, split=split)
    scene = data.scene(index)
    sample = scene.sample
    assert sample.image.shape == (size, size, 3)
    assert 1 <= len(scene.objects) <= 3
    assert ((scene.parts > 0) <= (scene.instances > 0)).all()
    named = set(np.flatnonzero(sample.classes).tolist())
    assert named == {int(v) - 1 for v in np.unique(sample.label)} - {-1, 254}
    assert named <= DEFAULT_INDICES
    assert sample.saliency.min() >= 0 and sample.saliency.max() <= 1


@settings(max_examples=30, deadline=None)
@given(
    name=st.sampled_from(sorted(SYNTHETIC_PRESETS)),
    seed=st.integers(0, 2**31),
    index=st.integers(0, 10**6),
    size=st.sampled_from([96, 112]),
)
def test_invariants_hold_for_any_preset(name: str, seed: int, index: int, size: int) -> None:
    data = synthetic_dataset(name, index + 1, image_size=size, seed=seed, split="val")
    scene = data.scene(index)
    sample = scene.sample
    assert 1 <= len(scene.objects) <= data.objects_per_image[1]
    assert ((scene.parts > 0) <= (scene.instances > 0)).all()
    for k, obj in enumerate(scene.objects):
        assert (scene.instances[scene.parts == k + 1] == k + 1).all()
        length = obj.length / size
        assert data.object_scale[0] - 1e-6 <= length <= data.object_scale[1] + 1e-6
    named = set(np.flatnonzero(sample.classes).tolist())
    assert named == {int(v) - 1 for v in np.unique(sample.label)} - {-1, 254}
    assert named <= set(data.active_classes) and sample.classes.shape == (data.num_classes,)


# ------------------------------------------------------------------------------ preview


def test_render_preview_tiles_image_label_and_saliency() -> None:
    data = SyntheticVOC(3, image_size=40)
    grid = render_preview(data, 2, gap=3)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 40 + 3, 3 * 40 + 6, 3)
    sample = data[1]
    row = grid[43:83]
    np.testing.assert_array_equal(row[:, :40], sample.image)
    np.testing.assert_array_equal(row[:, 43:83], colorize(sample.label))
    saliency = np.round(sample.saliency * 255).astype(np.uint8)
    np.testing.assert_array_equal(row[:, 86:, 0], saliency)
    assert (grid[40:43] == 255).all()
    no_saliency = render_preview(SyntheticVOC(1, image_size=40, saliency=None), 1)
    assert (no_saliency[:, -40:] == 128).all()
    with pytest.raises(ValueError, match="n"):
        render_preview(data, 4)
    with pytest.raises(ValueError, match="n"):
        render_preview(data, 0)
    with pytest.raises(ValueError, match="gap"):
        render_preview(data, 2, gap=2**15 + 1)
    with pytest.raises(TypeError, match="dataset"):
        render_preview(None, 1)
    with pytest.raises(TypeError, match="dataset: item 0"):
        render_preview([np.zeros((4, 4, 3), np.uint8)], 1)


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"num_images": -1}, ValueError, "num_images"),
        ({"num_images": 2.5}, TypeError, "num_images"),
        ({"image_size": 16}, ValueError, "image_size"),
        ({"image_size": 4097}, ValueError, "image_size"),
        ({"image_size": 10**12}, ValueError, "image_size"),
        ({"num_images": 2**20 + 1}, ValueError, "num_images"),
        ({"clutter": 100.5}, ValueError, "clutter"),
        ({"image_size": 40, "boundary_width": 41}, ValueError, "boundary_width"),
        ({"seed": -1}, ValueError, "seed"),
        ({"seed": 1.0}, TypeError, "seed"),
        ({"split": "test"}, ValueError, "split"),
        ({"split": 0}, TypeError, "split"),
        ({"saliency": "good"}, TypeError, "saliency"),
        ({"active_classes": ["unicorn"]}, ValueError, "active_classes"),
        ({"active_classes": [20]}, ValueError, "active_classes"),
        ({"active_classes": []}, ValueError, "active_classes"),
        ({"active_classes": "cat"}, TypeError, "active_classes"),
        ({"active_classes": ["cat", 7]}, ValueError, "active_classes"),
        ({"objects_per_image": (0, 2)}, ValueError, "objects_per_image"),
        ({"objects_per_image": (3, 1)}, ValueError, "objects_per_image"),
        ({"objects_per_image": (1, 33)}, ValueError, "objects_per_image"),
        ({"objects_per_image": (1, 10**12)}, ValueError, "objects_per_image"),
        ({"objects_per_image": 2}, TypeError, "objects_per_image"),
        ({"object_scale": (0.5, 0.2)}, ValueError, "object_scale"),
        ({"object_scale": (0.2, 1.0)}, ValueError, "object_scale"),
        ({"object_scale": (0.01, 0.2)}, ValueError, "object_scale"),
        ({"part_fraction": (0.0, 0.1)}, ValueError, "part_fraction"),
        ({"part_fraction": (0.1, float("nan"))}, ValueError, "part_fraction"),
        ({"part_prob": -0.1}, ValueError, "part_prob"),
        ({"part_prob": "half"}, TypeError, "part_prob"),
        ({"body_signal": 1.5}, ValueError, "body_signal"),
        ({"body_signal": "high"}, TypeError, "body_signal"),
        ({"clutter": -1.0}, ValueError, "clutter"),
        ({"max_overlap": 1.0}, ValueError, "max_overlap"),
        ({"boundary_width": -1}, ValueError, "boundary_width"),
        ({"preset": "fancy"}, ValueError, "preset"),
        ({"preset": None}, TypeError, "preset"),
        ({"body_evidence": "color"}, ValueError, "body_evidence"),
        ({"body_evidence": 1}, TypeError, "body_evidence"),
        ({"part_evidence": "shape"}, ValueError, "part_evidence"),
        ({"part_placement": "middle"}, ValueError, "part_placement"),
        ({"part_shape": "star"}, ValueError, "part_shape"),
        ({"background": "photo"}, ValueError, "background"),
        ({"body_shapes": ("ellipse", "circle")}, ValueError, "body_shapes"),
        ({"body_shapes": ()}, ValueError, "body_shapes"),
        ({"body_shapes": "ellipse"}, TypeError, "body_shapes"),
        ({"body_shapes": ("ellipse", "ellipse")}, ValueError, "body_shapes"),
        ({"body_evidence": "shape"}, ValueError, "body_shapes"),
        ({"preset": "shape", "body_shapes": ("ellipse",)}, ValueError, "body_shapes"),
        ({"class_names": ("cat", "cat")}, ValueError, "class_names"),
        ({"class_names": ("cat", "")}, ValueError, "class_names"),
        ({"class_names": ("cat", 3)}, TypeError, "class_names"),
        ({"class_names": tuple(f"c{i}" for i in range(21))}, ValueError, "class_names"),
        ({"class_names": ("cat", "dog"), "active_classes": ("car",)}, ValueError,
         "active_classes"),
        ({"preset": "few_classes", "active_classes": (3,)}, ValueError, "active_classes"),
        ({"preset": "small_objects", "image_size": 48}, ValueError, "object_scale"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict, error: type, name: str) -> None:
    options = {"num_images": 2, **kwargs}
    with pytest.raises(error, match=name):
        SyntheticVOC(options.pop("num_images"), **options)


def test_synthetic_dataset_checks_its_preset_and_options() -> None:
    with pytest.raises(ValueError, match="preset: expected one of"):
        synthetic_dataset("fancy", 2)
    with pytest.raises(TypeError, match="colour"):
        synthetic_dataset("default", 2, colour="red")
    with pytest.raises(ValueError, match="part_shape"):
        synthetic_dataset("hard", 2, part_shape="cap")


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"blur_sigma": -1.0}, ValueError, "blur_sigma"),
        ({"noise_std": -0.1}, ValueError, "noise_std"),
        ({"noise_std": float("inf")}, ValueError, "noise_std"),
        ({"miss_prob": 1.5}, ValueError, "miss_prob"),
        ({"miss_fraction": -0.1}, ValueError, "miss_fraction"),
        ({"false_positive_prob": 2.0}, ValueError, "false_positive_prob"),
        ({"false_positive_strength": "a"}, TypeError, "false_positive_strength"),
    ],
)
def test_bad_saliency_quality_names_the_field(kwargs: dict, error: type, name: str) -> None:
    with pytest.raises(error, match=name):
        SaliencyQuality(**kwargs)


def test_saliency_quality_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SaliencyQuality().noise_std = 0.0  # type: ignore[misc]


def test_proxy_labels_replace_only_the_pixel_labels(tmp_path):
    from wsss.data import WithLabels, write_label

    base = SyntheticVOC(3, image_size=48, seed=1)
    for sample in base:
        write_label(tmp_path / f"{sample.name}.png", (sample.label > 0).astype(np.uint8) * 5)
    relabelled = WithLabels(base, tmp_path)
    assert relabelled.names == list(base.names) and len(relabelled) == 3
    for i in range(3):
        s, r = base[i], relabelled[i]
        np.testing.assert_array_equal(r.image, s.image)
        np.testing.assert_array_equal(r.label, (s.label > 0) * 5)
    (tmp_path / f"{base.names[1]}.png").unlink()
    with pytest.raises(FileNotFoundError, match=base.names[1]):
        relabelled[1]


# ------------------------------------------------------------------------------ regression


def _digest(sample: Sample) -> str:
    """First 16 hex digits of the SHA-256 of the image, label and saliency bytes, in order."""
    import hashlib

    digest = hashlib.sha256()
    for array in (sample.image, sample.label, sample.saliency):
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


# Computed with the generator as it was before presets and variants existed: the default
# generator must keep drawing exactly these images, labels and saliency maps.
PINNED_DIGESTS = [
    ({}, 6, {0: "876022cf89773787", 3: "0c199d34b3f74db6", 5: "9f919480bb7cefb3"}),
    (
        {"image_size": 64, "split": "val", "seed": 11},
        4,
        {0: "4df342c1b8a1e241", 3: "46603677c897dc33"},
    ),
    (
        {
            "object_scale": (0.45, 0.8),
            "objects_per_image": (1, 1),
            "clutter": 0.5,
            "part_prob": 0.5,
            "saliency": SaliencyQuality.poor(),
        },
        3,
        {0: "583360c1a07317bb", 2: "9a52ef10905410bc"},
    ),
    (
        {"active_classes": ("bus", "sheep", 3), "body_signal": 0.3, "boundary_width": 2},
        3,
        {1: "c8c87e2b3f9adad8"},
    ),
]


@pytest.mark.parametrize(("kwargs", "count", "digests"), PINNED_DIGESTS)
def test_default_generator_draws_the_pinned_samples(
    kwargs: dict, count: int, digests: dict[int, str]
) -> None:
    data = SyntheticVOC(count, **kwargs)
    assert {i: _digest(data[i]) for i in digests} == digests


def test_default_generator_pinned_objects() -> None:
    objects = SyntheticVOC(6).scene(0).objects
    pinned = [(7, 1936, 141), (11, 509, 55)]
    assert [(o.class_index, o.area, o.part_area) for o in objects] == pinned


def test_default_preset_is_the_original_generator() -> None:
    for kwargs, count, digests in PINNED_DIGESTS:
        options = {"image_size": 128, "seed": 0, "split": "train", **kwargs}
        data = synthetic_dataset(
            "default", count, image_size=options.pop("image_size"), seed=options.pop("seed"),
            split=options.pop("split"), **options,
        )
        assert {i: _digest(data[i]) for i in digests} == digests
    assert SyntheticVOC(2).describe() == SyntheticVOC(2, preset="default").describe()


# ------------------------------------------------------------------------------ presets

PRESET_NAMES = sorted(SYNTHETIC_PRESETS)


def test_the_documented_presets_exist_and_describe_themselves() -> None:
    for name in ("default", "texture", "hard", "shape", "centre_part", "random_part",
                 "band_part", "few_classes", "ten_classes", "all_classes", "small_objects",
                 "large_objects", "plain_background", "noise_background"):  # fmt: skip
        assert name in SYNTHETIC_PRESETS, name
        preset = SYNTHETIC_PRESETS[name]
        assert isinstance(preset, SyntheticPreset) and preset.description
    with pytest.raises(TypeError):
        SYNTHETIC_PRESETS["mine"] = SYNTHETIC_PRESETS["default"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        SYNTHETIC_PRESETS["default"].clutter = 0.0  # type: ignore[misc]
    # the "default" record is the constructor's original defaults
    assert SYNTHETIC_PRESETS["default"] == SyntheticPreset(SYNTHETIC_PRESETS["default"].description)
    assert SYNTHETIC_PRESETS["default"].options() == {
        "class_names": VOC_CLASSES, "active_classes": DEFAULT_ACTIVE_CLASSES,
        "objects_per_image": (1, 3), "object_scale": (0.2, 0.5), "max_overlap": 0.2,
        "body_evidence": "colour", "body_signal": 0.5, "body_shapes": ("ellipse",),
        "part_evidence": "colour", "part_placement": "end", "part_shape": "round",
        "part_fraction": (0.07, 0.13), "part_prob": 1.0, "background": "gradient",
        "clutter": 1.0, "boundary_width": 1,
    }  # fmt: skip


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_preset_renders_consistent_deterministic_scenes(name: str) -> None:
    from wsss.diagnostics.scenes import Scene, require_scenes

    data = synthetic_dataset(name, 8, image_size=96, seed=2)
    again = synthetic_dataset(name, 8, image_size=96, seed=2)
    preset = SYNTHETIC_PRESETS[name]
    # the dataset takes every option from its preset, and describe() says so
    record = data.describe()
    assert record["preset"] == name
    for option, value in preset.options().items():
        assert record[option] == value, option
    assert data.num_classes == len(data.class_names) == len(preset.class_names)
    active = {preset.class_names.index(c) for c in preset.active_classes}
    assert set(data.active_classes) == active
    assert require_scenes(data) is data
    objects = 0
    for i in reversed(range(8)):
        scene, twin = data.scene(i), again.scene(i)
        assert isinstance(scene, Scene)
        sample = scene.sample
        for field in ("image", "classes", "label", "saliency"):
            np.testing.assert_array_equal(getattr(sample, field), getattr(twin.sample, field))
        assert scene.objects == twin.objects
        assert sample.image.shape == (96, 96, 3) and sample.image.dtype == np.uint8
        assert sample.classes.shape == (data.num_classes,)
        # class channels, labels and objects agree
        named = set(np.flatnonzero(sample.classes).tolist())
        in_mask = {int(v) - 1 for v in np.unique(sample.label)} - {-1, 254}
        assert named == in_mask == {o.class_index for o in scene.objects} and named <= active
        assert (scene.foreground == (scene.instances > 0)).all()
        lookup = np.array([0] + [o.class_index + 1 for o in scene.objects], dtype=np.uint8)
        kept = sample.label != 255
        np.testing.assert_array_equal(sample.label[kept], lookup[scene.instances][kept])
        # parts lie inside their own object, have their recorded size, and use a known outline
        for k, obj in enumerate(scene.objects):
            part = scene.parts == k + 1
            assert (scene.instances[part] == k + 1).all()
            assert int(part.sum()) == obj.part_area > 0
            assert obj.shape in preset.body_shapes
        assert 0 <= sample.saliency.min() and sample.saliency.max() <= 1
        objects += len(scene.objects)
    assert objects >= 8
    # describe() rebuilds the same dataset
    rebuilt = SyntheticVOC(**{k: v for k, v in record.items() if k != "saliency"})
    np.testing.assert_array_equal(rebuilt[3].image, data[3].image)


def test_look_only_options_keep_the_layout_and_labels() -> None:
    base = SyntheticVOC(6, image_size=64)
    for options in ({"body_evidence": "texture"}, {"part_evidence": "texture"},
                    {"background": "noise"}, {"background": "plain"}):  # fmt: skip
        varied = SyntheticVOC(6, image_size=64, **options)
        for i in range(6):
            a, b = base.scene(i), varied.scene(i)
            np.testing.assert_array_equal(a.sample.label, b.sample.label)
            np.testing.assert_array_equal(a.parts, b.parts)
            np.testing.assert_array_equal(a.sample.saliency, b.sample.saliency)
            assert not np.array_equal(a.sample.image, b.sample.image), options


def test_vocabulary_subset_keeps_the_look_and_compacts_the_channels() -> None:
    wide = SyntheticVOC(5, image_size=64)
    narrow = SyntheticVOC(5, image_size=64, class_names=DEFAULT_ACTIVE_CLASSES)
    assert narrow.num_classes == 5 and narrow.active_classes == (0, 1, 2, 3, 4)
    to_voc = np.array([0] + [VOC_CLASSES.index(n) + 1 for n in DEFAULT_ACTIVE_CLASSES])
    for i in range(5):
        a, b = wide[i], narrow[i]
        np.testing.assert_array_equal(a.image, b.image)  # a class looks the same by name
        expected = np.where(b.label == 255, 255, to_voc[np.minimum(b.label, 5)])
        np.testing.assert_array_equal(a.label, expected)
        np.testing.assert_array_equal(a.classes[sorted(DEFAULT_INDICES)], b.classes)
    own = SyntheticVOC(4, image_size=64, class_names=("disc", "blob"))
    assert own.class_names == ("disc", "blob") and own.style_ranks == (0, 1)
    assert own.describe()["active_classes"] == ("disc", "blob")
    assert all(set(np.unique(s.label).tolist()) <= {0, 1, 2, 255} for s in own)


# ------------------------------------------------------------------------------ variants


def test_body_outlines_cover_their_hand_computed_areas() -> None:
    # area of the unit-gauge set for a body of length L and width W
    share = {"ellipse": math.pi / 4, "rectangle": 1.0, "triangle": 0.5, "diamond": 0.5,
             "hexagon": 0.75}  # fmt: skip
    data = SyntheticVOC(30, body_shapes=tuple(share), saliency=None, object_scale=(0.3, 0.5))
    seen = set()
    for i in range(len(data)):
        for obj in data.scene(i).objects:
            seen.add(obj.shape)
            assert obj.area == pytest.approx(share[obj.shape] * obj.length * obj.width, rel=0.1)
    assert seen == set(share)


def test_shape_evidence_ties_outlines_to_classes() -> None:
    def class_shape_rate(name: str) -> float:
        data = synthetic_dataset(name, 60, image_size=96, saliency=None)
        ranks, hits, total = data.style_ranks, 0, 0
        for i in range(len(data)):
            for obj in data.scene(i).objects:
                hits += obj.shape == data.body_shapes[ranks[obj.class_index] % 5]
                total += 1
        return hits / total

    # "shape": the class's outline with probability 0.5, else one of five at random
    assert 0.5 < class_shape_rate("shape") < 0.7
    # "hard": outlines drawn whatever the class (1 in 5 match by chance)
    assert 0.1 < class_shape_rate("hard") < 0.3


def _local(obj: SyntheticObject, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``(u, v)`` of pixels in the object's frame (along and across its major axis)."""
    dy, dx = rows - obj.center[0], cols - obj.center[1]
    c, s = math.cos(obj.angle), math.sin(obj.angle)
    return np.stack([dx * c + dy * s, dy * c - dx * s])


@pytest.mark.parametrize(
    ("placement", "shape"),
    [("end", "round"), ("centre", "round"), ("random", "round"), ("end", "band"),
     ("centre", "square"), ("random", "square")],
)  # fmt: skip
def test_part_is_the_object_pixels_nearest_its_anchor(placement: str, shape: str) -> None:
    data = SyntheticVOC(10, part_placement=placement, part_shape=shape, saliency=None)
    for i in range(len(data)):
        scene = data.scene(i)
        for k, obj in enumerate(scene.objects):
            # parts are never covered, so the part is also the visible pixels nearest its anchor
            rows, cols = np.nonzero(scene.instances == k + 1)
            u, v = _local(obj, rows, cols)
            anchor = _local(obj, np.array(obj.part_anchor[0]), np.array(obj.part_anchor[1]))
            du, dv = u - anchor[0], v - anchor[1]
            distance = {"round": np.hypot(du, dv), "square": np.maximum(abs(du), abs(dv)),
                        "band": abs(du)}[shape]  # fmt: skip
            in_part = scene.parts[rows, cols] == k + 1
            assert in_part.sum() == obj.part_area
            assert distance[in_part].max() <= distance[~in_part].min() + 1e-3
            if placement == "end":
                assert anchor == pytest.approx([obj.length / 2, 0], abs=1e-6)
            elif placement == "centre":
                assert anchor == pytest.approx([0, 0], abs=1e-6)
            else:  # a pixel of the body's inner 60 %, hence of the part
                assert (anchor[0] / (obj.length / 2)) ** 2 + (
                    anchor[1] / (obj.width / 2)
                ) ** 2 <= 0.36 + 1e-4
                row, col = (round(x) for x in obj.part_anchor)
                assert scene.parts[row, col] == k + 1


def test_plain_background_is_one_colour_and_noise_is_textured() -> None:
    plain = SyntheticVOC(4, image_size=64, background="plain", clutter=0.0, saliency=None)
    noisy = SyntheticVOC(4, image_size=64, background="noise", clutter=0.0, saliency=None)
    gradient = SyntheticVOC(4, image_size=64, clutter=0.0, saliency=None)
    rough = np.zeros(2)
    for i in range(4):
        background = ~plain.scene(i).foreground
        spread = [data[i].image[background].astype(np.float64).std(axis=0).max()
                  for data in (plain, gradient, noisy)]  # fmt: skip
        assert spread[0] < 6  # only the 1.5 % pixel noise (3.8 grey levels)
        assert spread[2] > spread[0] + 4
        rough += [np.abs(np.diff(data[i].image.astype(np.float64), axis=1))[background[:, 1:]]
                  .mean() for data in (gradient, noisy)]  # fmt: skip
    # the noise background varies from pixel to pixel much more than the smooth gradient
    assert rough[1] > 1.5 * rough[0]
