"""Saliency fusion (Algorithm 1): hand values, a float64 reference and properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from wsss import FUSION_PRESETS, FusionRule, fuse_saliency, harmonic_mean


def reference_fuse(att, sal, y, rule: FusionRule, eps=1e-5) -> np.ndarray:
    """Pixel-by-pixel float64 loops over section 7 of the design."""
    c, h, w = att.shape
    classes = [k for k in range(c) if y[k]]
    out = np.zeros((h, w), np.int64)
    for i in range(h):
        for j in range(w):
            s = float(sal[i, j])
            a = {k: float(att[k, i, j]) for k in classes}
            a = {k: (v if v >= rule.attention_floor else 0.0) for k, v in a.items()}
            best, label = 1.0 - s, 0
            for k in classes:
                q = 2 * a[k] * s / (a[k] + s + eps) if rule.foreground == "harmonic" else a[k]
                if q > best:
                    best, label = q, k + 1
            ignore = False
            if rule.conflict_threshold is not None:
                ignore |= sum(v > rule.conflict_threshold for v in a.values()) >= 2
            if label == 0 and rule.background_threshold is not None:
                ignore |= s >= rule.background_threshold
            if label == 0 and rule.background_attention_threshold is not None:
                ignore |= max(a.values()) > rule.background_attention_threshold
            out[i, j] = 255 if ignore else label
    fg = np.mean((out > 0) & (out != 255))
    if rule.min_foreground > 0 and fg < rule.min_foreground:
        out[:] = 255
    return out


def test_harmonic_mean_golden_numpy_and_torch():
    a = np.array([1.0, 0.5, 0.2, 0.0])
    b = np.array([1.0, 1.0, 0.8, 0.0])
    want = np.array([1.0, 2 / 3, 0.32, 0.0])
    np.testing.assert_allclose(harmonic_mean(a, b, eps=1e-12), want, rtol=1e-9)
    got = harmonic_mean(torch.from_numpy(a), torch.from_numpy(b), eps=1e-12)
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9)


def test_harmonic_mean_bad_input():
    with pytest.raises(TypeError, match="a, b"):
        harmonic_mean(np.ones(2), torch.ones(2))
    with pytest.raises(ValueError, match="b"):
        harmonic_mean(np.ones(2), -np.ones(2))
    with pytest.raises(ValueError, match="a"):
        harmonic_mean(np.array([np.nan]), np.ones(1))


def test_golden_two_classes_and_ignore_rules():
    # classes 0 and 2 present (labels 1 and 3), class 1 absent but with high attention
    att = np.zeros((3, 1, 6), np.float32)
    att[0] = [0.9, 0.9, 0.2, 0.0, 0.0, 0.1]
    att[1] = [1.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    att[2] = [0.1, 0.8, 0.9, 0.0, 0.0, 0.0]
    sal = np.array([[0.9, 0.9, 0.9, 0.5, 0.05, 0.1]], np.float32)
    y = np.array([1, 0, 1])
    got = fuse_saliency(att, sal, y)
    # px0: Q0=.1, Q1=.9, Q3=.18 -> 1. px1: conflict (0.9 and 0.8 > 0.7) -> 255.
    # px2: Q1=.33, Q3=.9 -> 3. px3: Q0=.5 wins, S=.5 >= 32/255 -> 255.
    # px4: background, S=.05 < .125 -> 0. px5: Q0=.9 vs Q1=.1 -> 0.
    assert got.tolist() == [[1, 255, 3, 255, 0, 0]]
    assert got.dtype == np.uint8
    relaxed = fuse_saliency(att, sal, y, conflict_threshold=None, background_threshold=None)
    assert relaxed.tolist() == [[1, 1, 3, 0, 0, 0]]
    np.testing.assert_array_equal(
        got, reference_fuse(att, sal, y, FUSION_PRESETS["harmonic"])
    )


def test_oaa_preset_golden():
    att = np.zeros((2, 1, 5), np.float32)
    att[0] = [0.95, 0.25, 0.85, 0.5, 0.0]
    att[1] = [0.95, 0.0, 0.0, 0.4, 0.0]
    sal = np.array([[1.0, 0.05, 0.0, 0.1, 0.0]], np.float32)
    got = fuse_saliency(att, sal, np.array([1, 1]), method="oaa")
    # px0: two classes > 0.9 -> 255.
    # px1: 0.25 < floor 0.3 -> Q=0 vs Q0=.95 -> background, S<.125 -> 0.
    # px2: Q1=.85 < Q0=1 -> background but attention .85 > .8 -> 255.
    # px3: Q1=.5 < Q0=.9 -> background, S<.125, att .5 < .8 -> 0. px4: 0.
    # foreground fraction 0 < 1 % -> whole image ignored.
    assert got.tolist() == [[255] * 5]
    kept = fuse_saliency(att, sal, np.array([1, 1]), method="oaa", min_foreground=0.0)
    assert kept.tolist() == [[255, 0, 255, 0, 0]]


def test_batch_and_torch_agree_with_single_images():
    rng = np.random.default_rng(0)
    att = rng.uniform(size=(3, 4, 7, 9)).astype(np.float32)
    sal = rng.uniform(size=(3, 7, 9)).astype(np.float32)
    y = np.array([[1, 0, 0, 1], [0, 1, 0, 0], [1, 1, 1, 1]])
    batched = fuse_saliency(att, sal, y)
    for n in range(3):
        np.testing.assert_array_equal(batched[n], fuse_saliency(att[n], sal[n], y[n]))
    as_torch = fuse_saliency(torch.from_numpy(att), torch.from_numpy(sal), torch.from_numpy(y))
    assert isinstance(as_torch, torch.Tensor) and as_torch.dtype == torch.uint8
    np.testing.assert_array_equal(as_torch.numpy(), batched)


maps = st.integers(0, 2**31 - 1)


@settings(max_examples=40, deadline=None)
@given(seed=maps, method=st.sampled_from(["harmonic", "oaa"]), c=st.integers(1, 4))
def test_matches_float64_reference(seed, method, c):
    rng = np.random.default_rng(seed)
    att = rng.uniform(size=(c, 5, 6))
    sal = rng.uniform(size=(5, 6))
    y = rng.integers(0, 2, size=c)
    y[rng.integers(c)] = 1
    got = fuse_saliency(att, sal, y, method=method)
    np.testing.assert_array_equal(got, reference_fuse(att, sal, y, FUSION_PRESETS[method]))


@settings(max_examples=60, deadline=None)
@given(
    seed=maps,
    conflict=st.one_of(st.none(), st.floats(0.3, 1.0)),
    bg=st.one_of(st.none(), st.floats(0.0, 1.0)),
    method=st.sampled_from(["harmonic", "oaa"]),
)
def test_properties_of_the_ignore_rules(seed, conflict, bg, method):
    rng = np.random.default_rng(seed)
    c = 5
    att = rng.uniform(size=(c, 8, 8)) ** rng.uniform(0.3, 3)
    sal = rng.uniform(size=(8, 8))
    y = (rng.uniform(size=c) < 0.5).astype(np.int64)
    y[rng.integers(c)] = 1
    out = fuse_saliency(att, sal, y, method=method, conflict_threshold=conflict,
                        background_threshold=bg, min_foreground=0.0)
    allowed = {0, 255} | {k + 1 for k in range(c) if y[k]}
    assert set(np.unique(out).tolist()) <= allowed  # never an absent class
    present = att[y.astype(bool)]
    if conflict is not None:  # two confident classes -> ignored
        assert (out[(present > conflict).sum(0) >= 2] == 255).all()
    if bg is not None:  # background only where saliency is clearly low
        assert (sal[out == 0] < bg).all()


def test_min_foreground_ignores_whole_image():
    att = np.zeros((1, 10, 10), np.float32)
    att[0, 0, 0] = 1.0  # one foreground pixel: 1 % of the image
    sal = np.zeros((10, 10), np.float32)
    sal[0, 0] = 1.0
    y = np.array([1])
    assert (fuse_saliency(att, sal, y, min_foreground=0.01) == 1).sum() == 1
    assert (fuse_saliency(att, sal, y, min_foreground=0.011) == 255).all()


@pytest.mark.parametrize(
    ("args", "kwargs", "exc", "name"),
    [
        ((np.ones((2, 3, 3), np.float32), np.full((3, 3), 1.5, np.float32), np.array([1, 0])),
         {}, ValueError, "saliency"),
        ((np.ones((2, 3, 3), np.float32), np.ones((3, 4), np.float32), np.array([1, 0])),
         {}, ValueError, "saliency"),
        ((np.ones((2, 3, 3), np.float32), np.ones((1, 3, 3), np.float32), np.array([1, 0])),
         {}, ValueError, "saliency"),
        ((np.ones((2, 3, 3), np.float32), np.ones((3, 3), np.float32), np.array([1, 0, 1])),
         {}, ValueError, "labels"),
        ((np.ones((2, 3, 3), np.float32), np.ones((3, 3), np.float32), np.array([0, 0])),
         {}, ValueError, "labels"),
        ((np.full((2, 3, 3), np.nan, np.float32), np.ones((3, 3), np.float32), np.array([1, 0])),
         {}, ValueError, "attention"),
        ((np.full((2, 3, 3), 2.0, np.float32), np.ones((3, 3), np.float32), np.array([1, 0])),
         {}, ValueError, "attention"),
        ((np.ones((2, 3, 3), np.uint8), np.ones((3, 3), np.float32), np.array([1, 0])),
         {}, TypeError, "attention"),
        ((np.ones((3, 3), np.float32), np.ones((3, 3), np.float32), np.array([1])),
         {}, ValueError, "attention"),
        ((np.ones((2, 3, 3), np.float32), np.ones((3, 3), np.float32), np.array([1, 0])),
         {"method": "crf"}, ValueError, "method"),
        ((np.ones((2, 3, 3), np.float32), np.ones((3, 3), np.float32), np.array([1, 0])),
         {"conflict_threshold": 1.5}, ValueError, "conflict_threshold"),
    ],
)
def test_bad_input_names_the_argument(args, kwargs, exc, name):
    with pytest.raises(exc, match=name):
        fuse_saliency(*args, **kwargs)


@pytest.mark.parametrize(
    ("eps", "exc"), [(float("nan"), ValueError), (-1.0, ValueError), (None, TypeError)]
)
def test_fuse_saliency_checks_eps(eps, exc):
    att = np.full((1, 2, 2), 0.5, np.float32)
    sal = np.full((2, 2), 0.5, np.float32)
    with pytest.raises(exc, match=r"^eps: "):
        fuse_saliency(att, sal, np.array([1]), eps=eps)


@pytest.mark.parametrize("field", ["attention_floor", "min_foreground"])
@pytest.mark.parametrize(("value", "exc"), [(None, TypeError), (float("nan"), ValueError)])
def test_rule_fields_that_none_cannot_disable(field, value, exc):
    with pytest.raises(exc, match=f"^{field}: "):
        FusionRule(**{field: value})
    assert FusionRule(conflict_threshold=None).conflict_threshold is None


def test_unhashable_method_is_named():
    with pytest.raises(ValueError, match=r"^method: "):
        fuse_saliency(np.zeros((1, 1, 1), np.float32), np.zeros((1, 1), np.float32),
                      np.array([1]), method=[])
