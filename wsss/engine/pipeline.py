"""The whole pipeline as one call: :func:`run_pipeline`.

::

    [pretrain a backbone on the image labels]            (synthetic recipe only)
    train SeeNet, train the plain CAM baseline           (image labels only)
    --> attention maps of both --> scored against the ground truth (oracle threshold)
    --> proxy labels of both (attention fused with saliency)
    --> DeepLab-LargeFOV on SeeNet's proxies, on the CAM's proxies, on the ground truth
    --> mIoU on the validation images --> report.md, results.json, figures

Every stage writes into the run directory and is skipped on ``resume=True`` when its output
exists, so an interrupted run continues where it stopped.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from .._validation import MAX_COUNT, check_bool, check_choice, check_int, check_path
from ..balance import CLASS_WEIGHTINGS
from ..data.protocol import describe_dataset
from ..data.sample import Sample
from ..metrics import SegmentationScores, ThresholdCurve
from ._arguments import check_stage_args
from .build import InMemory, class_names, load_dataset, load_trained
from .checks import (
    class_frequencies,
    class_weighting_hint,
    classifier_check,
    segmentation_check,
)
from .config import WEIGHT_FORMATS, DataConfig, ModelConfig, Recipe, recipe_for, with_changes
from .distributed import DistContext
from .evaluation import LabelQuality
from .labelling import PROXY_ROUTES
from .preflight import check_data, from_scratch
from .refiners import REFINERS
from .rundir import RunDir
from .stages import (
    attention_quality,
    evaluate,
    label_quality,
    make_attention,
    make_pseudo_labels,
    pretrain_backbone,
    train_model,
)
from .trainer import TrainConfig

__all__ = ["ATTENTION_MAPS", "PipelineConfig", "PipelineResult", "run_pipeline"]

#: The attention maps a run scores: ``{name: (classifier, stored branch)}``.
ATTENTION_MAPS: Mapping[str, tuple[str, str | None]] = {
    "plain CAM": ("cam", None),
    "SeeNet S_A": ("seenet", "a"),
    "SeeNet max(S_A, S_B)": ("seenet", None),
}


@dataclass(frozen=True)
class PipelineConfig:
    """Everything a pipeline run needs besides its run directory.

    Attributes
    ----------
    data
        The images (:class:`~wsss.engine.DataConfig`).
    recipe
        Backbones and schedules; ``None`` picks :func:`~wsss.engine.recipe_for` ``(data)``.
    backbone
        Replaces the recipe's backbone of every network (``None``: the recipe's).
    weights, weights_format
        Initial backbone weights of every network (ImageNet, or DeepLab's Caffe init); with
        ``None`` and a recipe that pretrains, the pretrained backbone.
    iterations
        Replaces the step counts: ``{"pretrain" | "classifier" | "deeplab": steps}``.
    deeplab_class_weighting
        Replaces DeepLab's class weighting of the pixel loss (``"none"``, ``"inverse"``,
        ``"sqrt_inverse"``; see :class:`~wsss.engine.TrainConfig`); ``None``: the recipe's.
    batch_size, micro_batch, seed
        Replace every training's effective batch, images per forward pass and seed.
    baseline_deeplab
        Also train DeepLab on the plain CAM's proxy labels (same saliency, fusion and schedule),
        so that SeeNet's end-to-end gain is measured, not inferred.
    proxy
        How attention becomes proxy labels: ``"saliency"`` (fused with the dataset's saliency
        maps; the threshold route is then scored too, for comparison) or ``"threshold"`` (no
        saliency needed: confident foreground / background thresholds, the rest ignored).
    refine
        Refinement of the proxy labels: ``"none"``, ``"crf"`` (the ``crf`` extra) or ``"pamr"``.
    crf
        Dense CRF on DeepLab's predictions at evaluation (the ``crf`` extra).
    figures
        Images in the report's figure.
    diagnostics
        Also run :mod:`wsss.diagnostics` and report it (research probes; slower).
    skip_bad
        Skip unreadable images in the per-image stages (listed in ``bad_inputs.json``).

    Examples
    --------
    >>> config = PipelineConfig(iterations={"classifier": 10})
    >>> config.resolved_recipe().classifier_train.iterations
    10
    >>> PipelineConfig(iterations={"seenet": 10})
    Traceback (most recent call last):
    ...
    ValueError: iterations: expected keys among (...), got ['seenet']
    """

    data: DataConfig = field(default_factory=DataConfig)
    recipe: Recipe | None = None
    backbone: str | None = None
    weights: str | None = None
    weights_format: str = "torchvision"
    iterations: Mapping[str, int] = field(default_factory=dict)
    batch_size: int | None = None
    micro_batch: int | None = None
    seed: int | None = None
    deeplab_class_weighting: str | None = None
    baseline_deeplab: bool = True
    proxy: str = "saliency"
    refine: str = "none"
    crf: bool = False
    figures: int = 4
    diagnostics: bool = False
    skip_bad: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.data, DataConfig):
            raise TypeError(f"data: expected a DataConfig, got {type(self.data).__name__}")
        if self.recipe is not None and not isinstance(self.recipe, Recipe):
            raise TypeError(f"recipe: expected a Recipe or None, got {type(self.recipe).__name__}")
        for name in ("backbone", "weights"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name}: expected a str or None, got {type(value).__name__}")
        check_choice("weights_format", self.weights_format, WEIGHT_FORMATS)
        for name in ("batch_size", "micro_batch"):
            if getattr(self, name) is not None:
                check_int(name, getattr(self, name), minimum=1, maximum=MAX_COUNT)
        if self.seed is not None:
            check_int("seed", self.seed, minimum=0)
        for name in ("baseline_deeplab", "crf", "diagnostics", "skip_bad"):
            check_bool(name, getattr(self, name))
        if not isinstance(self.iterations, Mapping):
            raise TypeError(f"iterations: expected a mapping of stage -> int, got "
                            f"{type(self.iterations).__name__}")
        for key, value in self.iterations.items():
            check_int(f"iterations[{key!r}]", value, minimum=1, maximum=MAX_COUNT)
        check_int("figures", self.figures, maximum=MAX_COUNT)
        keys = ("pretrain", "classifier", "deeplab")
        unknown = sorted(set(self.iterations) - set(keys))
        if unknown:
            raise ValueError(f"iterations: expected keys among {keys}, got {unknown}")
        if isinstance(self.figures, bool) or not isinstance(self.figures, int) or self.figures < 0:
            raise ValueError(f"figures: expected an int >= 0, got {self.figures!r}")
        if self.deeplab_class_weighting is not None:
            check_choice("deeplab_class_weighting", self.deeplab_class_weighting,
                         CLASS_WEIGHTINGS)
        if self.proxy not in PROXY_ROUTES:
            raise ValueError(f"proxy: expected one of {PROXY_ROUTES}, got {self.proxy!r}")
        if self.refine not in REFINERS:
            raise ValueError(f"refine: expected one of {REFINERS}, got {self.refine!r}")

    def resolved_recipe(self) -> Recipe:
        """The recipe with this config's replacements applied."""
        recipe = self.recipe or recipe_for(self.data)
        common = {"batch_size": self.batch_size, "micro_batch": self.micro_batch,
                  "seed": self.seed}

        def train(config: TrainConfig | None, key: str, **more: Any) -> TrainConfig | None:
            if config is None:
                return None
            return with_changes(config, iterations=self.iterations.get(key), **common, **more)

        changes: dict[str, Any] = {
            "classifier_train": train(recipe.classifier_train, "classifier"),
            "deeplab_train": train(recipe.deeplab_train, "deeplab",
                                   class_weighting=self.deeplab_class_weighting),
            "pretrain_train": train(recipe.pretrain_train, "pretrain"),
        }
        if self.backbone is not None:
            changes["classifier"] = dataclasses.replace(recipe.classifier, backbone=self.backbone)
            changes["deeplab"] = dataclasses.replace(recipe.deeplab, backbone=self.backbone)
        return recipe.replace(**changes)

    def pretrains(self) -> bool:
        """Whether the run pretrains its backbone (a recipe that does, and no given weights)."""
        return self.resolved_recipe().pretrain is not None and self.weights is None


@dataclass(frozen=True)
class PipelineResult:
    """Every number a pipeline run reports.

    Attributes
    ----------
    run_dir
        Where the run wrote its files.
    class_names
        The dataset's foreground classes.
    attention
        Each map of :data:`ATTENTION_MAPS` as pseudo labels on the training images, at every
        background threshold (best point tuned on ground truth: an oracle).
    proxy
        Quality of the proxy labels of each classifier (``"seenet"``, ``"cam"``; with saliency
        also ``"seenet, threshold"``: SeeNet's attention by the saliency-free route).
    deeplab
        DeepLab's scores on the validation images, by what it was trained on
        (``"seenet"``, ``"cam"``, ``"ground truth"``).
    seconds
        Wall time of each stage this call ran.
    total_seconds
        Wall time of this call.
    warnings
        What the learning checks found (:mod:`wsss.engine.checks`).
    diagnostics
        The diagnostics' numbers, when asked for.
    proxy_route
        How the proxy labels DeepLab trained on were made (``"saliency"`` or ``"threshold"``).

    Examples
    --------
    A one-class result built by hand (:func:`run_pipeline` returns real ones):

    >>> import numpy as np
    >>> from wsss.metrics import CAMThresholdCurve, ConfusionMatrix
    >>> matrix = ConfusionMatrix(2, class_names=("background", "cat"))
    >>> matrix.update(np.array([[0, 1, 1]]), np.array([[0, 1, 0]]))
    >>> curve = CAMThresholdCurve([0.5], num_classes=2)
    >>> curve.update(np.array([[[0.9, 0.1, 0.7]]]), np.array([1]), np.array([[1, 0, 1]]))
    >>> result = PipelineResult(
    ...     Path("runs/pipeline"), ("cat",), {name: curve.compute() for name in ATTENTION_MAPS},
    ...     {"seenet": LabelQuality(matrix.compute(), ignored=0.1)},
    ...     {"seenet": matrix.compute(), "ground truth": matrix.compute()},
    ...     seconds={"train seenet": 3.0}, total_seconds=5.0)
    >>> result.ratio, result.seenet_margin, result.to_dict()["deeplab_miou"]["seenet"]
    (1.0, 0.0, 0.5)
    """

    run_dir: Path
    class_names: tuple[str, ...]
    attention: dict[str, ThresholdCurve]
    proxy: dict[str, LabelQuality]
    deeplab: dict[str, SegmentationScores]
    seconds: dict[str, float]
    total_seconds: float
    warnings: tuple[str, ...] = ()
    diagnostics: dict[str, Any] | None = None
    proxy_route: str = "saliency"

    @property
    def seenet_margin(self) -> float:
        """``max(S_A, S_B)`` minus the plain CAM, in attention mIoU (fractions)."""
        return (self.attention["SeeNet max(S_A, S_B)"].best_miou
                - self.attention["plain CAM"].best_miou)

    @property
    def ratio(self) -> float:
        """DeepLab on SeeNet's proxy labels over DeepLab on the ground truth (mIoU)."""
        return self.deeplab["seenet"].miou / self.deeplab["ground truth"].miou

    def to_dict(self) -> dict[str, Any]:
        """The numbers as ``results.json`` stores them."""
        return {
            "class_names": list(self.class_names),
            "attention_miou": {k: c.best_miou for k, c in self.attention.items()},
            "attention_threshold": {k: c.best_threshold for k, c in self.attention.items()},
            "seenet_margin": self.seenet_margin,
            "proxy_label_miou": {k: q.scores.miou for k, q in self.proxy.items()},
            "proxy_label_ignored": {k: q.ignored for k, q in self.proxy.items()},
            "deeplab_miou": {k: s.miou for k, s in self.deeplab.items()},
            "deeplab_per_class": {k: s.to_dict() for k, s in self.deeplab.items()},
            "ratio": self.ratio,
            "seconds": self.seconds,
            "total_seconds": self.total_seconds,
            "warnings": list(self.warnings),
            "proxy_route": self.proxy_route,
            "diagnostics": self.diagnostics,
        }


class _Timer:
    def __init__(self, log: Callable[[str], None]) -> None:
        self.seconds: dict[str, float] = {}
        self.log = log

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        self.log(f"[pipeline] {name} ...")
        yield
        self.seconds[name] = time.perf_counter() - start
        self.log(f"[pipeline] {name}: {self.seconds[name]:.0f} s")


def _final_loss(run: RunDir, key: str) -> float:
    """Mean of the last three logged values of ``key`` (the training loss)."""
    values = [float(r[key]) for r in run.read_metrics() if key in r]
    tail = values[-3:]
    return sum(tail) / len(tail) if tail else float("nan")


def _pretrain_model(config: PipelineConfig, recipe: Recipe) -> ModelConfig | None:
    """The classifier whose backbone every network of a run starts from (``None``: given
    weights, or a recipe that does not pretrain)."""
    if recipe.pretrain is None or config.weights is not None:
        return None
    model = recipe.pretrain.model("cam_classifier")
    if config.backbone is not None:
        model = dataclasses.replace(model, backbone=config.backbone)
    return model


def _pretrain(model: ModelConfig, data: DataConfig, recipe: Recipe, root: Path, *,
              ctx: DistContext, resume: bool, progress: bool) -> Path:
    """Pretrain ``model`` on the image labels into ``root/pretrain/backbone.pt`` (kept if it
    exists), on training images that show the objects' parts with the recipe's probability."""
    assert recipe.pretrain_train is not None
    part_prob = recipe.pretrain_part_prob
    pretrain_data = (data if part_prob is None
                     else dataclasses.replace(data, synthetic_part_prob=part_prob))
    return pretrain_backbone(model, _load(pretrain_data, "train"), recipe.pretrain_train,
                             RunDir(root / "pretrain"), crop=recipe.crop, ctx=ctx,
                             resume=resume, progress=progress)


def _load(data: DataConfig, split: str) -> Sequence[Sample]:
    dataset = load_dataset(data, split)
    return InMemory(dataset) if data.synthetic else dataset


def run_pipeline(
    config: PipelineConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    ctx: DistContext | None = None,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> PipelineResult:
    """Run every stage in order and write ``report.md``, ``results.json`` and figures.

    Parameters
    ----------
    config
        What to run (:class:`PipelineConfig`).
    run_dir
        The run directory. A new run needs a missing or empty one; ``resume=True`` continues
        the run there, skipping every stage whose output exists.
    resume
        Continue an interrupted run.
    ctx
        The process's :class:`~wsss.engine.distributed.DistContext` (device, ranks); ``None``
        runs on the CPU in one process.
    progress
        Show progress bars.
    log
        Where stage messages go.

    Returns
    -------
    PipelineResult

    Examples
    --------
    >>> import tempfile
    >>> tiny = PipelineConfig(
    ...     data=DataConfig(synthetic_train=8, synthetic_val=4, image_size=48),
    ...     iterations={"pretrain": 2, "classifier": 2, "deeplab": 2}, batch_size=4, figures=1)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     result = run_pipeline(tiny, tmp, progress=False, log=lambda message: None)
    ...     written = sorted(p.name for p in Path(tmp).glob("*.*"))
    >>> sorted(result.deeplab), written
    (['cam', 'ground truth', 'seenet'], ['config.json', 'report.md', 'results.json'])
    >>> 0.0 <= result.attention["SeeNet S_A"].best_miou <= 1.0
    True
    """
    if not isinstance(config, PipelineConfig):
        raise TypeError(f"config: expected a PipelineConfig, got {type(config).__name__}")
    check_stage_args(run_dir=run_dir, resume=resume, ctx=ctx, progress=progress)
    if not callable(log):
        raise TypeError(f"log: expected a callable taking a str, got {type(log).__name__}")
    ctx = ctx or DistContext()
    root = check_path("run_dir", run_dir)
    if root.exists() and any(root.iterdir()) and not resume:
        raise ValueError(f"run_dir: {root} exists and is not empty; resume the run there "
                         "or choose another folder")
    # every input is checked before the first stage starts (a PreflightError names it)
    check_data(config.data, "train", masks=True, saliency=config.proxy == "saliency",
               skip_bad=config.skip_bad)
    check_data(config.data, "val", masks=True)
    run = RunDir(root)
    if ctx.is_main:
        run.path.mkdir(parents=True, exist_ok=True)
    # one run per directory: a second process on a live run is refused (rank 0 holds the lock)
    with run.lock() if ctx.is_main else nullcontext():
        return _run(config, run, resume=resume, ctx=ctx, progress=progress, log=log)


def _run(
    config: PipelineConfig,
    run: RunDir,
    *,
    resume: bool,
    ctx: DistContext,
    progress: bool,
    log: Callable[[str], None],
) -> PipelineResult:
    """The stages of :func:`run_pipeline`, in order, under the run directory's lock."""
    root = run.path
    data = config.data
    recipe = config.resolved_recipe()
    train_set, val_set = _load(data, "train"), _load(data, "val")
    names = class_names(train_set)
    if class_names(val_set, "val") != names:
        raise ValueError("data: the training and validation images name different classes")

    weights, weights_format = config.weights, config.weights_format
    backbone_file = root / "pretrain" / "backbone.pt"
    pretrain_cfg = _pretrain_model(config, recipe)
    if pretrain_cfg is not None:
        weights, weights_format = str(backbone_file), "backbone"
    seenet_cfg = recipe.classifier.model("seenet", weights=weights, weights_format=weights_format)
    cam_cfg = recipe.classifier.model("cam_classifier", weights=weights,
                                      weights_format=weights_format)
    deeplab_cfg = recipe.deeplab.model("deeplab_largefov", weights=weights,
                                       weights_format=weights_format)
    source = train_set.dataset if isinstance(train_set, InMemory) else train_set
    if ctx.is_main:
        run.write_config({"data": data, "dataset": describe_dataset(source), "recipe": recipe,
                          "pipeline": config, "seenet": seenet_cfg, "cam": cam_cfg,
                          "deeplab": deeplab_cfg, "pretrain": pretrain_cfg})

    timer = _Timer(log)
    started = time.perf_counter()
    if pretrain_cfg is not None and not backbone_file.exists():
        with timer("pretrain backbone"):
            _pretrain(pretrain_cfg, data, recipe, root, ctx=ctx, resume=resume, progress=progress)

    def trained(cfg: ModelConfig, name: str, train_cfg: TrainConfig,
                labels_from: Path | None = None) -> nn.Module:
        stage = RunDir(root / name)
        if resume and stage.model_path.exists():
            return load_trained(cfg, stage.model_path, len(names)).to(ctx.device)
        with timer(f"train {name}"):
            model, _ = train_model(cfg, train_set, train_cfg, stage, labels_from=labels_from,
                                   crop=recipe.crop, ctx=ctx, resume=resume, progress=progress)
        return model

    models = {"seenet": trained(seenet_cfg, "seenet", recipe.classifier_train),
              "cam": trained(cam_cfg, "cam", recipe.classifier_train)}
    normalizer = seenet_cfg.normalizer
    with timer("attention"):
        for name, model in models.items():
            done = make_attention(model, train_set, root / f"attention_{name}",
                                  normalizer=normalizer, scales=recipe.attention_scales,
                                  flip=True, ctx=ctx, skip_bad=config.skip_bad,
                                  progress=progress)
            _write_bad_inputs(RunDir(root / f"attention_{name}"), done.failed)
    ctx.barrier()
    with timer("score attention"):
        curves = {label: attention_quality(train_set, root / f"attention_{model}", branch)
                  for label, (model, branch) in ATTENTION_MAPS.items()}
    proxies = ("seenet", "cam") if config.baseline_deeplab else ("seenet",)
    proxy_quality: dict[str, LabelQuality] = {}
    labelled = {name: (name, config.proxy) for name in proxies}
    if config.proxy == "saliency":  # the saliency-free route too, scored for comparison
        labelled["seenet, threshold"] = ("seenet", "threshold")
    with timer("proxy labels"):
        for key, (name, route) in labelled.items():
            out = root / _proxy_dir(key)
            done = make_pseudo_labels(train_set, root / f"attention_{name}", out, proxy=route,
                                      refine=config.refine, ctx=ctx, skip_bad=config.skip_bad,
                                      progress=progress)
            _write_bad_inputs(RunDir(out), done.failed)
            if done.no_class and ctx.is_main and key == "seenet":
                run.write_json("no_class_images.json", list(done.no_class))
                log(f"[pipeline] {len(done.no_class)} training images name no class: left out "
                    "of classifier training and labelled all background (no_class_images.json)")
        ctx.barrier()
        for key in labelled:
            proxy_quality[key] = label_quality(train_set, root / _proxy_dir(key))
    deeplabs = {name: trained(deeplab_cfg, f"deeplab_{name}", recipe.deeplab_train,
                              labels_from=root / _proxy_dir(name)) for name in proxies}
    deeplabs["ground truth"] = trained(deeplab_cfg, "deeplab_gt", recipe.deeplab_train)
    with timer("evaluate"):
        scores = {name: evaluate(model, val_set, normalizer=normalizer, crf=config.crf, ctx=ctx,
                                 progress=progress) for name, model in deeplabs.items()}

    frequencies = class_frequencies(train_set)
    warnings = [w for w in (
        classifier_check("SeeNet", _final_loss(RunDir(root / "seenet"), "loss_a"), frequencies),
        classifier_check("the CAM classifier", _final_loss(RunDir(root / "cam"), "loss"),
                         frequencies),
    ) if w is not None]
    missed = segmentation_check("DeepLab on the ground truth", scores["ground truth"])
    warnings += missed + segmentation_check("DeepLab on SeeNet's proxy labels", scores["seenet"])
    hint = class_weighting_hint(missed, recipe.deeplab_train.class_weighting)
    if hint is not None:
        warnings.append(hint)
    scratch = from_scratch(data, config.weights)
    if scratch is not None:
        warnings.insert(0, scratch)
    for message in warnings:
        log(f"[pipeline] warning: {message}")

    diagnostics = None
    diagnostics_text = ""
    if config.diagnostics:
        from ..diagnostics import pipeline_diagnostics  # opt-in: not on the main path

        with timer("diagnostics"):
            found = pipeline_diagnostics(
                train_set, {label: (str(root / f"attention_{model}"), branch)
                            for label, (model, branch) in ATTENTION_MAPS.items()}
                | {"SeeNet S_B": (root / "attention_seenet", "b")},
                models["seenet"], normalizer=normalizer, progress=progress)
        diagnostics, diagnostics_text = found.to_dict(), found.to_markdown()

    result = PipelineResult(
        run_dir=root, class_names=names, attention=curves, proxy=proxy_quality, deeplab=scores,
        seconds=dict(timer.seconds), total_seconds=time.perf_counter() - started,
        warnings=tuple(warnings), diagnostics=diagnostics, proxy_route=config.proxy,
    )
    if ctx.is_main:
        from .report import write_report  # the report module imports this one

        write_report(run, result, dataset=train_set, description=describe_dataset(source),
                     segmenter=deeplabs["seenet"], normalizer=normalizer, figures=config.figures,
                     extra=diagnostics_text)
        run.write_json("results.json", result.to_dict())
    log(f"[pipeline] done in {result.total_seconds:.0f} s; report: {root / 'report.md'}")
    return result


def _proxy_dir(name: str) -> str:
    return "pseudo_labels" if name == "seenet" else "pseudo_labels_" + name.replace(", ", "_")


def _write_bad_inputs(run: RunDir, failed: Sequence[tuple[str, str]]) -> None:
    if failed:
        run.write_json("bad_inputs.json", [{"name": n, "reason": r} for n, r in failed])
