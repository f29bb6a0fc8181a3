"""The pipeline's stages: train, write attention, write proxy labels, score, evaluate.

::

    dataset (image labels) --train_model("seenet" | "cam_classifier")--> classifier weights
      --make_attention (CAMExtractor)--> attention maps (.npz per image)
      + saliency maps --make_pseudo_labels (fuse_saliency [+ CRF])--> proxy label PNGs
      --train_model("deeplab_largefov", labels_from=...)--> DeepLab weights
      --evaluate--> per-class IoU by class name

Every stage takes dataset *objects* (:func:`~wsss.engine.load_dataset`, or any dataset with
``class_names``, ``names``, ``__len__`` and ``__getitem__ -> Sample``), and the input
normalisation travels with the model (:attr:`ModelConfig.normalizer`). The class count of every
network comes from the dataset.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .._validation import MAX_SIDE, check_int, check_path
from ..balance import class_balance_weights, logit_adjustment, pixel_class_counts
from ..cam import CAMExtractor
from ..data.loader import AugmentedDataset
from ..data.relabel import WithLabels
from ..data.sample import Sample
from ..data.subset import DatasetSubset, split_by_labels
from ..data.transforms import (
    Compose,
    Normalizer,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
    Transform,
)
from ..io import save_checkpoint
from ..metrics import CAMThresholdCurve, SegmentationScores, ThresholdCurve
from ..threshold_labels import ThresholdRule
from ._arguments import check_stage_args
from .build import build_model, class_names
from .config import ModelConfig
from .distributed import DistContext
from .evaluation import LabelQuality, evaluate_label_dir, evaluate_segmentation
from .labelling import StageReport, generate_attention, generate_pseudo_labels, load_attention
from .refiners import make_refiner
from .rundir import RunDir
from .steps import acol_step, classifier_step, seenet_step, segmentation_step
from .trainer import TrainConfig, TrainResult, train

__all__ = [
    "attention_quality",
    "evaluate",
    "label_quality",
    "make_attention",
    "make_pseudo_labels",
    "pretrain_backbone",
    "stored_attention",
    "train_model",
    "train_transform",
]

_STEPS = {"seenet": seenet_step, "cam_classifier": classifier_step, "acol": acol_step,
          "deeplab_largefov": segmentation_step}


def train_transform(crop: int | None, normalizer: Normalizer) -> Transform:
    """The training augmentation: random scale (0.7-1.3), flip and a ``crop`` px crop (padded
    with the normaliser's zero), or, with ``crop=None``, flipping alone.

    Examples
    --------
    >>> from wsss.data.transforms import TORCHVISION
    >>> type(train_transform(None, TORCHVISION)).__name__
    'RandomHorizontalFlip'
    >>> len(train_transform(321, TORCHVISION).transforms)
    3
    """
    if not isinstance(normalizer, Normalizer):
        raise TypeError(f"normalizer: expected a Normalizer, got {type(normalizer).__name__}")
    if crop is None:
        return RandomHorizontalFlip()
    check_int("crop", crop, minimum=1, maximum=MAX_SIDE)
    return Compose((RandomScale(0.7, 1.3), RandomHorizontalFlip(),
                    RandomCrop(crop, image_fill=normalizer.fill)))


def train_model(
    model_config: ModelConfig,
    dataset: Sequence[Sample],
    train_config: TrainConfig,
    run: RunDir | None,
    *,
    labels_from: str | Path | None = None,
    crop: int | None = None,
    ctx: DistContext | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
) -> tuple[nn.Module, TrainResult]:
    """Train a classifier (``seenet``, ``cam_classifier``) or ``deeplab_largefov`` on ``dataset``.

    With ``train_config.class_weighting`` (DeepLab only) the pixel loss weights each class by
    its frequency in the training labels (:func:`~wsss.balance.class_balance_weights`, written
    to ``class_weights.json``), and the saved model's class logits are then shifted by
    :func:`~wsss.balance.logit_adjustment`, so that it predicts the unweighted posterior.

    Classifiers learn from image-level labels only, on the images that name at least one
    class (an image without any class teaches a classifier nothing about where a class is; the
    number left out is logged); the segmentation network learns from the pixel labels of the
    dataset, or from the proxy labels in ``labels_from``, on every image. The network has one
    output per class of ``dataset.class_names`` (plus the background for DeepLab). Images of
    different sizes are padded per batch (:func:`~wsss.data.pad_collate`).

    Parameters
    ----------
    model_config, dataset, train_config
        The network, the training images and the hyper-parameters; ``train_config.seed`` also
        seeds the initial weights.
    run
        Where rank 0 writes ``metrics.jsonl``, ``checkpoint.pt`` and ``model.pt``; ``None``
        keeps nothing.
    labels_from
        A folder of proxy label PNGs, ``<name>.png`` (for ``deeplab_largefov``).
    crop
        Training crop (see :func:`train_transform`); ``None`` uses whole images.
    ctx, resume, stop_after, progress
        As in :func:`~wsss.engine.trainer.train`.

    Returns
    -------
    tuple of (Module, TrainResult)
        The trained model and how training ended.

    Examples
    --------
    >>> import tempfile
    >>> from wsss.engine import DataConfig, load_dataset
    >>> train_set = load_dataset(DataConfig(synthetic_train=4, image_size=48), "train")
    >>> config = TrainConfig(iterations=2, batch_size=2)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     model, result = train_model(ModelConfig("seenet", backbone="resnet_tiny"), train_set,
    ...                                 config, RunDir(tmp), progress=False)
    ...     saved = sorted(p.name for p in Path(tmp).iterdir())
    >>> result.iteration, result.completed, saved
    (2, True, ['checkpoint.pt', 'metrics.jsonl', 'model.pt'])
    """
    check_stage_args(model_config=model_config, dataset=dataset, train_config=train_config,
                     labels_from=labels_from, crop=crop, ctx=ctx, resume=resume,
                     stop_after=stop_after, progress=progress)
    if run is not None:
        check_stage_args(run=run)
    if model_config.name not in _STEPS:
        raise ValueError(f"model_config.name: expected one of {sorted(_STEPS)}, "
                         f"got {model_config.name!r}")
    names = class_names(dataset)
    torch.manual_seed(train_config.seed)  # the initial weights, so that runs are reproducible
    model = build_model(model_config, len(names))
    source: Sequence[Sample] = dataset
    if model_config.name != "deeplab_largefov":
        keep, without = split_by_labels(dataset)
        if without:
            source = DatasetSubset(dataset, keep)
            if ctx is None or ctx.is_main:
                print(f"[{model_config.name}] {len(without)} of {len(dataset)} images name no "
                      f"class and are left out of classifier training")
    if labels_from is not None:
        source = WithLabels(source, labels_from)
    step = _STEPS[model_config.name]
    finalize = None
    if train_config.class_weighting != "none":
        if model_config.name != "deeplab_largefov":
            raise ValueError(f"train_config.class_weighting: weights a segmentation loss; "
                             f"{model_config.name!r} learns image labels (use 'none')")
        weights = _class_weights(source, len(names) + 1, train_config.class_weighting)
        offsets = logit_adjustment(weights)
        if ctx is None or ctx.is_main:
            shown = ", ".join(f"{n} {w:.2f}" for n, w in zip(("background", *names),
                                                            weights.tolist(), strict=True))
            print(f"[{model_config.name}] {train_config.class_weighting} class weights: {shown}")
            if run is not None:
                run.write_json("class_weights.json", {
                    "class_weighting": train_config.class_weighting,
                    "classes": ["background", *names], "weights": weights.tolist(),
                    "logit_adjustment": offsets.tolist()})
        step = functools.partial(segmentation_step, class_weights=weights)
        finalize = functools.partial(_adjust_logits, offsets=offsets)
    augmented = AugmentedDataset(source, train_transform(crop, model_config.normalizer),
                                 model_config.normalizer, seed=train_config.seed)
    result = train(model, augmented, step, train_config, run, ctx=ctx,
                   resume=resume, stop_after=stop_after, progress=progress,
                   desc=model_config.name, finalize=finalize)
    return model, result


def _adjust_logits(model: nn.Module, offsets: torch.Tensor) -> None:
    """Add ``offsets`` to DeepLab's class logits (its ``fc8`` bias): see
    :func:`~wsss.balance.logit_adjustment`."""
    fc8 = getattr(model, "fc8", None)
    bias = getattr(fc8, "bias", None)
    if not isinstance(bias, torch.Tensor):
        raise TypeError("model: expected DeepLab's fc8 with a bias")
    with torch.no_grad():
        bias += offsets.to(bias)


def _class_weights(dataset: Sequence[Sample], num_classes: int, mode: str) -> torch.Tensor:
    """Loss weights of ``mode`` from the pixel labels of every training image."""
    def labels() -> Iterator[np.ndarray]:
        for index in range(len(dataset)):
            label = dataset[index].label
            if label is None:
                raise ValueError(f"dataset: image {index} has no pixel labels to weight "
                                 f"classes by")
            yield label
    return class_balance_weights(pixel_class_counts(labels(), num_classes), mode)


def pretrain_backbone(
    model_config: ModelConfig,
    dataset: Sequence[Sample],
    train_config: TrainConfig,
    run: RunDir,
    *,
    crop: int | None = None,
    ctx: DistContext | None = None,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Train a classifier on the image labels and save its backbone: ImageNet's stand-in.

    Where no ImageNet weights exist (the embedded synthetic data), a classifier is first
    trained on the *image-level labels* of the training split, the only supervision the weakly
    supervised pipeline has, and every later network starts from its backbone, the plain CAM
    baseline too, so the comparison with SeeNet stays fair.

    Parameters
    ----------
    model_config
        The classifier to train (``"cam_classifier"`` or ``"seenet"``).
    dataset, train_config, run, crop, ctx, resume, progress
        As for :func:`train_model`.

    Returns
    -------
    pathlib.Path
        ``run.path / "backbone.pt"``: the backbone's ``state_dict`` (written atomically, by rank
        0), for ``ModelConfig(weights=path, weights_format="backbone")``. A run whose file
        exists is not trained again.

    Examples
    --------
    >>> import tempfile
    >>> from wsss.engine import DataConfig, build_model, load_dataset
    >>> train_set = load_dataset(DataConfig(synthetic_train=4, image_size=48), "train")
    >>> classifier = ModelConfig("cam_classifier", backbone="vgg16_tiny")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pretrain_backbone(classifier, train_set,
    ...                              TrainConfig(iterations=2, batch_size=2), RunDir(tmp),
    ...                              progress=False)
    ...     seenet = build_model(ModelConfig("seenet", "vgg16_tiny", weights=str(path),
    ...                                      weights_format="backbone"), 20)
    >>> path.name, seenet.backbone.num_blocks
    ('backbone.pt', 4)
    """
    check_stage_args(model_config=model_config, dataset=dataset, train_config=train_config,
                     run=run, crop=crop, ctx=ctx, resume=resume, progress=progress)
    if model_config.name == "deeplab_largefov":
        raise ValueError("model_config.name: pretraining trains a classifier on image labels")
    path = run.path / "backbone.pt"
    if path.exists():
        return path
    model, result = train_model(model_config, dataset, train_config, run, crop=crop, ctx=ctx,
                                resume=resume, progress=progress)
    if result.completed and (ctx is None or ctx.is_main):
        save_checkpoint(model.backbone.state_dict(), path)  # type: ignore[union-attr]
    if ctx is not None:
        ctx.barrier()
    return path


def make_attention(
    model: nn.Module,
    dataset: Sequence[Sample],
    out_dir: str | Path,
    *,
    normalizer: Normalizer,
    scales: Sequence[float] = (1.0,),
    flip: bool = True,
    ctx: DistContext | None = None,
    skip_bad: bool = False,
    progress: bool = True,
) -> StageReport:
    """Write attention maps (SeeNet: branches ``a``, ``b`` and their max) for every image.

    One ``<out_dir>/<name>.npz`` per image (see
    :func:`~wsss.engine.labelling.generate_attention`), holding the dataset's class names;
    :func:`~wsss.engine.labelling.load_attention` reads it back as ``float32`` ``(C, H, W)``
    maps. ``scales`` and ``flip`` are the test-time augmentation of :class:`~wsss.cam.CAMExtractor`;
    ``normalizer`` is the one the model was trained with.

    Examples
    --------
    >>> import tempfile
    >>> from wsss.engine import DataConfig, build_model, load_dataset
    >>> config = ModelConfig("seenet", backbone="resnet_tiny")
    >>> train_set = load_dataset(DataConfig(synthetic_train=2, image_size=48), "train")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     report = make_attention(build_model(config, 20), train_set, tmp,
    ...                             normalizer=config.normalizer, progress=False)
    ...     stored = load_attention(Path(tmp) / f"{report.written[0]}.npz")
    >>> len(report.written), stored.fused.shape, sorted(stored.branches)
    (2, (20, 48, 48), ['a', 'b'])
    """
    check_stage_args(model=model, dataset=dataset, out_dir=out_dir, normalizer=normalizer,
                     ctx=ctx, skip_bad=skip_bad, progress=progress)
    extractor = CAMExtractor(model, scales=scales, flip=flip)
    return generate_attention(extractor, dataset, out_dir, normalizer, ctx=ctx,
                              skip_bad=skip_bad, progress=progress)


def make_pseudo_labels(
    dataset: Sequence[Sample],
    attention_dir: str | Path,
    out_dir: str | Path,
    *,
    proxy: str = "saliency",
    method: str = "harmonic",
    fusion_kwargs: dict | None = None,
    threshold: ThresholdRule | None = None,
    refine: str = "none",
    ctx: DistContext | None = None,
    skip_bad: bool = False,
    progress: bool = True,
) -> StageReport:
    """Turn the stored attention into proxy label PNGs.

    Each ``<out_dir>/<name>.png`` is a ``uint8`` ``(H, W)`` label map (0 background, ``c + 1``
    class ``c``, 255 ignore). ``proxy="saliency"`` fuses the attention with each image's
    saliency map; ``proxy="threshold"`` needs no saliency: confident foreground and background
    by ``threshold`` (IRN's 0.30 / 0.05), the rest ignored. ``refine`` is ``"none"``, ``"crf"``
    (a dense CRF, the ``crf`` extra) or ``"pamr"`` (pure torch). See
    :func:`~wsss.engine.labelling.generate_pseudo_labels`.

    Examples
    --------
    >>> import tempfile
    >>> from wsss.data import read_label
    >>> from wsss.engine import DataConfig, build_model, load_dataset
    >>> config = ModelConfig("seenet", backbone="resnet_tiny")
    >>> train_set = load_dataset(DataConfig(synthetic_train=2, image_size=48), "train")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = make_attention(build_model(config, 20), train_set, Path(tmp) / "att",
    ...                        normalizer=config.normalizer, progress=False)
    ...     report = make_pseudo_labels(train_set, Path(tmp) / "att", Path(tmp) / "labels",
    ...                                 progress=False)
    ...     label = read_label(Path(tmp) / "labels" / f"{report.written[0]}.png")
    >>> len(report.written), label.shape, label.dtype
    (2, (48, 48), dtype('uint8'))
    """
    check_stage_args(dataset=dataset, attention_dir=attention_dir, out_dir=out_dir, ctx=ctx,
                     skip_bad=skip_bad, progress=progress)
    if fusion_kwargs is not None and not isinstance(fusion_kwargs, dict):
        raise TypeError(f"fusion_kwargs: expected a dict of fuse_saliency arguments or None, "
                        f"got {type(fusion_kwargs).__name__}")
    return generate_pseudo_labels(
        dataset, attention_dir, out_dir, proxy=proxy, method=method, fusion_kwargs=fusion_kwargs,
        threshold=threshold, refine=make_refiner(refine), ctx=ctx, skip_bad=skip_bad,
        progress=progress,
    )


def stored_attention(
    dataset: Sequence[Sample], attention_dir: str | Path, branch: str | None = None
) -> Iterator[tuple[Sample, np.ndarray]]:
    """``(sample, maps)`` for every image of ``dataset`` that names a class, the maps read from
    ``attention_dir``.

    ``maps`` is ``float32`` ``(C, H, W)``: the stored ``branch`` (``"a"``, ``"b"``, ``"cam"``)
    or, with ``None``, the fused maps.

    Raises
    ------
    ValueError
        A file holds other classes than the dataset, or has no such branch; the message names
        the file.

    Examples
    --------
    >>> import tempfile
    >>> from wsss.engine import DataConfig, build_model, load_dataset
    >>> config = ModelConfig("seenet", backbone="resnet_tiny")
    >>> train_set = load_dataset(DataConfig(synthetic_train=2, image_size=48), "train")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = make_attention(build_model(config, 20), train_set, tmp,
    ...                        normalizer=config.normalizer, progress=False)
    ...     shapes = [maps.shape for _, maps in stored_attention(train_set, tmp, "a")]
    >>> shapes
    [(20, 48, 48), (20, 48, 48)]
    """
    names = class_names(dataset)
    directory = check_path("attention_dir", attention_dir)
    if branch is not None and not isinstance(branch, str):
        raise TypeError(f"branch: expected a str or None, got {type(branch).__name__}")
    for sample in dataset:
        if not np.any(sample.classes):
            continue  # no class, no attention file
        path = directory / f"{sample.name}.npz"
        stored = load_attention(path, class_names=names)
        if branch is None:
            yield sample, stored.fused
        elif branch in stored.branches:
            yield sample, stored.branches[branch]
        else:
            raise ValueError(f"{path}: no branch {branch!r} (stored: {sorted(stored.branches)})")


def attention_quality(
    dataset: Sequence[Sample], attention_dir: str | Path, branch: str | None = None
) -> ThresholdCurve:
    """Pseudo-label mIoU of stored attention at every background threshold.

    ``branch`` picks a stored branch (``"a"``, ``"b"``, ``"cam"``); ``None`` the fused maps.
    The curve's best point is tuned on ground truth (an oracle).

    Returns
    -------
    ThresholdCurve
        ``thresholds`` and ``miou``, ``float64`` ``(T,)`` with ``T = 21`` thresholds
        ``0, 0.05, ..., 1``, and the (oracle) best point.

    Examples
    --------
    >>> import tempfile
    >>> from wsss.engine import DataConfig, build_model, load_dataset
    >>> config = ModelConfig("seenet", backbone="resnet_tiny")
    >>> train_set = load_dataset(DataConfig(synthetic_train=2, image_size=48), "train")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = make_attention(build_model(config, 20), train_set, tmp,
    ...                        normalizer=config.normalizer, progress=False)
    ...     curve = attention_quality(train_set, tmp, branch="a")
    >>> curve.thresholds.shape, curve.miou.shape, 0.0 <= curve.best_miou <= 1.0
    ((21,), (21,), True)
    """
    names = class_names(dataset)
    curve = CAMThresholdCurve(num_classes=len(names) + 1, class_names=("background", *names))
    for sample, maps in stored_attention(dataset, attention_dir, branch):
        if sample.label is None:
            raise ValueError(f"dataset: image {sample.name} has no ground truth to score against")
        curve.update(maps, sample.classes, sample.label)
    return curve.compute()


def label_quality(dataset: Sequence[Sample], label_dir: str | Path) -> LabelQuality:
    """mIoU and ignored fraction of proxy labels against the dataset's ground truth.

    ``label_dir`` holds ``<name>.png`` label maps, ``uint8`` ``(H, W)``, for every image (see
    :func:`~wsss.engine.evaluation.evaluate_label_dir`).

    Examples
    --------
    Scoring the ground truth itself:

    >>> import tempfile
    >>> from wsss.data import write_label
    >>> from wsss.engine import DataConfig, load_dataset
    >>> train_set = load_dataset(DataConfig(synthetic_train=2, image_size=48), "train")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for sample in train_set:
    ...         write_label(Path(tmp) / f"{sample.name}.png", sample.label)
    ...     quality = label_quality(train_set, tmp)
    >>> quality.scores.miou, quality.ignored
    (1.0, 0.0)
    """
    return evaluate_label_dir(dataset, label_dir, class_names=class_names(dataset))


def evaluate(
    model: nn.Module,
    dataset: Sequence[Sample],
    *,
    normalizer: Normalizer,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    crf: bool = False,
    save_dir: str | Path | None = None,
    ctx: DistContext | None = None,
    progress: bool = True,
) -> SegmentationScores:
    """mIoU of a segmentation network on ``dataset`` (optionally with a dense CRF).

    ``scales`` and ``flip`` are the test-time augmentation of
    :func:`~wsss.engine.evaluation.predict_segmentation`; ``save_dir`` receives the predictions
    as ``uint8`` ``(H, W)`` label PNGs.

    Returns
    -------
    SegmentationScores
        ``miou`` and per-class ``iou``, ``float64`` ``(C + 1,)`` named background then
        ``dataset.class_names`` (NaN for classes absent from both the ground truth and the
        predictions).

    Examples
    --------
    >>> from wsss.engine import DataConfig, build_model, load_dataset
    >>> config = ModelConfig("deeplab_largefov", backbone="resnet_tiny")
    >>> val = load_dataset(DataConfig(synthetic_val=2, image_size=48), "val")
    >>> scores = evaluate(build_model(config, 20), val, normalizer=config.normalizer,
    ...                   progress=False)
    >>> scores.iou.shape, scores.class_names[:2], 0.0 <= scores.miou <= 1.0
    ((21,), ('background', 'aeroplane'), True)
    """
    check_stage_args(model=model, dataset=dataset, normalizer=normalizer, flip=flip, crf=crf,
                     save_dir=save_dir, ctx=ctx, progress=progress)
    refine = None
    if crf:
        from ..crf import DEEPLAB_V1, dense_crf

        def refine(sample: Sample, probs: np.ndarray) -> np.ndarray:
            return dense_crf(sample.image, probs, DEEPLAB_V1).argmax(0).astype(np.uint8)

    return evaluate_segmentation(
        model, dataset, normalizer, class_names=class_names(dataset), scales=scales, flip=flip,
        refine=refine, save_dir=save_dir, ctx=ctx, progress=progress,
    )
