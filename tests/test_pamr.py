"""PAMR: pinned against a float64 loop reference of its definition; labels snap to colour edges."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from wsss.refine import PAMR, PAMR_DILATIONS, pamr, pamr_affinities

OFFSETS = [(a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0)]


def _reference(image: np.ndarray, masks: np.ndarray, dilations, iterations, eps) -> np.ndarray:
    """The module docstring's definition, pixel by pixel, in float64 (one image)."""
    k, h, w = image.shape

    def at(x, i, j):  # replicate padding: outside pixels repeat the nearest border pixel
        return x[..., min(max(i, 0), h - 1), min(max(j, 0), w - 1)]

    weights = {}  # (i, j) -> list of (weight, (ni, nj))
    for i in range(h):
        for j in range(w):
            entries = []
            for d in dilations:
                window = [at(image, i, j)] + [at(image, i + a * d, j + b * d) for a, b in OFFSETS]
                std = [
                    math.sqrt(sum((px[c] - sum(q[c] for q in window) / 9) ** 2 for px in window)
                              / 9)
                    for c in range(k)
                ]
                kappas = []
                for a, b in OFFSETS:
                    q = at(image, i + a * d, j + b * d)
                    p = image[:, i, j]
                    kappas.append(-sum(abs(p[c] - q[c]) / (std[c] + eps) for c in range(k)) / k)
                top = max(kappas)
                exps = [math.exp(v - top) for v in kappas]
                total = sum(exps)
                for (a, b), e in zip(OFFSETS, exps, strict=True):
                    entries.append((e / total / len(dilations), (i + a * d, j + b * d)))
            weights[i, j] = entries
    m = masks.astype(np.float64)
    for _ in range(iterations):
        new = np.zeros_like(m)
        for (i, j), entries in weights.items():
            new[:, i, j] = sum(wt * at(m, ni, nj) for wt, (ni, nj) in entries)
        m = new
    return m


def test_matches_the_float64_loop_reference():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 5, 7, generator=g, dtype=torch.float64)
    image[0, :, :, 4:] += 1.0  # a colour edge in the first image
    masks = torch.rand(2, 2, 5, 7, generator=g, dtype=torch.float64)
    dilations = (1, 2, 6)  # 6 reaches past the image: replicate padding everywhere
    got = pamr(image, masks, iterations=3, dilations=dilations, eps=1e-3)
    for n in range(2):
        ref = _reference(image[n].numpy(), masks[n].numpy(), dilations, 3, 1e-3)
        np.testing.assert_allclose(got[n].numpy(), ref, rtol=1e-10, atol=1e-12)


def test_affinities_match_the_reference_weights_and_sum_to_one():
    g = torch.Generator().manual_seed(1)
    image = torch.rand(1, 2, 4, 4, generator=g, dtype=torch.float64)
    alpha = pamr_affinities(image, (1, 3), eps=1e-4)
    assert alpha.shape == (1, 2, 8, 4, 4) and not alpha.requires_grad
    torch.testing.assert_close(alpha.sum(dim=(1, 2)), torch.ones(1, 4, 4, dtype=torch.float64))
    # one step on the one-hot "position" masks reads each weight back
    for idx, (a, b) in enumerate(OFFSETS):
        i, j = 1, 2
        masks = np.zeros((1, 4, 4))
        ni, nj = min(max(i + a, 0), 3), min(max(j + b, 0), 3)
        masks[0, ni, nj] = 1.0
        ref = _reference(image[0].numpy(), masks, (1, 3), 1, 1e-4)[0, i, j]
        # the neighbour (ni, nj) may also be reached at dilation 3 (through the border)
        got = pamr(image, torch.from_numpy(masks)[None], iterations=1, dilations=(1, 3),
                   eps=1e-4)[0, 0, i, j]
        assert float(got) == pytest.approx(ref, abs=1e-12)
        assert float(alpha[0, 0, idx, i, j]) <= float(got) + 1e-12


def _two_colour_image(height=16, width=24, edge=12, noise=0.02, seed=0):
    g = torch.Generator().manual_seed(seed)
    image = torch.zeros(1, 3, height, width)
    image[:, 0, :, :edge] = 1.0  # red left of the edge, blue right of it
    image[:, 2, :, edge:] = 1.0
    return image + noise * torch.randn(image.shape, generator=g)


def _columns(labels: torch.Tensor) -> list[int]:
    """Majority label of each column of a (H, W) label map."""
    return [int(labels[:, j].float().mean().round()) for j in range(labels.shape[1])]


@pytest.mark.parametrize("end", [9, 15])  # the mask stops short of the edge / runs past it
def test_a_mask_offset_from_a_colour_edge_moves_to_the_edge(end):
    image = _two_colour_image()
    fg = torch.zeros(1, 1, 16, 24)
    fg[..., :end] = 1.0
    probs = torch.cat([1 - fg, fg], dim=1)
    refined = pamr(image, probs, iterations=10, dilations=(1, 2, 4))
    assert _columns(refined.argmax(1)[0]) == [1] * 12 + [0] * 12
    # on a flat image the same refinement only blurs: the border stays where it was
    flat = pamr(torch.zeros_like(image), probs, iterations=10, dilations=(1, 2, 4))
    cols = _columns(flat.argmax(1)[0])
    assert abs(cols.index(0) - end) <= 1


def test_refinement_is_a_convex_combination_and_linear():
    g = torch.Generator().manual_seed(2)
    image = torch.rand(2, 3, 9, 11, generator=g)
    logits = torch.randn(2, 4, 9, 11, generator=g)
    probs = torch.softmax(logits, dim=1)
    out = pamr(image, probs, iterations=4, dilations=(1, 2))
    torch.testing.assert_close(out.sum(dim=1), torch.ones(2, 9, 11))
    lo = probs.amin(dim=(2, 3), keepdim=True)
    hi = probs.amax(dim=(2, 3), keepdim=True)
    assert bool((out >= lo - 1e-6).all()) and bool((out <= hi + 1e-6).all())
    const = torch.full((2, 1, 9, 11), 0.3)
    torch.testing.assert_close(pamr(image, const, iterations=3, dilations=(1,)), const)
    a, b = torch.rand(2, 1, 9, 11, generator=g), torch.rand(2, 1, 9, 11, generator=g)
    combo = pamr(image, 2 * a - 3 * b, iterations=2, dilations=(1, 3))
    parts = 2 * pamr(image, a, iterations=2, dilations=(1, 3)) - 3 * pamr(
        image, b, iterations=2, dilations=(1, 3)
    )
    torch.testing.assert_close(combo, parts, rtol=1e-5, atol=1e-5)
    assert torch.equal(pamr(image, probs, iterations=0), probs)


def test_gradients_flow_to_the_masks_not_the_image():
    g = torch.Generator().manual_seed(3)
    image = torch.rand(1, 3, 6, 6, generator=g, dtype=torch.float64, requires_grad=True)
    masks = torch.rand(1, 2, 6, 6, generator=g, dtype=torch.float64, requires_grad=True)
    out = pamr(image, masks, iterations=2, dilations=(1, 2))
    out.sum().backward()
    assert image.grad is None
    # the operator is linear and each row of weights sums to 1, so the column sums of the
    # operator are what the gradient of the total holds; and it passes gradcheck
    assert masks.grad is not None and float(masks.grad.sum()) == pytest.approx(72.0)
    torch.autograd.gradcheck(
        lambda m: pamr(image.detach(), m, iterations=2, dilations=(1, 2)), (masks,)
    )


def test_image_is_resized_to_the_masks():
    g = torch.Generator().manual_seed(4)
    image = torch.rand(1, 3, 16, 20, generator=g)
    masks = torch.rand(1, 2, 8, 10, generator=g)
    small = F.interpolate(image, size=(8, 10), mode="bilinear", align_corners=False)
    torch.testing.assert_close(
        pamr(image, masks, iterations=2, dilations=(1, 2)),
        pamr(small, masks, iterations=2, dilations=(1, 2)),
    )


def test_dtypes_module_and_defaults():
    assert PAMR_DILATIONS == (1, 2, 4, 8, 12, 24)
    module = PAMR()
    assert module.iterations == 10 and module.dilations == PAMR_DILATIONS
    assert list(module.parameters()) == []
    g = torch.Generator().manual_seed(5)
    image, masks = torch.rand(1, 3, 10, 10, generator=g), torch.rand(1, 3, 10, 10, generator=g)
    torch.testing.assert_close(module(image, masks), pamr(image, masks))
    half = pamr(image, masks.half(), iterations=2, dilations=(1,))
    assert half.dtype == torch.float16
    torch.testing.assert_close(half.float(), pamr(image, masks.half().float(), iterations=2,
                                                  dilations=(1,)), atol=1e-3, rtol=1e-3)


def test_bad_inputs_name_the_argument():
    image, masks = torch.rand(1, 3, 4, 4), torch.rand(1, 2, 4, 4)
    with pytest.raises(ValueError, match="masks"):
        pamr(image, masks[0])
    with pytest.raises(ValueError, match="image"):
        pamr(image[0], masks)
    with pytest.raises(ValueError, match="image"):
        pamr(torch.rand(2, 3, 4, 4), masks)
    with pytest.raises(TypeError, match="masks"):
        pamr(image, masks.long())
    with pytest.raises(ValueError, match="masks"):
        pamr(image, masks.masked_fill(masks > 0.5, float("nan")))
    with pytest.raises(ValueError, match="image"):
        pamr(image.masked_fill(image > 0.5, float("inf")), masks)
    with pytest.raises(ValueError, match="masks"):
        pamr(image, torch.rand(1, 0, 4, 4))
    with pytest.raises(ValueError, match="iterations"):
        pamr(image, masks, iterations=-1)
    with pytest.raises(ValueError, match="dilations"):
        pamr(image, masks, dilations=())
    with pytest.raises(ValueError, match="dilations"):
        pamr(image, masks, dilations=(1, 0))
    with pytest.raises(TypeError, match="dilations"):
        pamr(image, masks, dilations=2)
    with pytest.raises(ValueError, match="eps"):
        pamr(image, masks, eps=0.0)
    with pytest.raises(ValueError, match="eps"):
        PAMR(eps=float("nan"))
    with pytest.raises(ValueError, match="iterations"):
        PAMR(iterations=1.5)
