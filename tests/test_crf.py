"""Tests of wsss.crf: boundary snapping, normalisation, presets, errors, the process pool."""

from __future__ import annotations

import functools
import sys

import numpy as np
import pytest
import torch

from wsss.crf import CRF_PRESETS, DEEPLAB_V1, OAA, CRFParams, dense_crf, refine_many

H, W = 20, 30


@pytest.fixture
def densecrf():
    return pytest.importorskip("pydensecrf.densecrf")


def two_halves(seed: int = 0, flip: float = 0.3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A red left half and a blue right half (truth: class 0 left, 1 right), with probabilities
    that favour the truth at 0.65 but are flipped at random on ``flip`` of the pixels."""
    rng = np.random.default_rng(seed)
    truth = np.zeros((H, W), dtype=np.int64)
    truth[:, W // 2 :] = 1
    image = np.zeros((H, W, 3), dtype=np.uint8)
    image[truth == 0] = (200, 40, 40)
    image[truth == 1] = (40, 40, 200)
    image = np.clip(image + rng.integers(-10, 11, size=image.shape), 0, 255).astype(np.uint8)
    noisy = np.where(rng.random((H, W)) < flip, 1 - truth, truth)
    probs = np.empty((2, H, W), dtype=np.float32)
    probs[1] = np.where(noisy == 1, 0.65, 0.35)
    probs[0] = 1 - probs[1]
    return image, probs, truth


def load_by_name(name: str) -> tuple[np.ndarray, np.ndarray]:
    """A loader for refine_many: the worker rebuilds its inputs from the name."""
    if name == "bad":
        raise FileNotFoundError("no such image: bad.jpg")
    image, probs, _ = two_halves(seed=int(name))
    return image, probs


# --------------------------------------------------------------------------------------------
# dense_crf
# --------------------------------------------------------------------------------------------


def test_crf_follows_the_colour_boundary(densecrf):
    image, probs, truth = two_halves()
    before = float((probs.argmax(axis=0) == truth).mean())
    refined = dense_crf(image, probs, DEEPLAB_V1)
    after = float((refined.argmax(axis=0) == truth).mean())
    assert 0.6 < before < 0.8  # ~30 % of the pixels flipped
    assert after >= 0.99  # the CRF restores the colour regions
    assert after - before > 0.2


def test_output_is_a_distribution(densecrf):
    image, probs, _ = two_halves(seed=1)
    probs3 = np.concatenate([probs * 0.9, np.full((1, H, W), 0.1, np.float32)])
    refined = dense_crf(image, probs3, OAA)
    assert refined.shape == (3, H, W) and refined.dtype == np.float32
    assert np.all(refined >= 0)
    np.testing.assert_allclose(refined.sum(axis=0), 1.0, rtol=0, atol=1e-5)


def test_zero_iterations_return_the_input(densecrf):
    image, probs, _ = two_halves(seed=2)
    params = CRFParams(3, 3, 121, 5, 4, iterations=0)
    np.testing.assert_allclose(dense_crf(image, probs, params), probs, rtol=0, atol=1e-6)


def test_accepts_torch_probabilities(densecrf):
    image, probs, _ = two_halves(seed=3)
    np.testing.assert_array_equal(
        dense_crf(image, torch.from_numpy(probs.astype(np.float64))), dense_crf(image, probs)
    )


def _bad(**changes):
    image, probs, _ = two_halves()
    args = {"image": image, "probs": probs, "params": DEEPLAB_V1}
    for key, fn in changes.items():
        args[key] = fn(args[key])
    return args


@pytest.mark.parametrize(
    ("args", "error", "name"),
    [
        (_bad(image=lambda x: x.astype(np.float32)), TypeError, "image"),
        (_bad(image=lambda x: x[..., 0]), ValueError, "image"),
        (_bad(image=lambda x: x.tolist()), TypeError, "image"),
        (_bad(probs=lambda p: (p * 10).astype(np.int64)), TypeError, "probs"),
        (_bad(probs=lambda p: p[:, :, :-1]), ValueError, "probs"),  # size mismatch
        (_bad(probs=lambda p: p[0]), ValueError, "probs"),
        (_bad(probs=lambda p: np.where(p > 0.5, np.nan, p)), ValueError, "probs"),
        (_bad(probs=lambda p: p * 0.8), ValueError, "probs"),  # does not sum to 1
        (_bad(probs=lambda p: p * 4 - 1.5), ValueError, "probs"),  # logits, not probabilities
        (_bad(params=lambda _: (3, 3, 121, 5, 4, 10)), TypeError, "params"),
    ],
)
def test_dense_crf_rejects_bad_input(densecrf, args, error, name):
    with pytest.raises(error, match=rf"^{name}"):
        dense_crf(**args)


def test_missing_module_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "pydensecrf", None)
    monkeypatch.setitem(sys.modules, "pydensecrf.densecrf", None)
    image, probs, _ = two_halves()
    with pytest.raises(ImportError, match=r'pip install "wsss\[crf\]"') as info:
        dense_crf(image, probs)
    message = str(info.value)
    assert "pip install pydensecrf2" in message and "does not build" in message
    with pytest.raises(ImportError, match="pydensecrf2"):
        refine_many([(image, probs)], processes=1)  # eager: before any work starts


# --------------------------------------------------------------------------------------------
# Parameters and presets
# --------------------------------------------------------------------------------------------


def test_presets():
    assert DEEPLAB_V1 == CRFParams(
        gaussian_sxy=3,
        gaussian_compat=3,
        bilateral_sxy=121,
        bilateral_srgb=5,
        bilateral_compat=4,
        iterations=10,
    )
    assert (OAA.gaussian_sxy, OAA.gaussian_compat) == (3, 1)
    assert (OAA.bilateral_sxy, OAA.bilateral_srgb, OAA.bilateral_compat) == (67, 4, 3)
    assert OAA.iterations == 1 and OAA.min_probability == 1e-4
    assert DEEPLAB_V1.min_probability == 1e-5
    assert CRF_PRESETS == {"deeplab_v1": DEEPLAB_V1, "oaa": OAA}
    with pytest.raises(AttributeError):
        DEEPLAB_V1.iterations = 5  # frozen


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"gaussian_sxy": 0}, ValueError, "gaussian_sxy"),
        ({"bilateral_srgb": float("nan")}, ValueError, "bilateral_srgb"),
        ({"bilateral_sxy": "121"}, TypeError, "bilateral_sxy"),
        ({"gaussian_compat": -1}, ValueError, "gaussian_compat"),
        ({"iterations": 2.5}, TypeError, "iterations"),
        ({"iterations": None}, TypeError, "iterations"),
        ({"min_probability": 0.0}, ValueError, "min_probability"),
        # widths that crashed pydensecrf's process (segmentation fault / abort)
        ({"gaussian_sxy": 1e-9}, ValueError, "gaussian_sxy"),
        ({"bilateral_sxy": 1e-9}, ValueError, "bilateral_sxy"),
        ({"bilateral_srgb": 1e-8}, ValueError, "bilateral_srgb"),
        ({"gaussian_sxy": 1e-12}, ValueError, "gaussian_sxy"),
        ({"bilateral_compat": 1e300}, ValueError, "bilateral_compat"),  # NaN marginals
    ],
)
def test_params_validation(kwargs, error, name):
    base = {
        "gaussian_sxy": 3,
        "gaussian_compat": 3,
        "bilateral_sxy": 121,
        "bilateral_srgb": 5,
        "bilateral_compat": 4,
        "iterations": 10,
    }
    with pytest.raises(error, match=rf"^{name}"):
        CRFParams(**{**base, **kwargs})


# --------------------------------------------------------------------------------------------
# refine_many
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("start_method", [None, "spawn"])
def test_refine_many_processes_agree(densecrf, start_method):
    names = [str(i) for i in range(4)]
    serial = list(refine_many(names, OAA, loader=load_by_name, processes=1, progress=False))
    pooled = list(
        refine_many(
            names,
            OAA,
            loader=load_by_name,
            processes=2,
            progress=False,
            start_method=start_method,
        )
    )
    assert len(pooled) == 4
    for name, a, b in zip(names, serial, pooled):
        np.testing.assert_array_equal(a, b)  # same values, in input order
        np.testing.assert_array_equal(a, dense_crf(*load_by_name(name), OAA))


def test_refine_many_pairs_and_postprocess(densecrf):
    items = [two_halves(seed=s)[:2] for s in (5, 6)]
    labels = list(
        refine_many(
            iter(items),  # not sized: no total for the progress bar
            postprocess=functools.partial(np.argmax, axis=0),
            processes=2,
            progress=True,
        )
    )
    for (image, probs), label in zip(items, labels):
        np.testing.assert_array_equal(label, dense_crf(image, probs).argmax(axis=0))


def test_refine_many_names_the_failing_item(densecrf):
    results = refine_many(["0", "bad"], loader=load_by_name, processes=1, progress=False)
    first = next(results)
    assert first.shape == (2, H, W)
    with pytest.raises(RuntimeError, match=r"item 1 \('bad'\).*FileNotFoundError.*bad\.jpg"):
        next(results)


def test_refine_many_rejects_bad_arguments(densecrf):
    with pytest.raises(ValueError, match=r"^processes"):
        refine_many([], processes=0)
    with pytest.raises(TypeError, match=r"^loader"):
        refine_many(["0"], loader=lambda name: load_by_name(name), processes=2)
    with pytest.raises(TypeError, match=r"^postprocess"):
        refine_many([], postprocess=lambda q: q, processes=2)
    with pytest.raises(TypeError, match=r"^params"):
        refine_many([], params={"iterations": 1})
    with pytest.raises(ValueError, match=r"^start_method"):
        refine_many([], start_method="threads")


def test_dense_crf_accepts_a_read_only_image():
    pytest.importorskip("pydensecrf.densecrf")
    image = np.zeros((6, 8, 3), np.uint8)
    image[:, 4:] = 200
    image.setflags(write=False)  # as np.asarray(PIL.Image) gives
    probs = np.full((2, 6, 8), 0.5, np.float32)
    out = dense_crf(image, probs, DEEPLAB_V1)
    np.testing.assert_allclose(out.sum(0), 1.0, atol=1e-5)


_SMALLEST_WIDTHS = """
import numpy as np
from wsss.crf import MIN_KERNEL_WIDTH as w, CRFParams, dense_crf
rng = np.random.default_rng(0)
for h, width in ((4, 5), (64, 64), (300, 200)):
    image = rng.integers(0, 256, (h, width, 3), dtype=np.uint8)
    probs = np.full((2, h, width), 0.5, np.float32)
    out = dense_crf(image, probs, CRFParams(w, 3, w, w, 4, 2))
    assert np.isfinite(out).all() and np.allclose(out.sum(axis=0), 1, atol=1e-4)
print("ok")
"""


def test_smallest_allowed_kernel_widths_run_in_a_child_process():
    """The floor of CRFParams keeps the solver alive (a crash would kill only the child)."""
    import subprocess
    import sys

    pytest.importorskip("pydensecrf.densecrf")
    done = subprocess.run([sys.executable, "-c", _SMALLEST_WIDTHS], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.strip() == "ok"


def test_empty_image_is_refused_by_name():
    with pytest.raises(ValueError, match=r"^image: "):
        dense_crf(np.zeros((0, 5, 3), np.uint8), np.zeros((2, 0, 5), np.float32))
