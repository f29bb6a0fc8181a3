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
    SaliencyQuality,
    SyntheticScene,
    SyntheticVOC,
    render_preview,
)

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


# ------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"num_images": -1}, ValueError, "num_images"),
        ({"num_images": 2.5}, TypeError, "num_images"),
        ({"image_size": 16}, ValueError, "image_size"),
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
    ],
)
def test_bad_arguments_name_the_argument(kwargs: dict, error: type, name: str) -> None:
    options = {"num_images": 2, **kwargs}
    with pytest.raises(error, match=name):
        SyntheticVOC(options.pop("num_images"), **options)


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
