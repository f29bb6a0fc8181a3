"""Proxy labels by confidence thresholds: golden values, a float64 reference, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from wsss.threshold_labels import ThresholdRule, threshold_labels


def test_golden_one_image():
    att = np.zeros((4, 2, 4), np.float32)
    att[1] = [[0.30, 0.299, 0.05, 0.0499], [1.0, 0.2, 0.0, 0.7]]
    att[3] = [[0.10, 0.90, 0.00, 0.0000], [0.2, 0.2, 0.0, 0.7]]
    att[0] = 1.0  # class 0 is not in the image: never read, never chosen
    got = threshold_labels(att, np.array([0, 1, 0, 1]))
    assert got.dtype == np.uint8
    # 0.30 >= t_fg -> class 1 (label 2); 0.9 of class 3 wins (label 4); 0.05 is not < t_bg ->
    # ignore; 0.0499 -> background; tie 0.7 / 0.7 -> the lower class index (label 2)
    assert got.tolist() == [[2, 4, 255, 0], [2, 255, 0, 2]]


def test_golden_batch_torch_and_custom_rule():
    att = torch.tensor([[[[0.2, 0.6, 0.1]]], [[[0.5, 0.0, 0.35]]]])  # (2, 1, 1, 3)
    labels = torch.tensor([[1], [1]])
    got = threshold_labels(att, labels, ThresholdRule(foreground=0.5, background=0.2))
    assert isinstance(got, torch.Tensor) and got.dtype == torch.uint8
    assert got.tolist() == [[[255, 1, 0]], [[1, 0, 255]]]
    # equal thresholds: no ignore band
    same = threshold_labels(att, labels, ThresholdRule(0.3, 0.3))
    assert not bool((same == 255).any())


def _reference(att: np.ndarray, labels: np.ndarray, fg: float, bg: float) -> np.ndarray:
    c, h, w = att.shape
    out = np.zeros((h, w), np.uint8)
    for i in range(h):
        for j in range(w):
            best, best_c = -1.0, -1
            for k in range(c):
                if labels[k] and float(att[k, i, j]) > best:
                    best, best_c = float(att[k, i, j]), k
            out[i, j] = best_c + 1 if best >= fg else (0 if best < bg else 255)
    return out


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    fg=st.floats(0.0, 1.0),
    gap=st.floats(0.0, 1.0),
)
def test_matches_a_plain_loop_reference(seed, fg, gap):
    rng = np.random.default_rng(seed)
    att = np.round(rng.random((5, 4, 6)), 2)  # rounding makes ties and exact thresholds
    labels = (rng.random(5) < 0.5).astype(np.int64)
    labels[rng.integers(5)] = 1
    bg = fg * gap
    got = threshold_labels(att, labels, ThresholdRule(fg, bg))
    np.testing.assert_array_equal(got, _reference(att, labels, fg, bg))


def test_rule_validation():
    with pytest.raises(ValueError, match="background"):
        ThresholdRule(foreground=0.2, background=0.3)
    with pytest.raises(ValueError, match="foreground"):
        ThresholdRule(foreground=1.5)
    with pytest.raises(ValueError, match="background"):
        ThresholdRule(background=float("nan"))
    with pytest.raises(TypeError, match="foreground"):
        ThresholdRule(foreground="0.3")
    with pytest.raises(TypeError, match="foreground"):
        ThresholdRule(foreground=True)


def test_bad_inputs_name_the_argument():
    att = np.zeros((2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="attention"):
        threshold_labels(att + 2, np.array([1, 0]))
    nan = att.copy()
    nan[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="attention"):
        threshold_labels(nan, np.array([1, 0]))
    threshold_labels(nan, np.array([0, 1]))  # NaN in a class the image lacks is never read
    with pytest.raises(ValueError, match="labels"):
        threshold_labels(att, np.array([0, 0]))
    with pytest.raises(ValueError, match="labels"):
        threshold_labels(att, np.array([[1, 0]]))
    with pytest.raises(ValueError, match="labels"):
        threshold_labels(att, np.array([1, 0, 0]))
    with pytest.raises(ValueError, match="attention"):
        threshold_labels(np.zeros((2, 3), np.float32), np.array([1, 0]))
    with pytest.raises(TypeError, match="attention"):
        threshold_labels(np.zeros((2, 3, 3), np.int64), np.array([1, 0]))
    with pytest.raises(ValueError, match="attention"):
        threshold_labels(np.zeros((2, 0, 3), np.float32), np.array([1, 0]))
    with pytest.raises(TypeError, match="rule"):
        threshold_labels(att, np.array([1, 0]), rule=(0.3, 0.05))
