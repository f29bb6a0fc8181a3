"""What a method comparison measured: per run (:class:`MethodRun`), per method over seeds
(:class:`MethodSummary`, :func:`summarise`) and in all (:class:`CompareResult`).

Written by :func:`~wsss.engine.compare.compare_methods`: each run's ``scores.json`` is
:meth:`MethodRun.to_dict` (:meth:`GroundTruthRun.to_dict` for DeepLab on the ground truth), the
run directory's ``results.json`` is :meth:`CompareResult.to_dict`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .leak import AttentionLeak
from .rundir import to_jsonable

__all__ = ["CompareResult", "GroundTruthRun", "MeanSD", "MethodRun", "MethodSummary",
           "paired_margin", "summarise"]


@dataclass(frozen=True)
class MethodRun:
    """What one method measured with one seed.

    Attributes
    ----------
    method, seed
        Which run.
    attention_miou, attention_threshold
        Attention as pseudo labels on the training images, at the background threshold tuned
        on ground truth (an oracle), and that threshold.
    leak
        Attention on the ground truth's objects and background (:mod:`wsss.engine.leak`).
    proxy_miou, proxy_ignored
        The proxy labels' mIoU on labelled pixels and ignored fraction.
    deeplab_miou
        DeepLab trained on the proxy labels, on the validation images; ``None`` when not run.
    step_miou
        Adversarial erasing: the (oracle) attention mIoU after steps ``1, 1-2, ..., 1-k``.
    seconds
        Wall time of the run when it was computed.
    branch_a_miou
        SeeNet and its ablations: the attention mIoU of the S_A branch alone (its own tuned
        threshold), beside ``attention_miou`` of ``max(S_A, S_B)``; ``None`` for one-branch
        methods.

    Examples
    --------
    >>> run = MethodRun("cam", 0, 0.5, 0.3, AttentionLeak(0.8, 0.2, 10, 30), 0.6, 0.1)
    >>> MethodRun.from_dict(run.to_dict()) == run
    True
    """

    method: str
    seed: int
    attention_miou: float
    attention_threshold: float
    leak: AttentionLeak
    proxy_miou: float
    proxy_ignored: float
    deeplab_miou: float | None = None
    step_miou: tuple[float, ...] = ()
    seconds: float = 0.0
    branch_a_miou: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """As ``scores.json`` stores it."""
        return to_jsonable(self) | {"leak_ratio": self.leak.ratio}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> MethodRun:
        """Read back :meth:`to_dict`'s record."""
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in record.items() if k in fields}
        return cls(**values | {"leak": AttentionLeak(**record["leak"]),
                               "step_miou": tuple(record.get("step_miou", ()))})


@dataclass(frozen=True)
class MeanSD:
    """Mean and sample standard deviation (``ddof=1``; ``None`` for one value) of ``n`` values.

    Examples
    --------
    >>> stat = MeanSD.of([0.5, 0.7])
    >>> round(stat.mean, 6), round(stat.sd, 6), stat.format()
    (0.6, 0.141421, '60.0 ± 14.1')
    >>> MeanSD.of([0.25]).format()
    '25.0'
    """

    mean: float
    sd: float | None
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> MeanSD:
        """Summarise ``values`` (at least one)."""
        data = np.asarray(values, np.float64)
        if data.ndim != 1 or data.size == 0:
            raise ValueError("values: expected at least one number")
        sd = float(data.std(ddof=1)) if data.size > 1 else None
        return cls(float(data.mean()), sd, int(data.size))

    def format(self, scale: float = 100.0, digits: int = 1) -> str:
        """``"mean ± sd"`` of the values times ``scale`` (percent by default)."""
        text = f"{self.mean * scale:.{digits}f}"
        return text if self.sd is None else f"{text} ± {self.sd * scale:.{digits}f}"


@dataclass(frozen=True)
class MethodSummary:
    """One method's numbers over the seeds (see :class:`MethodRun` for each).

    Examples
    --------
    >>> runs = [MethodRun("cam", s, 0.4 + s / 10, 0.3, AttentionLeak(0.8, 0.2, 1, 1), 0.5, 0.1)
    ...         for s in (0, 1)]
    >>> summary = summarise(runs, {"cam": "plain CAM"})["cam"]
    >>> summary.label, summary.attention_miou.format(), summary.leak_ratio.format(scale=1, digits=2)
    ('plain CAM', '45.0 ± 7.1', '0.25 ± 0.00')
    """

    method: str
    label: str
    attention_miou: MeanSD
    on_object: MeanSD
    on_background: MeanSD
    leak_ratio: MeanSD
    proxy_miou: MeanSD
    deeplab_miou: MeanSD | None
    step_miou: tuple[MeanSD, ...]
    branch_a_miou: MeanSD | None = None


def summarise(
    runs: Sequence[MethodRun], labels: Mapping[str, str] | None = None
) -> dict[str, MethodSummary]:
    """Mean and sd over seeds of every method in ``runs``, in order of first appearance.

    ``labels`` name the methods in the report (``{method: label}``; default: the method).
    DeepLab's mean is over the seeds that trained one (its ``n`` says how many).

    Examples
    --------
    >>> leak = AttentionLeak(0.5, 0.1, 4, 4)
    >>> summary = summarise([MethodRun("ae", 0, 0.5, 0.2, leak, 0.6, 0.0, step_miou=(0.3, 0.5)),
    ...                      MethodRun("ae", 1, 0.7, 0.2, leak, 0.6, 0.0, step_miou=(0.5, 0.7))])
    >>> [s.format() for s in summary["ae"].step_miou], summary["ae"].deeplab_miou
    (['40.0 ± 14.1', '60.0 ± 14.1'], None)
    """
    grouped: dict[str, list[MethodRun]] = {}
    for run in runs:
        grouped.setdefault(run.method, []).append(run)
    out = {}
    for name, group in grouped.items():
        deeplab = [r.deeplab_miou for r in group if r.deeplab_miou is not None]
        branch_a = [r.branch_a_miou for r in group if r.branch_a_miou is not None]
        steps = len(group[0].step_miou)
        out[name] = MethodSummary(
            method=name, label=(labels or {}).get(name, name),
            attention_miou=MeanSD.of([r.attention_miou for r in group]),
            on_object=MeanSD.of([r.leak.on_object for r in group]),
            on_background=MeanSD.of([r.leak.on_background for r in group]),
            leak_ratio=MeanSD.of([r.leak.ratio for r in group]),
            proxy_miou=MeanSD.of([r.proxy_miou for r in group]),
            deeplab_miou=MeanSD.of(deeplab) if deeplab else None,
            step_miou=tuple(MeanSD.of([r.step_miou[j] for r in group]) for j in range(steps)),
            branch_a_miou=MeanSD.of(branch_a) if len(branch_a) == len(group) else None,
        )
    return out


def paired_margin(runs: Sequence[MethodRun], method: str, baseline: str) -> MeanSD:
    """Attention mIoU of ``method`` minus ``baseline``'s, seed by seed, over the seeds that ran
    both: the margin and its spread over training seeds.

    Examples
    --------
    >>> leak = AttentionLeak(0.5, 0.1, 4, 4)
    >>> runs = [MethodRun("cam", 0, 0.40, 0.2, leak, 0.6, 0.0),
    ...         MethodRun("seenet", 0, 0.50, 0.2, leak, 0.6, 0.0),
    ...         MethodRun("cam", 1, 0.45, 0.2, leak, 0.6, 0.0),
    ...         MethodRun("seenet", 1, 0.47, 0.2, leak, 0.6, 0.0),
    ...         MethodRun("seenet", 2, 0.90, 0.2, leak, 0.6, 0.0)]  # no CAM run: left out
    >>> margin = paired_margin(runs, "seenet", "cam")
    >>> round(margin.mean, 6), round(margin.sd, 6), margin.n
    (0.06, 0.056569, 2)
    """
    base = {r.seed: r.attention_miou for r in runs if r.method == baseline}
    diffs = [r.attention_miou - base[r.seed] for r in runs
             if r.method == method and r.seed in base]
    if not diffs:
        raise ValueError(f"runs: no seed ran both {method!r} and {baseline!r}")
    return MeanSD.of(diffs)


@dataclass(frozen=True)
class GroundTruthRun:
    """DeepLab-LargeFOV trained on the ground-truth masks with one seed: the upper bound that
    DeepLab on proxy labels is measured against.

    Attributes
    ----------
    seed
        The training seed.
    miou
        mIoU on the validation images.
    class_iou
        IoU per label (background first, then the dataset's classes); ``None`` where the class
        is absent from both the ground truth and the prediction.
    seconds
        Wall time of the run when it was computed.

    Examples
    --------
    >>> run = GroundTruthRun(0, 0.7, (0.9, 0.55, None, 0.65))
    >>> run.min_class_iou, GroundTruthRun.from_dict(run.to_dict()) == run
    (0.55, True)
    """

    seed: int
    miou: float
    class_iou: tuple[float | None, ...]
    seconds: float = 0.0

    @property
    def min_class_iou(self) -> float:
        """The lowest IoU over the foreground classes present in the validation images."""
        present = [v for v in self.class_iou[1:] if v is not None]
        return min(present) if present else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """As ``seed_<s>/ground_truth/scores.json`` stores it."""
        return to_jsonable(self) | {"min_class_iou": self.min_class_iou}

    @classmethod
    def from_dict(cls, record: Mapping[str, Any]) -> GroundTruthRun:
        """Read back :meth:`to_dict`'s record."""
        return cls(int(record["seed"]), float(record["miou"]),
                   tuple(None if v is None else float(v) for v in record["class_iou"]),
                   float(record.get("seconds", 0.0)))


@dataclass(frozen=True)
class CompareResult:
    """Everything a comparison measured.

    Attributes
    ----------
    run_dir, class_names
        Where it wrote, and the dataset's foreground classes.
    runs
        One :class:`MethodRun` per method and seed.
    summary
        Per method, over seeds (:func:`summarise`).
    total_seconds
        Wall time of this call.
    ground_truth
        DeepLab on the ground truth, one per DeepLab seed (empty unless the
        :class:`~wsss.engine.compare.CompareConfig` asked for it with ``ground_truth``).

    Examples
    --------
    >>> run = MethodRun("cam", 0, 0.5, 0.3, AttentionLeak(0.8, 0.2, 10, 30), 0.6, 0.1)
    >>> result = CompareResult(Path("runs/compare"), ("cat",), (run,), summarise([run]), 1.0)
    >>> result.to_dict()["summary"]["cam"]["attention_miou"]
    {'mean': 0.5, 'sd': None, 'n': 1}
    """

    run_dir: Path
    class_names: tuple[str, ...]
    runs: tuple[MethodRun, ...]
    summary: dict[str, MethodSummary]
    total_seconds: float
    ground_truth: tuple[GroundTruthRun, ...] = ()

    @property
    def ground_truth_miou(self) -> MeanSD | None:
        """DeepLab on the ground truth over its seeds (``None`` when not run)."""
        return MeanSD.of([r.miou for r in self.ground_truth]) if self.ground_truth else None

    def to_dict(self) -> dict[str, Any]:
        """The numbers as ``results.json`` stores them."""
        return {"class_names": list(self.class_names),
                "summary": to_jsonable(self.summary),
                "runs": [r.to_dict() for r in self.runs],
                "ground_truth": [r.to_dict() for r in self.ground_truth],
                "total_seconds": self.total_seconds}
