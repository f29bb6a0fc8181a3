"""Ternary mask and attention normalisation: golden values, float64 reference, properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from wsss import attention_map, normalize_class_maps, ternary_mask


def reference_mask(z: np.ndarray, y: np.ndarray, dh: float, dl: float, eps: float) -> np.ndarray:
    """Section 3 of the design, written as loops in float64."""
    n, c, h, w = z.shape
    out = np.empty((n, h, w))
    for i in range(n):
        m = np.zeros((h, w))
        for k in range(c):
            if y[i, k]:
                p = np.maximum(z[i, k].astype(np.float64), 0)
                m = np.maximum(m, (p - p.min()) / (p.max() - p.min() + eps))
        for a in range(h):
            for b in range(w):
                out[i, a, b] = 0 if m[a, b] > dh else (-1 if m[a, b] < dl else 1)
    return out


def test_golden_two_classes():
    z = torch.tensor(
        [[[[0.0, 2.0, 4.0, 10.0]], [[-5.0, 0.0, 5.0, 0.0]], [[9.0, 9.0, 9.0, 0.0]]]]
    )
    y = torch.tensor([[1, 1, 0]])
    # class 0: relu -> [0, 2, 4, 10] -> [0, .2, .4, 1]; class 1: [0, 0, 5, 0] -> [0, 0, 1, 0]
    # class 2 is absent. M = [0, .2, 1, 1]
    m = attention_map(z, y, eps=0.0)
    torch.testing.assert_close(m, torch.tensor([[[0.0, 0.2, 1.0, 1.0]]]))
    t = ternary_mask(z, y, delta_h=0.7, delta_l=0.05, eps=0.0)
    assert t.tolist() == [[[-1.0, 1.0, 0.0, 0.0]]]


def test_thresholds_are_strict():
    att = torch.tensor([[[0.05, 0.7, 0.0499, 0.7001]]])
    assert ternary_mask(att, delta_h=0.7, delta_l=0.05).tolist() == [[[1.0, 1.0, -1.0, 0.0]]]


def test_constant_map_gives_zero_not_nan():
    z = torch.full((2, 3, 4, 4), 3.0)
    m = normalize_class_maps(z, torch.ones(2, 3))
    assert torch.equal(m, torch.zeros_like(m))
    t = ternary_mask(z, torch.ones(2, 3))
    assert torch.equal(t, -torch.ones(2, 4, 4))


def test_absent_class_does_not_count():
    z = torch.zeros(1, 2, 1, 2)
    z[0, 1, 0, 1] = 5.0  # only absent class 1 fires
    z[0, 0, 0, 0] = 1.0
    t = ternary_mask(z, torch.tensor([[1, 0]]))
    assert t.tolist() == [[[0.0, -1.0]]]


def test_masks_are_per_sample():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(3, 4, 5, 6, generator=g)
    y = torch.tensor([[1, 0, 0, 0], [0, 1, 1, 0], [0, 0, 0, 1]])
    batched = ternary_mask(z, y)
    for i in range(3):
        assert torch.equal(batched[i], ternary_mask(z[i : i + 1], y[i : i + 1])[0])


def test_no_gradient_and_dtype():
    z = torch.randn(1, 2, 3, 3, dtype=torch.float64, requires_grad=True)
    t = ternary_mask(z, torch.tensor([[True, False]]))
    assert not t.requires_grad and t.dtype == torch.float64


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    n=st.integers(1, 3),
    c=st.integers(1, 4),
    h=st.integers(1, 5),
    w=st.integers(1, 5),
    dl=st.floats(0.0, 0.5),
    gap=st.floats(0.01, 0.5),
)
def test_matches_float64_reference(seed, n, c, h, w, dl, gap):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, c, h, w)) * rng.uniform(0.1, 10)
    y = rng.integers(0, 2, size=(n, c))
    y[np.arange(n), rng.integers(0, c, size=n)] = 1
    dh = dl + gap
    got = ternary_mask(torch.from_numpy(z), torch.from_numpy(y), delta_h=dh, delta_l=dl, eps=1e-5)
    want = reference_mask(z, y, dh, dl, 1e-5)
    np.testing.assert_array_equal(got.numpy(), want)
    assert set(np.unique(got.numpy())) <= {-1.0, 0.0, 1.0}


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    dh1=st.floats(0.1, 0.99),
    dh2=st.floats(0.1, 0.99),
    dl=st.floats(0.0, 0.09),
)
def test_raising_delta_h_moves_pixels_from_attention_to_potential_zone(seed, dh1, dh2, dl):
    att = torch.from_numpy(np.random.default_rng(seed).uniform(size=(2, 6, 6)))
    lo, hi = min(dh1, dh2), max(dh1, dh2)
    t_lo = ternary_mask(att, delta_h=lo, delta_l=dl)
    t_hi = ternary_mask(att, delta_h=hi, delta_l=dl)
    # The erased (attention) zone at the higher threshold lies inside the one at the lower.
    assert bool(((t_hi == 0) <= (t_lo == 0)).all())
    # Potential zone never shrinks, background never changes.
    assert bool(((t_lo == 1) <= (t_hi == 1)).all())
    assert torch.equal(t_lo == -1, t_hi == -1)


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"cams": torch.rand(2, 3, 4, 4, 1), "labels": torch.ones(2, 3)}, ValueError, "cams"),
        ({"cams": torch.ones(2, 3, 4, 4, dtype=torch.int64), "labels": torch.ones(2, 3)},
         TypeError, "cams"),
        ({"cams": torch.full((1, 2, 2, 2), float("nan")), "labels": torch.ones(1, 2)},
         ValueError, "cams"),
        ({"cams": torch.rand(2, 3, 4, 4), "labels": torch.ones(2, 4)}, ValueError, "labels"),
        ({"cams": torch.rand(2, 3, 4, 4), "labels": torch.ones(3, 3)}, ValueError, "labels"),
        ({"cams": torch.rand(2, 3, 4, 4), "labels": torch.full((2, 3), 0.5)}, ValueError, "labels"),
        ({"cams": torch.rand(2, 3, 4, 4), "labels": torch.tensor([[1, 0, 0], [0, 0, 0]])},
         ValueError, "labels"),
        ({"cams": torch.rand(2, 3, 4, 4)}, ValueError, "labels"),
        ({"cams": torch.rand(2, 4, 4), "labels": torch.ones(2, 3)}, ValueError, "cams"),
        ({"cams": torch.rand(2, 4, 4) + 1.0}, ValueError, "cams"),
        ({"cams": torch.rand(2, 4, 4), "delta_h": 0.3, "delta_l": 0.3}, ValueError, "delta_l"),
        ({"cams": torch.rand(2, 4, 4), "delta_h": 0.2, "delta_l": 0.5}, ValueError, "delta_l"),
        ({"cams": torch.rand(2, 4, 4), "delta_h": float("nan")}, ValueError, "delta_h"),
        ({"cams": torch.rand(2, 4, 4), "delta_h": "0.7"}, TypeError, "delta_h"),
        ({"cams": np.zeros((2, 4, 4))}, TypeError, "cams"),
    ],
)
def test_bad_input_names_the_argument(kwargs, exc, name):
    with pytest.raises(exc, match=name):
        ternary_mask(**kwargs)


def test_constant_map_with_zero_eps_is_still_zero():
    m = normalize_class_maps(torch.full((1, 1, 2, 2), 2.0), eps=0.0)
    assert torch.equal(m, torch.zeros(1, 1, 2, 2))


@pytest.mark.parametrize(
    ("eps", "exc"), [(float("nan"), ValueError), (-1.0, ValueError), (float("inf"), ValueError),
                     (None, TypeError), ("1e-5", TypeError), (True, TypeError)]
)
@pytest.mark.parametrize("fn", ["normalize", "attention", "ternary"])
def test_eps_is_checked_everywhere(fn, eps, exc):
    """eps=nan gave all-NaN maps (a mask of all +1), eps=-1 values of 8e37."""
    z, y = torch.rand(1, 2, 3, 3), torch.ones(1, 2)
    call = {
        "normalize": lambda: normalize_class_maps(z, y, eps=eps),
        "attention": lambda: attention_map(z, y, eps=eps),
        "ternary": lambda: ternary_mask(z, y, eps=eps),
    }[fn]
    with pytest.raises(exc, match=r"^eps: "):
        call()
