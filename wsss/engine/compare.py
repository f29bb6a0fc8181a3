"""SeeNet against the methods it improves on, in one harness: :func:`compare_methods`.

Every method trains from the same initial backbone, on the same images, with the same schedule
(the recipe's ``classifier_train``, one seed at a time) and the same attention scales, and is
scored the same way:

::

    [pretrain a backbone on the image labels, once per run directory]   (synthetic recipe)
    for each seed, for each method of METHODS:
        train its classifier(s) --> attention maps of the training images
        --> attention mIoU (threshold tuned on ground truth), attention on object / background
        --> proxy labels (attention fused with saliency) --> their mIoU
        [--> DeepLab-LargeFOV on them --> mIoU on the validation images]     (deeplab=True)
    [for each DeepLab seed: DeepLab-LargeFOV on the ground truth]        (ground_truth=True)
    --> mean and sd over seeds --> report.md, results.json, figures

SeeNet and its ablations are scored twice: ``max(S_A, S_B)`` (the attention they hand on) and
S_A alone. DeepLab, the slowest stage, can be limited to the first ``deeplab_seeds`` seeds.

Adversarial erasing (``"ae"``) trains ``ae_steps`` classifiers: step ``j`` trains on the
training images erased (filled with the mean colour) wherever the accumulated attention of
steps ``1 .. j-1`` exceeds ``ae_threshold``, and writes its attention *on those erased images*
(AE-PSL mines new regions from the erased images); the attention of step ``j`` is the
element-wise maximum of the maps of steps ``1 .. j`` (:mod:`wsss.data.erasing`). Each step gets
the full schedule, as in the paper, so AE spends ``ae_steps`` times the training of the others.

Run directory::

    config.json  results.json  report.md  figures/  pretrain/backbone.pt
    seed_<s>/<method>/train/ attention/ proxy_labels/ [deeplab/] scores.json
    seed_<s>/ground_truth/deeplab/ scores.json                 (DeepLab on the ground truth)
    seed_<s>/ae/step_<j>/train/ attention/ accumulated/      (attention of steps 1..j)

Each stage is skipped on ``resume=True`` when its output exists (a method whose
``scores.json`` exists is not run again), so a run can be continued, or extended by more seeds
or methods; a resume that changes the data, the recipe or the erasing settings is refused.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
from torch import nn

from .._validation import MAX_COUNT, check_bool, check_int, check_real
from ..data.erasing import DEFAULT_THRESHOLD, ErasedImages
from ..data.protocol import describe_dataset
from ..data.sample import Sample
from ..metrics import SegmentationScores
from ._arguments import check_stage_args
from .build import InMemory, class_names, load_trained
from .compare_results import CompareResult, GroundTruthRun, MethodRun, summarise
from .config import DataConfig, ModelConfig, Recipe, with_changes
from .distributed import DistContext
from .labelling import load_attention, save_attention
from .leak import attention_leak
from .pipeline import PipelineConfig, _load, _pretrain, _pretrain_model
from .rundir import RunDir, fill_missing_fields, to_jsonable
from .stages import (
    attention_quality,
    evaluate,
    label_quality,
    make_attention,
    make_pseudo_labels,
    train_model,
)
from .trainer import TrainConfig

__all__ = ["METHODS", "CompareConfig", "Method", "attention_folder", "compare_methods"]


@dataclass(frozen=True)
class Method:
    """One method of the comparison: a classifier (:func:`~wsss.models.create_model` name and
    extra arguments), trained once, or ``ae_steps`` times on erased images.

    Examples
    --------
    >>> METHODS["seenet_no_sc"].kwargs
    {'background_branch': False}
    >>> METHODS["ae"].model, METHODS["ae"].adversarial_erasing
    ('cam_classifier', True)
    """

    label: str
    model: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    adversarial_erasing: bool = False


#: The methods, by the name runs and flags use: the plain CAM (Zhou et al., CVPR 2016), ACoL
#: (Zhang et al., CVPR 2018), adversarial erasing (Wei et al., CVPR 2017), SeeNet (Hou et al.,
#: NeurIPS 2018) and three ablations of SeeNet's head.
METHODS: Mapping[str, Method] = MappingProxyType({
    "cam": Method("plain CAM", "cam_classifier"),
    "acol": Method("ACoL", "acol"),
    "ae": Method("AE-PSL", "cam_classifier", adversarial_erasing=True),
    "seenet": Method("SeeNet", "seenet"),
    "seenet_no_sc": Method("SeeNet without S_C", "seenet",
                           {"background_branch": False}),
    "seenet_no_reversal": Method("SeeNet without background reversal", "seenet",
                                 {"reverse_background": False}),
    "seenet_unshared": Method("SeeNet, S_B and S_C unshared", "seenet",
                              {"share_weights": False}),
})


@dataclass(frozen=True)
class CompareConfig:
    """What :func:`compare_methods` runs.

    Attributes
    ----------
    data, recipe, backbone, weights, weights_format, iterations, batch_size
        As in :class:`~wsss.engine.PipelineConfig` (``iterations`` keys: ``"pretrain"``,
        ``"classifier"``, ``"deeplab"``).
    methods
        Names from :data:`METHODS`, in the order of the report (may be empty with
        ``ground_truth``: then only the backbone and DeepLab on the ground truth are trained).
    seeds
        Training seeds; every method trains once per seed (initial head weights, augmentation).
        The pretrained backbone is shared by all seeds.
    ae_steps, ae_threshold
        Adversarial erasing: steps ``k`` and the erasing threshold on max-normalised attention
        (SeeNet's ``delta_h``, 0.7, by default; see :mod:`wsss.data.erasing`).
    deeplab
        Also train DeepLab-LargeFOV on each method's proxy labels and score it on the
        validation images (slow).
    ground_truth
        Also train DeepLab-LargeFOV on the ground-truth masks (from the same backbone, with the
        same schedule): the fully supervised upper bound, per DeepLab seed.
    deeplab_seeds
        DeepLab (on proxy labels and on the ground truth) runs for the first ``deeplab_seeds``
        of ``seeds`` only; ``None``: for all of them.
    deeplab_class_weighting
        As in :class:`~wsss.engine.PipelineConfig`: DeepLab's class weighting of the pixel
        loss, for every DeepLab of the run (proxy labels and ground truth alike).
    figures
        Images in the report's figures.

    Examples
    --------
    >>> CompareConfig(seeds=(0,), methods=("cam", "seenet")).resolved_recipe().name
    'synthetic'
    >>> CompareConfig(methods=("cam", "grad-cam"))
    Traceback (most recent call last):
    ...
    ValueError: methods: unknown method 'grad-cam'; expected one of ('cam', ...)
    """

    data: DataConfig = field(default_factory=DataConfig)
    recipe: Recipe | None = None
    backbone: str | None = None
    weights: str | None = None
    weights_format: str = "torchvision"
    methods: tuple[str, ...] = tuple(METHODS)
    seeds: tuple[int, ...] = (0, 1, 2)
    ae_steps: int = 3
    ae_threshold: float = DEFAULT_THRESHOLD
    iterations: Mapping[str, int] = field(default_factory=dict)
    batch_size: int | None = None
    deeplab: bool = False
    figures: int = 4
    ground_truth: bool = False
    deeplab_seeds: int | None = None
    deeplab_class_weighting: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.data, DataConfig):
            raise TypeError(f"data: expected a DataConfig, got {type(self.data).__name__}")
        for name in ("methods", "seeds"):
            value = getattr(self, name)
            if isinstance(value, (str, bytes)) or not isinstance(value, (tuple, list)):
                raise TypeError(f"{name}: expected a tuple, got {type(value).__name__}")
        check_bool("ground_truth", self.ground_truth)
        if (not self.methods and not self.ground_truth) or len(
            set(map(str, self.methods))
        ) != len(self.methods):
            raise ValueError(f"methods: expected distinct names (at least one without "
                             f"ground_truth), got {self.methods!r}")
        for name in self.methods:
            if name not in METHODS:
                raise ValueError(f"methods: unknown method {name!r}; expected one of "
                                 f"{tuple(METHODS)}")
        seeds = [check_int("seeds", seed, minimum=0, maximum=MAX_COUNT) for seed in self.seeds]
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds: expected distinct ints, got {self.seeds!r}")
        check_int("ae_steps", self.ae_steps, minimum=1, maximum=16)
        check_int("figures", self.figures, minimum=0, maximum=MAX_COUNT)
        check_real("ae_threshold", self.ae_threshold, minimum=0.0, maximum=1.0,
                   exclusive_maximum=True)
        check_bool("deeplab", self.deeplab)
        if self.deeplab_seeds is not None:
            check_int("deeplab_seeds", self.deeplab_seeds, minimum=1, maximum=len(seeds))
        self.pipeline()  # checks iterations and the weights format

    def pipeline(self) -> PipelineConfig:
        """The :class:`~wsss.engine.PipelineConfig` with the same data, recipe and weights."""
        return PipelineConfig(data=self.data, recipe=self.recipe, backbone=self.backbone,
                              weights=self.weights, weights_format=self.weights_format,
                              iterations=self.iterations, batch_size=self.batch_size,
                              deeplab_class_weighting=self.deeplab_class_weighting)

    def resolved_recipe(self) -> Recipe:
        """The recipe with the replacements applied (as :class:`~wsss.engine.PipelineConfig`)."""
        return self.pipeline().resolved_recipe()

    def deeplab_seed(self, seed: int) -> bool:
        """Whether DeepLab trains for ``seed`` (one of the first ``deeplab_seeds`` seeds).

        Examples
        --------
        >>> config = CompareConfig(seeds=(0, 1, 2), deeplab=True, deeplab_seeds=1)
        >>> [config.deeplab_seed(s) for s in config.seeds]
        [True, False, False]
        """
        count = len(self.seeds) if self.deeplab_seeds is None else self.deeplab_seeds
        return seed in self.seeds[:count]


#: The config entries a resumed run must share with the run it continues.
_FIXED = ("data", "backbone", "weights", "weights_format", "ae_steps", "ae_threshold")


def _check_resume(root: Path, record: Mapping[str, Any]) -> None:
    path = root / "config.json"
    if not path.exists():
        return
    # fields added to the configs since the run was written count as their defaults
    old = fill_missing_fields(json.loads(path.read_text()), record)
    new = json.loads(json.dumps(to_jsonable(record)))
    changed = [f"compare.{k}" for k in _FIXED if old["compare"].get(k) != new["compare"][k]]
    changed += ["recipe"] if old.get("recipe") != new["recipe"] else []
    if changed:
        raise ValueError(f"resume: {path} was written for other settings ({', '.join(changed)});"
                         " resume with the same ones or choose another run_dir")


class _Harness:
    """The state one :func:`compare_methods` call shares between its stages."""

    def __init__(self, config: CompareConfig, root: Path, resume: bool, ctx: DistContext,
                 progress: bool, log: Callable[[str], None]) -> None:
        self.config, self.root, self.resume, self.ctx = config, root, resume, ctx
        self.progress, self.log = progress, log
        self.recipe = config.resolved_recipe()
        self.train_set = _load(config.data, "train")
        self.names = class_names(self.train_set)
        self.val_set = _load(config.data, "val") if config.deeplab or config.ground_truth else None
        self.weights, self.weights_format = config.weights, config.weights_format

    def pretrain_config(self) -> ModelConfig | None:
        """The classifier whose backbone every method starts from, as
        :func:`~wsss.engine.run_pipeline` pretrains it; ``None`` with given weights."""
        return _pretrain_model(self.config.pipeline(), self.recipe)

    def pretrain(self, model: ModelConfig) -> None:
        """Train ``model`` once per run directory; every method then starts from its backbone."""
        path = self.root / "pretrain" / "backbone.pt"
        if not path.exists():
            self.log("[compare] pretrain backbone ...")
            _pretrain(model, self.config.data, self.recipe, self.root, ctx=self.ctx,
                      resume=self.resume, progress=self.progress)
        self.weights, self.weights_format = str(path), "backbone"

    def model_config(self, method: Method) -> ModelConfig:
        base = self.recipe.classifier.model(method.model, weights=self.weights,
                                            weights_format=self.weights_format)
        return dataclasses.replace(base, kwargs={**base.kwargs, **method.kwargs})

    def trained(self, cfg: ModelConfig, dataset: Sequence[Sample], train_cfg: TrainConfig,
                folder: Path, labels_from: Path | None = None) -> nn.Module:
        run = RunDir(folder)
        if self.resume and run.model_path.exists():
            return load_trained(cfg, run.model_path, len(self.names)).to(self.ctx.device)
        model, _ = train_model(cfg, dataset, train_cfg, run, labels_from=labels_from,
                               crop=self.recipe.crop, ctx=self.ctx, resume=self.resume,
                               progress=self.progress)
        return model

    def attention(self, model: nn.Module, dataset: Sequence[Sample], cfg: ModelConfig,
                  out: Path) -> None:
        make_attention(model, dataset, out, normalizer=cfg.normalizer,
                       scales=self.recipe.attention_scales, flip=True, ctx=self.ctx,
                       progress=self.progress)
        self.ctx.barrier()

    def erasing_steps(self, cfg: ModelConfig, train_cfg: TrainConfig,
                      folder: Path) -> tuple[Path, tuple[float, ...]]:
        """Train the ``ae_steps`` classifiers; the accumulated attention folder and the
        attention mIoU after each step."""
        previous: Path | None = None
        step_miou = []
        for j in range(1, self.config.ae_steps + 1):
            step = folder / f"step_{j}"
            images = self.train_set
            if previous is not None:
                erased = ErasedImages(self.train_set, previous, threshold=self.config.ae_threshold)
                images = InMemory(erased) if self.config.data.synthetic else erased
            model = self.trained(cfg, images, train_cfg, step / "train")
            self.attention(model, images, cfg, step / "attention")
            if self.ctx.is_main:
                self.accumulate(previous, step / "attention", step / "accumulated")
            self.ctx.barrier()
            step_miou.append(attention_quality(self.train_set, step / "accumulated").best_miou)
            previous = step / "accumulated"
        assert previous is not None
        return previous, tuple(step_miou)

    def accumulate(self, previous: Path | None, current: Path, out: Path) -> None:
        """``out/<name>.npz``: the element-wise maximum of ``previous`` and ``current``."""
        out.mkdir(parents=True, exist_ok=True)
        for sample in self.train_set:
            target = out / f"{sample.name}.npz"
            if target.exists():
                continue
            now = load_attention(current / f"{sample.name}.npz", class_names=self.names)
            maps = now.fused
            if previous is not None:
                before = load_attention(previous / f"{sample.name}.npz", class_names=self.names)
                maps = np.maximum(before.fused, maps)
            save_attention(target, maps, {}, now.classes, self.names)

    def run_method(self, name: str, seed: int) -> MethodRun:
        config, method = self.config, METHODS[name]
        folder = self.root / f"seed_{seed}" / name
        scores = folder / "scores.json"
        if self.resume and scores.exists():
            stored = MethodRun.from_dict(json.loads(scores.read_text()))
            wants_deeplab = config.deeplab and config.deeplab_seed(seed)
            if not wants_deeplab or stored.deeplab_miou is not None:
                self.log(f"[compare] {method.label}, seed {seed}: done before, skipped")
                return stored
        self.log(f"[compare] {method.label}, seed {seed} ...")
        started = time.perf_counter()
        cfg = self.model_config(method)
        train_cfg = with_changes(self.recipe.classifier_train, seed=seed)
        step_miou: tuple[float, ...] = ()
        if method.adversarial_erasing:
            attention_dir, step_miou = self.erasing_steps(cfg, train_cfg, folder)
        else:
            attention_dir = folder / "attention"
            model = self.trained(cfg, self.train_set, train_cfg, folder / "train")
            self.attention(model, self.train_set, cfg, attention_dir)
        curve = attention_quality(self.train_set, attention_dir)
        branch_a = (attention_quality(self.train_set, attention_dir, branch="a").best_miou
                    if method.model == "seenet" else None)
        leak = attention_leak(self.train_set, attention_dir)
        labels = folder / "proxy_labels"
        make_pseudo_labels(self.train_set, attention_dir, labels, ctx=self.ctx,
                           progress=self.progress)
        self.ctx.barrier()
        proxy = label_quality(self.train_set, labels)
        deeplab = None
        if config.deeplab and config.deeplab_seed(seed):
            deeplab = self.deeplab(seed, folder / "deeplab", labels).miou
        result = MethodRun(name, seed, curve.best_miou, curve.best_threshold, leak,
                           proxy.scores.miou, proxy.ignored, deeplab, step_miou,
                           time.perf_counter() - started, branch_a)
        if self.ctx.is_main:
            RunDir(folder).write_json("scores.json", result.to_dict())
        self.log(f"[compare] {method.label}, seed {seed}: attention mIoU "
                 f"{result.attention_miou:.1%} in {result.seconds:.0f} s")
        return result


    def deeplab(self, seed: int, folder: Path, labels_from: Path | None) -> SegmentationScores:
        """DeepLab-LargeFOV from the shared backbone, trained in ``folder`` with ``seed`` on the
        proxy labels in ``labels_from`` (``None``: the ground truth), scored on the validation
        images."""
        assert self.val_set is not None
        seg_cfg = self.recipe.deeplab.model("deeplab_largefov", weights=self.weights,
                                            weights_format=self.weights_format)
        seg = self.trained(seg_cfg, self.train_set,
                           with_changes(self.recipe.deeplab_train, seed=seed), folder,
                           labels_from=labels_from)
        return evaluate(seg, self.val_set, normalizer=seg_cfg.normalizer, ctx=self.ctx,
                        progress=self.progress)

    def run_ground_truth(self, seed: int) -> GroundTruthRun:
        """DeepLab on the ground-truth masks with ``seed``, scored on the validation images."""
        folder = self.root / f"seed_{seed}" / "ground_truth"
        scores = folder / "scores.json"
        if self.resume and scores.exists():
            self.log(f"[compare] DeepLab on the ground truth, seed {seed}: done before, skipped")
            return GroundTruthRun.from_dict(json.loads(scores.read_text()))
        self.log(f"[compare] DeepLab on the ground truth, seed {seed} ...")
        started = time.perf_counter()
        measured = self.deeplab(seed, folder / "deeplab", None)
        result = GroundTruthRun(seed, measured.miou,
                                tuple(None if np.isnan(v) else float(v) for v in measured.iou),
                                time.perf_counter() - started)
        if self.ctx.is_main:
            RunDir(folder).write_json("scores.json", result.to_dict())
        self.log(f"[compare] DeepLab on the ground truth, seed {seed}: mIoU {result.miou:.1%}, "
                 f"lowest class {result.min_class_iou:.1%}")
        return result


def attention_folder(run_dir: str | Path, method: str, seed: int, ae_steps: int) -> Path:
    """Where :func:`compare_methods` writes the attention a method is scored on.

    Examples
    --------
    >>> attention_folder("runs/compare", "seenet", 1, ae_steps=3).as_posix()
    'runs/compare/seed_1/seenet/attention'
    >>> attention_folder("runs/compare", "ae", 0, ae_steps=3).as_posix()
    'runs/compare/seed_0/ae/step_3/accumulated'
    """
    folder = Path(run_dir) / f"seed_{seed}" / method
    if METHODS[method].adversarial_erasing:
        return folder / f"step_{ae_steps}" / "accumulated"
    return folder / "attention"


def compare_methods(
    config: CompareConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    ctx: DistContext | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> CompareResult:
    """Train and score every method of ``config`` for every seed; write the report.

    Parameters
    ----------
    config
        What to compare (:class:`CompareConfig`).
    run_dir
        The run directory: a missing or empty one, or, with ``resume=True``, the run to
        continue (see the module docstring).
    resume, ctx, progress, log
        As in :func:`~wsss.engine.run_pipeline`.

    Returns
    -------
    CompareResult
        Every run and the summary over seeds; also written as ``results.json`` and, with the
        tables and figures, ``report.md``.

    Examples
    --------
    >>> import tempfile
    >>> tiny = CompareConfig(data=DataConfig(synthetic_train=4, image_size=48),
    ...                      methods=("cam", "ae"), seeds=(0,), ae_steps=2,
    ...                      iterations={"pretrain": 2, "classifier": 2}, batch_size=4,
    ...                      figures=1)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     result = compare_methods(tiny, tmp, progress=False, log=lambda message: None)
    >>> sorted(result.summary), len(result.summary["ae"].step_miou)
    (['ae', 'cam'], 2)
    """
    started = time.perf_counter()
    if not isinstance(config, CompareConfig):
        raise TypeError(f"config: expected a CompareConfig, got {type(config).__name__}")
    check_stage_args(run_dir=run_dir, resume=resume, ctx=ctx, progress=progress)
    if not callable(log):
        raise TypeError(f"log: expected a callable, got {type(log).__name__}")
    ctx = ctx or DistContext()
    root = Path(run_dir)
    if root.exists() and any(root.iterdir()) and not resume:
        raise ValueError(f"run_dir: {root} exists and is not empty; resume the run there or "
                         "choose another folder")
    if resume:
        _check_resume(root, {"compare": config, "recipe": config.resolved_recipe()})
    harness = _Harness(config, root, resume, ctx, progress, log)
    source = getattr(harness.train_set, "dataset", harness.train_set)
    pretrain = harness.pretrain_config()
    record = {"compare": config, "recipe": harness.recipe, "dataset": describe_dataset(source),
              "pretrain": pretrain, "methods": {k: METHODS[k] for k in config.methods}}
    run = RunDir(root)
    if ctx.is_main:
        run.write_config(record)
    if pretrain is not None:
        harness.pretrain(pretrain)
    runs = tuple(harness.run_method(name, seed) for seed in config.seeds
                 for name in config.methods)
    truth = tuple(harness.run_ground_truth(seed) for seed in config.seeds
                  if config.ground_truth and config.deeplab_seed(seed))
    labels = {name: METHODS[name].label for name in config.methods}
    result = CompareResult(root, harness.names, runs, summarise(runs, labels),
                           time.perf_counter() - started, truth)
    if ctx.is_main:
        from .compare_report import write_compare_report  # it imports this module

        write_compare_report(run, result, config, dataset=harness.train_set,
                             description=describe_dataset(source))
        run.write_json("results.json", result.to_dict())
    log(f"[compare] done in {result.total_seconds:.0f} s; report: {root / 'report.md'}")
    return result
