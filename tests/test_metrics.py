"""Tests of wsss.metrics: hand-computed matrices, a float64 reference, torchmetrics, properties."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from wsss.data.sample import VOC_CLASSES
from wsss.metrics import (
    ORACLE_NOTE,
    CAMThresholdCurve,
    ConfusionMatrix,
    SegmentationScores,
    ThresholdCurve,
    mean_iou,
)

# --------------------------------------------------------------------------------------------
# Reference implementations (float64, explicit loops)
# --------------------------------------------------------------------------------------------


def reference_matrix(preds, targets, k, ignore=255):
    m = np.zeros((k, k), dtype=np.int64)
    for p_img, t_img in zip(preds, targets):
        for p, t in zip(np.ravel(p_img).tolist(), np.ravel(t_img).tolist()):
            if t != ignore:
                m[t, p] += 1
    return m


def reference_iou(m):
    k = m.shape[0]
    iou = []
    for c in range(k):
        tp = float(m[c, c])
        union = float(m[c, :].sum() + m[:, c].sum()) - tp
        iou.append(tp / union if union > 0 else math.nan)
    return np.array(iou, dtype=np.float64)


def reference_cam_labels(attention, classes, threshold):
    """argmax over [t, A_c for present c] with explicit per-pixel loops."""
    c, h, w = attention.shape
    out = np.zeros((h, w), dtype=np.int64)
    for y in range(h):
        for x in range(w):
            best, label = float(threshold), 0
            for k in range(c):
                if classes[k] and float(attention[k, y, x]) > best:
                    best, label = float(attention[k, y, x]), k + 1
            out[y, x] = label
    return out


# --------------------------------------------------------------------------------------------
# Hand-computed values
# --------------------------------------------------------------------------------------------


def test_hand_computed_matrix_with_ignore_and_absent_class():
    # 4 classes; class 3 appears in neither target nor prediction; two pixels are ignored.
    target = np.array([[0, 0, 1, 1], [2, 2, 255, 255]], dtype=np.uint8)
    pred = np.array([[0, 1, 1, 1], [2, 0, 2, 0]], dtype=np.int64)
    cm = ConfusionMatrix(num_classes=4)
    cm.update(pred, target)
    expected = np.array(
        [
            [1, 1, 0, 0],
            [0, 2, 0, 0],
            [1, 0, 1, 0],
            [0, 0, 0, 0],
        ]
    )
    np.testing.assert_array_equal(cm.matrix, expected)
    s = cm.compute()
    # IoU: bg 1/(2+2-1)=1/3, class1 2/(2+3-2)=2/3, class2 1/(2+1-1)=1/2, class3 NaN
    np.testing.assert_allclose(s.iou[:3], [1 / 3, 2 / 3, 1 / 2], rtol=0, atol=1e-15)
    assert math.isnan(s.iou[3])
    assert s.miou == pytest.approx((1 / 3 + 2 / 3 + 1 / 2) / 3, abs=1e-15)
    assert s.pixel_accuracy == pytest.approx(4 / 6, abs=1e-15)
    np.testing.assert_allclose(s.recall[:3], [1 / 2, 1, 1 / 2], atol=1e-15)
    np.testing.assert_allclose(s.precision[:3], [1 / 2, 2 / 3, 1], atol=1e-15)
    assert math.isnan(s.recall[3]) and math.isnan(s.precision[3])
    assert s.mean_class_accuracy == pytest.approx((0.5 + 1 + 0.5) / 3, abs=1e-15)
    assert s.class_names == ("class_0", "class_1", "class_2", "class_3")


def test_prediction_is_not_read_where_the_target_is_ignored():
    # pseudo labels with ignore pixels: mask them in the target, as the docstring says
    pseudo = np.array([0, 1, 255, 1])
    target = np.array([0, 1, 1, 0])
    cm = ConfusionMatrix(num_classes=2)
    cm.update(pseudo, np.where(pseudo == 255, 255, target))
    np.testing.assert_array_equal(cm.matrix, [[1, 1], [0, 1]])
    s = cm.compute()
    np.testing.assert_allclose(s.precision, [1.0, 0.5])
    np.testing.assert_allclose(s.recall, [0.5, 1.0])


def test_predicted_but_absent_class_counts_as_zero():
    # class 2 is predicted but never in the ground truth: IoU 0, included in the mean
    cm = ConfusionMatrix(num_classes=3, ignore_index=None)
    cm.update(np.array([0, 2]), np.array([0, 0]))
    s = cm.compute()
    np.testing.assert_allclose(s.iou, [0.5, np.nan, 0.0])
    assert s.miou == pytest.approx(0.25)


def test_voc_defaults_and_matrix_is_readonly_copy():
    cm = ConfusionMatrix()
    assert cm.num_classes == 21 and cm.ignore_index == 255
    assert cm.class_names == ("background", *VOC_CLASSES)
    m = cm.matrix
    assert m.dtype == np.int64 and m.shape == (21, 21)
    with pytest.raises(ValueError):
        m[0, 0] = 1
    cm.update(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))
    assert m[0, 0] == 0 and cm.matrix[0, 0] == 4


def test_torch_inputs_and_reset():
    cm = ConfusionMatrix(num_classes=3)
    cm.update(torch.tensor([[0, 1, 2]]), torch.tensor([[0, 1, 1]], dtype=torch.uint8))
    assert cm.matrix.sum() == 3 and cm.matrix[1, 2] == 1
    cm.reset()
    assert cm.matrix.sum() == 0
    assert math.isnan(cm.compute().miou) and math.isnan(cm.compute().pixel_accuracy)


def test_table_and_dict():
    cm = ConfusionMatrix(num_classes=3, class_names=("bg", "cat", "dog"))
    cm.update(np.array([0, 1, 0, 1]), np.array([0, 1, 1, 0]))
    s = cm.compute()
    table = s.to_table()
    assert table.splitlines() == [
        "| class | IoU (%) |",
        "|---|---:|",
        "| bg | 33.3 |",
        "| cat | 33.3 |",
        "| dog | - |",
        "| **mIoU** | **33.3** |",
    ]
    d = json.loads(json.dumps(s.to_dict()))  # strict JSON: no NaN tokens
    assert d["iou"] == {"bg": pytest.approx(1 / 3), "cat": pytest.approx(1 / 3), "dog": None}
    assert d["miou"] == pytest.approx(1 / 3)
    assert d["pixel_accuracy"] == pytest.approx(0.5)


def test_mean_iou_function_forms():
    preds = [np.array([[0, 1]]), np.array([[1, 1, 0]])]
    targets = [np.array([[0, 1]]), np.array([[1, 0, 255]])]
    # matrix: [[1,1],[0,2]] -> IoU bg 1/2, fg 2/3
    assert mean_iou(preds, targets, num_classes=2) == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert mean_iou(np.array([1, 1]), np.array([1, 1]), num_classes=2) == 1.0
    with pytest.raises(ValueError, match="predictions"):
        mean_iou(preds, targets[:1], num_classes=2)


def test_merge():
    a, b = ConfusionMatrix(3), ConfusionMatrix(3)
    a.update(np.array([0, 1]), np.array([0, 0]))
    b.update(np.array([2]), np.array([2]))
    assert a.merge(b) is a
    np.testing.assert_array_equal(a.matrix, [[1, 1, 0], [0, 0, 0], [0, 0, 1]])
    with pytest.raises(ValueError, match="other"):
        a.merge(ConfusionMatrix(4))
    with pytest.raises(TypeError, match="other"):
        a.merge(np.zeros((3, 3)))


def test_all_reduce_without_and_with_process_group(tmp_path):
    import torch.distributed as dist

    cm = ConfusionMatrix(3)
    cm.update(np.array([0, 1, 2]), np.array([0, 1, 1]))
    before = cm.matrix
    assert cm.all_reduce() is cm  # no process group: unchanged
    np.testing.assert_array_equal(cm.matrix, before)

    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    try:
        cm.all_reduce()
        curve = CAMThresholdCurve([0.5], num_classes=2)
        curve.update(np.full((1, 1, 2), 0.7), np.array([1]), np.array([[1, 0]]))
        curve.all_reduce()
    finally:
        dist.destroy_process_group()
    np.testing.assert_array_equal(cm.matrix, before)  # world size 1: the sum is the matrix
    assert curve.compute().miou[0] == pytest.approx(0.25)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "target", "error", "name"),
    [
        (np.zeros((2, 2), np.float32), np.zeros((2, 2), np.uint8), TypeError, "prediction"),
        (np.zeros((2, 2), np.int64), np.zeros((2, 2), np.float64), TypeError, "target"),
        (np.zeros((2, 3), np.int64), np.zeros((2, 2), np.uint8), ValueError, "prediction"),
        (np.full((2, 2), 21), np.zeros((2, 2), np.uint8), ValueError, "prediction"),
        (np.full((2, 2), -1), np.zeros((2, 2), np.uint8), ValueError, "prediction"),
        (np.zeros((2, 2), np.int64), np.full((2, 2), 21, np.uint8), ValueError, "target"),
        (np.zeros((2, 2), np.int64), np.full((2, 2), -1), ValueError, "target"),
        ([0, 1], np.zeros(2, np.uint8), TypeError, "prediction"),
    ],
)
def test_update_rejects_bad_input(pred, target, error, name):
    cm = ConfusionMatrix()
    with pytest.raises(error, match=f"^{name}"):
        cm.update(pred, target)
    assert cm.matrix.sum() == 0


def test_constructor_rejects_bad_arguments():
    with pytest.raises(ValueError, match=r"^num_classes"):
        ConfusionMatrix(0)
    with pytest.raises(TypeError, match=r"^num_classes"):
        ConfusionMatrix(2.0)
    with pytest.raises(ValueError, match=r"^ignore_index"):
        ConfusionMatrix(21, ignore_index=3)
    with pytest.raises(ValueError, match=r"^class_names"):
        ConfusionMatrix(3, class_names=("a", "b"))


# --------------------------------------------------------------------------------------------
# Against the float64 reference and torchmetrics
# --------------------------------------------------------------------------------------------


def _random_batch(rng, n=3, h=9, w=11, k=21, p_ignore=0.1):
    preds = rng.integers(0, k, size=(n, h, w))
    targets = rng.integers(0, k, size=(n, h, w)).astype(np.uint8)
    targets[rng.random((n, h, w)) < p_ignore] = 255
    return preds, targets


def test_agrees_with_reference_loop():
    rng = np.random.default_rng(0)
    preds, targets = _random_batch(rng, k=6)
    preds[preds == 5] = 4  # class 5 never predicted ...
    targets[targets == 5] = 255  # ... nor in the ground truth
    cm = ConfusionMatrix(num_classes=6)
    for p, t in zip(preds, targets):
        cm.update(p, t)
    ref = reference_matrix(preds, targets, 6)
    np.testing.assert_array_equal(cm.matrix, ref)
    np.testing.assert_allclose(cm.compute().iou, reference_iou(ref), rtol=0, atol=1e-12)
    assert math.isnan(cm.compute().iou[5])
    assert cm.compute().miou == pytest.approx(np.nanmean(reference_iou(ref)), abs=1e-12)


def test_agrees_with_torchmetrics():
    """torchmetrics returns ``zero_division`` (0) for a class absent from both GT and prediction,
    and its macro average includes that 0; wsss returns NaN and excludes it (the VOC protocol).
    So the comparison is per class on the classes present, where both agree to 1e-6."""
    from torchmetrics.classification import MulticlassJaccardIndex

    rng = np.random.default_rng(1)
    preds, targets = _random_batch(rng, n=4, h=16, w=16)
    preds[preds == 7] = 8  # class 7 absent from both sides
    targets[targets == 7] = 8
    metric = MulticlassJaccardIndex(num_classes=21, ignore_index=255, average=None)
    cm = ConfusionMatrix(num_classes=21, ignore_index=255)
    for p, t in zip(preds, targets):
        metric.update(torch.from_numpy(p), torch.from_numpy(t.astype(np.int64)))
        cm.update(p, t)
    theirs = metric.compute().double().numpy()
    ours = cm.compute().iou
    present = ~np.isnan(ours)
    assert present.sum() == 20 and not present[7]
    np.testing.assert_allclose(ours[present], theirs[present], rtol=0, atol=1e-6)
    assert theirs[7] == 0.0  # torchmetrics' value for the absent class


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@st.composite
def image_batches(draw, k=4):
    n = draw(st.integers(1, 4))
    images = []
    for _ in range(n):
        h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        labels = st.integers(0, k - 1)
        pred = np.array(draw(st.lists(labels, min_size=h * w, max_size=h * w))).reshape(h, w)
        tgt = draw(st.lists(st.one_of(labels, st.just(255)), min_size=h * w, max_size=h * w))
        images.append((pred, np.array(tgt, dtype=np.int64).reshape(h, w)))
    return images


def _accumulate(images, k=4):
    cm = ConfusionMatrix(num_classes=k)
    for p, t in images:
        cm.update(p, t)
    return cm


@settings(max_examples=60, deadline=None)
@given(images=image_batches(), seed=st.integers(0, 2**16))
def test_properties(images, seed):
    whole = _accumulate(images)
    scores = whole.compute()
    if not math.isnan(scores.miou):
        assert 0.0 <= scores.miou <= 1.0
    assert np.all((np.isnan(scores.iou)) | ((scores.iou >= 0) & (scores.iou <= 1)))
    # permuting the images does not change the result
    order = np.random.default_rng(seed).permutation(len(images))
    np.testing.assert_array_equal(_accumulate([images[i] for i in order]).matrix, whole.matrix)
    # merging two halves equals accumulating everything
    cut = len(images) // 2
    merged = _accumulate(images[:cut]).merge(_accumulate(images[cut:]))
    np.testing.assert_array_equal(merged.matrix, whole.matrix)
    np.testing.assert_array_equal(
        whole.matrix, reference_matrix([p for p, _ in images], [t for _, t in images], 4)
    )


# --------------------------------------------------------------------------------------------
# CAM threshold curve
# --------------------------------------------------------------------------------------------


def test_threshold_curve_hand_example():
    # K = 3 (background + 2 classes); the image has class 0 only, class 1's map is ignored.
    attention = np.array(
        [
            [[0.875, 0.625, 0.25, 0.125]],  # class 0 (present)
            [[1.0, 1.0, 1.0, 1.0]],  # class 1 (absent: never predicted)
        ],
        dtype=np.float32,
    )
    target = np.array([[1, 1, 0, 255]])
    curve = CAMThresholdCurve([0.0, 0.5, 0.625, 0.95], num_classes=3)
    curve.update(attention, np.array([1, 0]), target)
    result = curve.compute()
    # t=0.0:  labels 1 1 1 -> bg IoU 0/1 = 0, class1 2/3           -> mIoU 1/3
    # t=0.5:  labels 1 1 0 -> bg 1, class1 1                        -> 1
    # t=0.625: labels 1 0 0 (a tie goes to background) -> bg 1/2, c1 1/2 -> 1/2
    # t=0.95: labels 0 0 0 -> bg 1/3, c1 0                          -> 1/6
    np.testing.assert_allclose(result.miou, [1 / 3, 1, 1 / 2, 1 / 6], rtol=0, atol=1e-15)
    assert result.best_threshold == 0.5 and result.best_miou == 1.0
    np.testing.assert_array_equal(curve.confusion_matrices()[2], [[1, 0, 0], [1, 1, 0], [0, 0, 0]])
    assert curve.scores_at(0.625).iou[1] == pytest.approx(0.5)
    d = json.loads(json.dumps(result.to_dict()))
    assert d["best_threshold"] == 0.5 and d["best_note"] == ORACLE_NOTE
    assert "tuned on ground truth" in result.summary()
    assert "tuned on ground truth" in ThresholdCurve.__doc__


def test_threshold_curve_matches_reference_loop():
    rng = np.random.default_rng(3)
    k, thresholds = 5, np.round(np.arange(0, 1.0001, 0.05), 2)
    curve = CAMThresholdCurve(num_classes=k)  # default thresholds
    np.testing.assert_array_equal(curve.thresholds, thresholds)
    refs = [ConfusionMatrix(k) for _ in thresholds]
    for i in range(4):
        classes = (rng.random(k - 1) < 0.5).astype(np.float32)
        if i == 0:
            classes[:] = 0  # an image with no class: all background
        attention = np.round(rng.random((k - 1, 6, 7)), 1) * classes[:, None, None]  # ties
        target = rng.integers(0, k, size=(6, 7))
        target[rng.random((6, 7)) < 0.2] = 255
        curve.update(attention, classes, target)
        for t, ref in zip(thresholds, refs):
            ref.update(reference_cam_labels(attention, classes, t), target)
    np.testing.assert_array_equal(curve.confusion_matrices(), [r.matrix for r in refs])
    np.testing.assert_allclose(
        curve.compute().miou, [r.compute().miou for r in refs], rtol=0, atol=1e-12
    )


def test_threshold_curve_merge_reset_and_empty():
    a, b = CAMThresholdCurve([0.5], num_classes=2), CAMThresholdCurve([0.5], num_classes=2)
    a.update(np.full((1, 1, 1), 0.8), np.array([1]), np.array([[1]]))
    b.update(np.full((1, 1, 1), 0.2), np.array([1]), np.array([[1]]))
    a.merge(b)
    np.testing.assert_array_equal(a.confusion_matrices()[0], [[0, 0], [1, 1]])
    b.update(np.full((1, 1, 1), 0.2), np.array([1]), np.array([[255]]))  # all ignored: no-op
    b.reset()
    empty = b.compute()
    assert math.isnan(empty.best_threshold) and math.isnan(empty.miou[0])
    with pytest.raises(ValueError, match="other"):
        a.merge(CAMThresholdCurve([0.4], num_classes=2))


@pytest.mark.parametrize(
    ("attention", "classes", "target", "error", "name"),
    [
        (
            np.zeros((2, 2, 2), np.float32),
            np.ones(2),
            np.zeros((2, 2), int),
            ValueError,
            "attention",
        ),
        (np.zeros((1, 2, 2), np.int64), np.ones(1), np.zeros((2, 2), int), TypeError, "attention"),
        (np.full((1, 2, 2), 1.5), np.ones(1), np.zeros((2, 2), int), ValueError, "attention"),
        (np.full((1, 2, 2), np.nan), np.ones(1), np.zeros((2, 2), int), ValueError, "attention"),
        (np.zeros((1, 2, 2)), np.ones(2), np.zeros((2, 2), int), ValueError, "classes"),
        (np.zeros((1, 2, 2)), np.full(1, 0.5), np.zeros((2, 2), int), ValueError, "classes"),
        (np.zeros((1, 2, 2)), np.ones(1), np.zeros((2, 3), int), ValueError, "target"),
        (np.zeros((1, 2, 2)), np.ones(1), np.full((2, 2), 7), ValueError, "target"),
        (np.zeros((1, 2, 2)), np.ones(1), np.zeros((2, 2)), TypeError, "target"),
    ],
)
def test_threshold_curve_rejects_bad_input(attention, classes, target, error, name):
    curve = CAMThresholdCurve([0.5], num_classes=2)
    with pytest.raises(error, match=f"^{name}"):
        curve.update(attention, classes, target)


def test_threshold_curve_rejects_bad_thresholds():
    with pytest.raises(ValueError, match=r"^thresholds"):
        CAMThresholdCurve([0.5, 0.2])
    with pytest.raises(ValueError, match=r"^thresholds"):
        CAMThresholdCurve([])
    with pytest.raises(ValueError, match=r"^thresholds"):
        CAMThresholdCurve([0.1, float("nan")])
    with pytest.raises(ValueError, match=r"^threshold"):
        CAMThresholdCurve([0.5], num_classes=2).scores_at(0.3)


def test_scores_type():
    assert isinstance(ConfusionMatrix(2).compute(), SegmentationScores)


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
    from wsss.metrics import TernaryZoneCounter

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
    from wsss.metrics import TernaryZoneCounter

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
    from wsss.metrics import TernaryZoneCounter

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
    from wsss.metrics import PROFILE_REGIONS, AttentionProfileCounter

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
    from wsss.metrics import AttentionProfileCounter

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
    from wsss.metrics import AttentionProfileCounter

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


@pytest.mark.parametrize(
    ("matrix", "exc"),
    [
        (np.array([[1, -1], [0, 2]]), ValueError),  # gave an IoU of NaN
        (np.array([1, 2]), ValueError),  # gave an AxisError
        (np.zeros((2, 3)), ValueError),
        (np.array([[1.0, np.nan], [0, 1]]), ValueError),
        (np.array([["a", "b"], ["c", "d"]]), TypeError),
        ([[1, 0], [0, 1]], TypeError),
    ],
)
def test_from_matrix_refuses_bad_counts(matrix, exc):
    with pytest.raises(exc, match=r"^matrix: "):
        SegmentationScores.from_matrix(matrix, ("a", "b"))


def test_from_matrix_checks_the_names_and_takes_tensors():
    with pytest.raises(ValueError, match=r"^class_names: "):
        SegmentationScores.from_matrix(np.eye(2), ("a",))
    scores = SegmentationScores.from_matrix(torch.tensor([[3, 1], [0, 2]]), ("a", "b"))
    np.testing.assert_allclose(scores.iou, [0.75, 2 / 3])
