"""Hypothesis fuzzing of the public API.

The project-wide fuzz (the first tests below, harness in ``_fuzz.py``) covers every public name
of every ``wsss`` package: each has one registered valid call, and each argument of it is
replaced by bad values (None, NaN, +-inf, negative, zero, huge, wrong rank, dtype or library,
empty arrays, lists, missing files). Dense-CRF cases run in a child process, so a crash inside
pydensecrf is a failure, not the end of the run. The tests after it fuzz the blocks with random
ranks, shapes, dtypes, NaN/inf, empty label sets and mismatched sizes.

The contract under test: a call either returns a result that holds no NaN (and has the
documented shape and range), or raises ``ValueError`` / ``TypeError`` whose message starts with
the name of an argument. Anything else (``RuntimeError`` from deep inside torch, ``IndexError``,
a silent NaN) is a bug.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from torch import nn

from wsss import (
    CAMExtractor,
    SeeNetOutput,
    SelfErasingHead,
    conditional_relu,
    fuse_saliency,
    harmonic_mean,
    seenet_loss,
    ternary_mask,
)
from wsss.metrics import ConfusionMatrix, mean_iou

sys.path.insert(0, str(Path(__file__).parent))
import _fuzz

#: Cases per public name in CI (all of them when fewer, and at most an entry's ``max_cases``
#: for the expensive calls); WSSS_FUZZ_CASES for more (it lifts ``max_cases`` too).
CASES = int(os.environ.get("WSSS_FUZZ_CASES", "40"))
DEEP = "WSSS_FUZZ_CASES" in os.environ


def _needs(name):
    """Skip an entry whose optional package is not installed."""
    requires = _fuzz.REGISTRY[name].requires
    if requires and importlib.util.find_spec(requires) is None:
        pytest.skip(f"{name} needs {requires}")


def test_every_public_name_has_a_valid_call_or_a_documented_skip():
    names = _fuzz.public_names()
    missing = sorted(
        f"{modules[0]}.{name}"
        for name, modules in names.items()
        if name not in _fuzz.REGISTRY and name not in _fuzz.SKIP
        and not all(m.startswith(_fuzz.AWAITING_ENTRIES) for m in modules)
    )
    assert not missing, f"public names without a fuzz entry in _fuzz.REGISTRY: {missing}"
    assert set(_fuzz.BASE_MODULES) <= set(_fuzz.public_modules())


IN_PROCESS = sorted(
    n for n, e in _fuzz.REGISTRY.items()
    if not e.child and n in _fuzz.public_names() and n not in _fuzz.KNOWN_GAPS
    and n not in _fuzz.HANGS
)


@pytest.mark.parametrize("name", sorted(_fuzz.KNOWN_GAPS))
def test_known_gaps_are_still_gaps(name):
    """Names listed as known gaps must still fail a case: once fixed, move them to the fuzz."""
    _needs(name)
    assert _fuzz.non_finite(name, _fuzz.run(name, None)) is None  # the registered call is valid
    problems = [c for c in _fuzz.cases(name) if _fuzz.check_case(name, c)]
    assert problems, f"{name} passes every case now: remove it from _fuzz.KNOWN_GAPS"


def test_hanging_entries_are_registered_names():
    assert set(_fuzz.HANGS) <= set(_fuzz.REGISTRY) & set(_fuzz.public_names())


@pytest.mark.parametrize("name", IN_PROCESS)
def test_registered_call_is_valid(name):
    _needs(name)
    assert _fuzz.non_finite(name, _fuzz.run(name, None)) is None


@pytest.mark.parametrize("name", IN_PROCESS)
def test_bad_arguments_are_refused_by_name(name):
    _needs(name)
    all_cases = _fuzz.cases(name)
    if not all_cases:  # takes no arguments: test_registered_call_is_valid covers it
        return
    bound = _fuzz.REGISTRY[name].max_cases
    examples = min(len(all_cases), CASES if DEEP or bound is None else min(CASES, bound))

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=st.sampled_from(all_cases))
    def check(case):
        problem = _fuzz.check_case(name, case)
        assert problem is None, f"{name}{case}: {problem}"

    check()


def _run_child(todo):
    """Run ``todo`` cases in child processes; a child that dies blames the case it started."""
    problems = []
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    while todo:
        done = subprocess.run([sys.executable, str(Path(_fuzz.__file__))], input=json.dumps(todo),
                              capture_output=True, text=True, timeout=300, env=env)
        finished, started = set(), None
        for line in done.stdout.splitlines():
            if not line.startswith("["):
                continue
            event, *case = json.loads(line)
            if event == "start":
                started = tuple(case)
            else:
                finished.add(tuple(case[:4]))
                if case[4]:
                    problems.append(f"{case[0]}{tuple(case[1:4])}: {case[4]}")
        if done.returncode == 0:
            break
        if started is None:
            raise AssertionError(f"the fuzz child failed to start: {done.stderr[-2000:]}")
        problems.append(f"{started[0]}{started[1:]}: the process died with code "
                        f"{done.returncode} (a crash inside the call)")
        todo = [c for c in todo if tuple(c) not in finished and tuple(c) != started]
    return problems


def test_crf_bad_arguments_in_a_child_process():
    pytest.importorskip("pydensecrf.densecrf")
    todo = [list(c) for c in _fuzz.iter_child_cases()]
    assert len(todo) > 50
    problems = _run_child(todo)
    assert not problems, "\n".join(problems)


def test_the_child_reports_a_crash_as_a_failure():
    """A case whose call kills the process is reported, and the others still run."""
    pytest.importorskip("pydensecrf.densecrf")
    todo = [["dense_crf", 0, "image", "None"], ["__crash__", 0, "x", "x"],
            ["dense_crf", 0, "probs", "nan value"]]
    problems = _run_child(todo)
    assert len(problems) == 1 and "__crash__" in problems[0] and "died" in problems[0]


def test_the_fuzz_fails_when_a_check_is_removed(monkeypatch):
    """Without the eps check, eps=nan makes all-NaN maps: the fuzz must say so."""
    import wsss.masks

    assert _fuzz.check_case("normalize_class_maps", (0, "eps", "nan")) is None
    monkeypatch.setattr(wsss.masks, "check_eps", lambda name, value: value)
    problem = _fuzz.check_case("normalize_class_maps", (0, "eps", "nan"))
    assert problem is not None and "NaN" in problem

#: 150 examples per function in CI; set WSSS_FUZZ_EXAMPLES for a deeper local search.
FUZZ = settings(max_examples=int(os.environ.get("WSSS_FUZZ_EXAMPLES", "150")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
OTHERS = [torch.int64, torch.uint8, torch.bool, torch.complex64]
SPECIAL = ["nan", "inf", "-inf", "huge", "tiny", "zeros", "constant"]


def outcome(call, names):
    """Run ``call``; return its result, or ``None`` after checking an allowed error."""
    try:
        return call()
    except (ValueError, TypeError) as error:
        message = str(error)
        assert message.startswith(tuple(names)), f"message names no argument: {message!r}"
        return None


def assert_finite(*tensors, bounded=True):
    """No NaN; with ``bounded`` (outputs in a fixed range by design) no infinity either."""
    for t in tensors:
        t = torch.as_tensor(t)
        if t.is_floating_point():
            assert not bool(torch.isnan(t).any()), "silent NaN in the output"
            assert not bounded or bool(torch.isfinite(t).all()), "infinity in the output"


@st.composite
def shapes(draw, near=None, max_rank=5, max_side=5):
    """A shape; with ``near``, usually that shape, sometimes one dimension or the rank off."""
    if near is not None and draw(st.integers(0, 7)) > 0:
        shape = list(near)
        how = draw(st.sampled_from(["same", "same", "same", "dim", "rank"]))
        if how == "dim" and shape:
            shape[draw(st.integers(0, len(shape) - 1))] = draw(st.integers(0, max_side))
        elif how == "rank":
            shape = shape[:-1] if shape and draw(st.booleans()) else [*shape, 2]
        return tuple(shape)
    return tuple(draw(st.lists(st.integers(0, max_side), max_size=max_rank)))


@st.composite
def tensors(draw, shape, *, low=-3.0, high=3.0, float_only=False, numpy=False):
    """A tensor (or, with ``numpy``, sometimes an array) of ``shape`` with odd dtypes/values."""
    pool = FLOATS if float_only else FLOATS * 3 + OTHERS
    dtype = draw(st.sampled_from(pool))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    x = torch.rand(shape, generator=g, dtype=torch.float64) * (high - low) + low
    special = draw(st.sampled_from([None] * 8 + SPECIAL))
    if special in ("nan", "inf", "-inf") and x.numel():
        x.view(-1)[draw(st.integers(0, x.numel() - 1))] = float(special)
    elif special == "huge":
        x = x * 1e30
    elif special == "tiny":
        x = x * 1e-30
    elif special in ("zeros", "constant"):
        x = torch.full_like(x, 0.0 if special == "zeros" else 0.5)
    if dtype == torch.bool:
        x = x > 0
    elif dtype in (torch.int64, torch.uint8):
        x = x.nan_to_num(0, 0, 0).clamp(0, 255).round().to(dtype)
    else:
        x = x.to(dtype)
    if numpy and dtype != torch.bfloat16 and draw(st.booleans()):
        return x.numpy()
    return x


@st.composite
def multi_hot(draw, batch, classes):
    """Labels ``(batch, classes)``: usually valid multi-hot, sometimes empty, odd or mis-sized."""
    shape = draw(shapes(near=(batch, classes)))
    kind = draw(st.sampled_from(["valid", "valid", "valid", "empty", "odd"]))
    if kind == "odd":
        return draw(tensors(shape, numpy=True))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    labels = (torch.rand(shape, generator=g) > 0.5).float()
    if kind == "valid" and labels.ndim == 2 and labels.shape[1]:
        labels[:, 0] = 1
    if kind == "empty":
        labels.zero_()
    dtype = draw(st.sampled_from([torch.float32, torch.int64, torch.bool, torch.uint8]))
    return labels.to(dtype)


@FUZZ
@given(data=st.data())
def test_ternary_mask(data):
    n, c, h, w = (data.draw(st.integers(1, 3)) for _ in range(4))
    from_maps = data.draw(st.booleans())
    cams = data.draw(tensors(data.draw(shapes(near=(n, c, h, w) if from_maps else (n, h, w))),
                             low=-1.0 if from_maps else 0.0, high=1.0))
    labels = data.draw(multi_hot(n, c)) if from_maps else None
    delta_h, delta_l = data.draw(st.sampled_from(
        [(0.7, 0.05), (0.8, 0.0), (0.05, 0.7), (math.nan, 0.1), (0.5, -math.inf), (1, 0)]))
    mask = outcome(lambda: ternary_mask(cams, labels, delta_h=delta_h, delta_l=delta_l),
                   ("cams", "labels", "delta_h", "delta_l"))
    if mask is not None:
        assert mask.shape == (cams.shape[0], *cams.shape[-2:])
        assert set(mask.unique().tolist()) <= {-1.0, 0.0, 1.0}


@FUZZ
@given(data=st.data())
def test_conditional_relu(data):
    n, k, h, w = (data.draw(st.integers(1, 3)) for _ in range(4))
    x = data.draw(tensors(data.draw(shapes(near=(n, k, h, w)))))
    mask = data.draw(tensors(data.draw(shapes(near=(n, h, w))), low=-1.0, high=1.0))
    out = outcome(lambda: conditional_relu(x, mask), ("x", "mask"))
    if out is not None:
        assert out.shape == x.shape and out.dtype == x.dtype
        assert_finite(out, bounded=False)  # relu(x) * B may overflow like any product


HEAD = SelfErasingHead(3, num_classes=4, hidden_channels=4, dropout=0.0).eval()


@FUZZ
@given(data=st.data())
def test_self_erasing_head_forward(data):
    n, h, w = (data.draw(st.integers(1, 3)) for _ in range(3))
    features = data.draw(tensors(data.draw(shapes(near=(n, 3, h, w)))))
    labels = data.draw(st.none() | multi_hot(n, 4))
    with torch.no_grad():
        out = outcome(lambda: HEAD(features, labels), ("features", "labels"))
    if out is not None:
        expected = (features.shape[0], 4)
        assert out.logits_a.shape == out.logits_b.shape == out.logits_c.shape == expected
        assert_finite(out.logits_a, out.logits_b, out.logits_c, out.mask, bounded=False)


@FUZZ
@given(data=st.data())
def test_seenet_loss(data):
    n, c = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 4))
    logits = [data.draw(tensors(data.draw(shapes(near=(n, c))))) for _ in range(3)]
    maps = torch.zeros(n, c, 2, 2)
    output = SeeNetOutput(*logits, maps, maps, torch.zeros(n, 2, 2))
    labels = data.draw(multi_hot(n, c))
    terms = outcome(lambda: seenet_loss(output, labels), ("output", "labels"))
    if terms is not None:
        assert terms.total.ndim == 0
        assert_finite(terms.total, terms.a, terms.b, terms.c)


@FUZZ
@given(data=st.data())
def test_harmonic_mean(data):
    shape = data.draw(shapes(max_rank=3))
    a = data.draw(tensors(shape, low=0.0, high=1.0, numpy=True))
    b = data.draw(tensors(data.draw(shapes(near=shape)), low=0.0, high=1.0, numpy=True))
    eps = data.draw(st.sampled_from([1e-5, 0.0, -1.0, math.nan]))
    out = outcome(lambda: harmonic_mean(a, b, eps=eps), ("a", "b", "eps"))
    if out is not None:
        assert_finite(torch.as_tensor(out))
        assert bool((torch.as_tensor(out) >= 0).all())


@FUZZ
@given(data=st.data())
def test_fuse_saliency(data):
    n, c, h, w = (data.draw(st.integers(1, 3)) for _ in range(4))
    batched = data.draw(st.booleans())
    lead = (n,) if batched else ()
    attention = data.draw(tensors(data.draw(shapes(near=(*lead, c, h, w))), low=0.0, high=1.0,
                                  numpy=True))
    saliency = data.draw(tensors(data.draw(shapes(near=(*lead, h, w))), low=0.0, high=1.0,
                                 numpy=True))
    labels = data.draw(multi_hot(n, c))
    if not batched and data.draw(st.booleans()):
        labels = labels[0] if labels.ndim and len(labels) else labels
    method = data.draw(st.sampled_from(["harmonic", "oaa", "nope"]))
    threshold = data.draw(st.sampled_from([None, 0.5, 1.5, math.nan]))
    label = outcome(
        lambda: fuse_saliency(attention, saliency, labels, method=method,
                              conflict_threshold=threshold),
        ("attention", "saliency", "labels", "method", "conflict_threshold"))
    if label is not None:
        values = set(torch.as_tensor(label).unique().tolist())
        assert values <= {*range(c + 1), 255}


class TinyClassMaps(nn.Module):
    """A 3 -> 4 class map model (1x1 conv after a stride-2 conv)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.classifier = nn.Conv2d(4, 4, 1)

    def class_maps(self, images, labels=None):
        return {"cam": self.classifier(torch.relu(self.stem(images)))}


MODEL = TinyClassMaps()


@FUZZ
@given(data=st.data())
def test_cam_extractor(data):
    n, h, w = data.draw(st.integers(1, 2)), data.draw(st.integers(1, 6)), data.draw(
        st.integers(1, 6))
    images = data.draw(tensors(data.draw(shapes(near=(n, 3, h, w)))))
    # a wrong channel count is the model's own business (its convolution says so)
    assume(images.ndim != 4 or images.shape[1] == 3)
    labels = data.draw(multi_hot(n, 4))
    extractor = CAMExtractor(MODEL, scales=data.draw(st.sampled_from([(1.0,), (0.5, 1.5)])),
                             flip=data.draw(st.booleans()))
    maps = outcome(lambda: extractor(images, labels), ("images", "labels"))
    if maps is not None:
        assert maps.fused.shape == (images.shape[0], 4, *images.shape[-2:])
        assert_finite(maps.fused)
        assert bool((maps.fused >= 0).all() and (maps.fused <= 1).all())


def test_harmonic_mean_extremes():
    """Regressions the fuzzer found: 0 / 0 with eps=0, and overflow of 2ab."""
    zero = np.zeros(3, np.float32)
    np.testing.assert_array_equal(harmonic_mean(zero, zero, eps=0.0), zero)
    big = torch.full((2,), 6e4, dtype=torch.float16)  # 2ab overflows float16
    out = harmonic_mean(big, big)
    assert out.dtype == torch.float16 and bool(torch.isfinite(out).all())
    assert torch.allclose(out.float(), big.float(), rtol=1e-3)
    huge = np.array([1e30, 3e38], np.float32)  # 2ab overflows float32
    np.testing.assert_allclose(harmonic_mean(huge, huge), huge, rtol=1e-6)


@st.composite
def label_maps(draw, shape, num_classes):
    kind = draw(st.sampled_from(["valid", "valid", "odd"]))
    if kind == "odd":
        return draw(tensors(shape, numpy=True))
    g = np.random.default_rng(draw(st.integers(0, 2**16)))
    values = g.integers(0, num_classes, size=shape)
    if draw(st.booleans()) and values.size:
        values.flat[0] = 255
    dtype = draw(st.sampled_from([np.uint8, np.int64, np.int32]))
    out = values.astype(dtype)
    return torch.from_numpy(out) if draw(st.booleans()) else out


@FUZZ
@given(data=st.data())
def test_confusion_matrix_update(data):
    k = data.draw(st.integers(1, 5))
    shape = data.draw(shapes(max_rank=3))
    prediction = data.draw(label_maps(shape, k))
    target = data.draw(label_maps(data.draw(shapes(near=shape)), k))
    matrix = ConfusionMatrix(num_classes=k)
    if outcome(lambda: matrix.update(prediction, target), ("prediction", "target")) is None:
        return
    counted = int((np.asarray(target) != 255).sum())
    assert int(matrix.matrix.sum()) == counted


@FUZZ
@given(data=st.data())
def test_mean_iou(data):
    k = data.draw(st.integers(1, 5))
    shape = data.draw(shapes(max_rank=3))
    predictions = data.draw(label_maps(shape, k))
    targets = data.draw(label_maps(data.draw(shapes(near=shape)), k))
    if data.draw(st.booleans()):  # the sequence form
        predictions, targets = [predictions], data.draw(st.sampled_from([[targets], [], 5]))
    num_classes = data.draw(st.sampled_from([k, 0, True, 2.5]))
    miou = outcome(lambda: mean_iou(predictions, targets, num_classes=num_classes),
                   ("prediction", "target", "num_classes"))
    if miou is not None:
        assert isinstance(miou, float)
        # NaN is documented, and only possible, when no pixel counts
        if math.isnan(miou):
            target = targets[0] if isinstance(targets, list) and targets else targets
            assert int((np.asarray(target) != 255).sum()) == 0
        else:
            assert 0.0 <= miou <= 1.0
