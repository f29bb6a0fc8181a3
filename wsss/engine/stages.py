"""The pipeline's stages, as functions the example scripts call.

::

    images + image labels --train_classifier("seenet")--> SeeNet weights
      --make_attention (CAMExtractor)--> attention maps (.npz per image)
      + saliency maps --make_pseudo_labels (fuse_saliency [+ crf])--> proxy label PNGs
      --train_segmentation--> DeepLab weights --evaluate_segmentation--> mIoU table

Every stage reads a :class:`DataConfig` that names the data: the embedded synthetic dataset
(:class:`~wsss.data.synthetic.SyntheticVOC`, the default, no download) or PASCAL VOC 2012 with
``voc_root`` (plus SBD and a saliency folder). Two presets fix the recipe of each: ``"voc"``
follows the papers (SGD, ImageNet weights, 321 px crops; design section 8) and ``"synthetic"``
trains narrow networks from scratch on a CPU in minutes (AdamW, batch norm).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy import ndimage
from torch import nn
from tqdm.auto import tqdm

from ..cam import CAMExtractor, ClassMapFn
from ..data.loader import AugmentedDataset
from ..data.relabel import WithLabels
from ..data.sample import NUM_CLASSES, Sample
from ..data.synthetic import SyntheticVOC
from ..data.transforms import (
    CAFFE,
    TORCHVISION,
    Compose,
    Normalizer,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
    Transform,
    to_tensor,
)
from ..data.voc import VOCSegmentation
from ..io import load_checkpoint, save_checkpoint
from ..layers import conditional_relu
from ..masks import ternary_mask
from ..metrics import (
    AttentionProfile,
    AttentionProfileCounter,
    CAMThresholdCurve,
    SegmentationScores,
    TernaryZoneCounter,
    ThresholdCurve,
    ZoneShares,
)
from ..models import SeeNet, create_model
from ..models.weights import (
    load_backbone_weights,
    load_deeplab_caffe_vgg16,
    load_imagenet_resnet,
    load_imagenet_vgg16,
)
from .distributed import DistContext
from .labelling import (
    LabelQuality,
    StageReport,
    StoredAttention,
    crf_refiner,
    evaluate_label_dir,
    evaluate_segmentation,
    generate_attention,
    generate_pseudo_labels,
    load_attention,
)
from .optim import LRMultipliers
from .rundir import RunDir
from .steps import classifier_step, seenet_step, segmentation_step
from .trainer import TrainConfig, TrainResult, train

__all__ = [
    "ERASING_ZONES",
    "PART_REACH_BINS",
    "PRESETS",
    "WEIGHT_FORMATS",
    "AttentionScore",
    "DataConfig",
    "ModelConfig",
    "PartReach",
    "attention_profiles",
    "attention_quality",
    "attention_zones",
    "build_model",
    "erasing_ablation",
    "evaluate",
    "label_quality",
    "load_dataset",
    "load_trained",
    "make_attention",
    "make_pseudo_labels",
    "part_reach",
    "preset",
    "pretrain_backbone",
    "set_threads",
    "train_model",
    "with_changes",
]


@dataclass(frozen=True)
class DataConfig:
    """Which images a stage reads.

    Attributes
    ----------
    voc_root
        The folder holding ``VOCdevkit/VOC2012`` (or the VOC2012 folder itself); ``None`` uses
        the embedded synthetic dataset.
    sbd_root
        SBD's ``benchmark_RELEASE`` folder (needed for ``train_aug``).
    saliency_dir
        Saliency PNGs named after the images (e.g. DSS outputs) for the proxy labels.
    train_split, val_split
        VOC splits (``"train_aug"`` and ``"val"``).
    synthetic_train, synthetic_val, image_size, seed
        Size and seed of the synthetic splits.
    synthetic_part_prob
        :class:`~wsss.data.synthetic.SyntheticVOC`'s ``part_prob``: the probability that a
        synthetic object shows its discriminative part (1; the synthetic recipe pretrains its
        backbone on 0.5).

    Examples
    --------
    >>> data = DataConfig(synthetic_train=4, synthetic_val=2, image_size=48)
    >>> data.synthetic, len(load_dataset(data, "train")), len(load_dataset(data, "val"))
    (True, 4, 2)
    >>> DataConfig(voc_root="data/VOCdevkit").synthetic
    False
    """

    voc_root: str | None = None
    sbd_root: str | None = None
    saliency_dir: str | None = None
    train_split: str = "train_aug"
    val_split: str = "val"
    synthetic_train: int = 1000
    synthetic_val: int = 200
    image_size: int = 128
    seed: int = 0
    synthetic_part_prob: float = 1.0

    @property
    def synthetic(self) -> bool:
        return self.voc_root is None


@dataclass(frozen=True)
class ModelConfig:
    """A network and its initial weights.

    Attributes
    ----------
    name
        A :func:`~wsss.models.create_model` name.
    backbone
        A backbone name (``"vgg16"``, ``"resnet101"``, ``"vgg16_narrow_bn"``, ...).
    weights
        ImageNet weights for the backbone (torchvision layout), or the Caffe-converted DeepLab
        init file when ``weights_format="caffe"``, or a backbone ``state_dict`` in this
        library's layout when ``weights_format="backbone"`` (what :func:`pretrain_backbone`
        writes); ``None`` trains from scratch.
    weights_format
        ``"torchvision"``, ``"caffe"`` or ``"backbone"``; it also picks the input normalisation
        (Caffe's BGR mean for ``"caffe"``, ImageNet's mean and std otherwise).
    kwargs
        More :func:`~wsss.models.create_model` arguments (e.g. ``init_std``).

    Examples
    --------
    >>> from wsss.data.transforms import CAFFE, TORCHVISION
    >>> config = ModelConfig("seenet", backbone="resnet_tiny")
    >>> config.weights, config.normalizer is TORCHVISION  # no weights: trained from scratch
    (None, True)
    >>> ModelConfig("deeplab_largefov", weights_format="caffe").normalizer is CAFFE
    True
    """

    name: str
    backbone: str = "vgg16"
    weights: str | None = None
    weights_format: str = "torchvision"
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def normalizer(self) -> Normalizer:
        return CAFFE if self.weights_format == "caffe" else TORCHVISION


def load_dataset(
    data: DataConfig, split: str, *, labels_from: str | Path | None = None
) -> Sequence[Sample]:
    """The ``"train"`` or ``"val"`` split of ``data``; ``labels_from`` swaps in proxy labels.

    Returns
    -------
    Sequence of Sample
        Each :class:`~wsss.data.sample.Sample` has ``image`` ``uint8`` ``(H, W, 3)``,
        ``classes`` ``float32`` ``(20,)`` and, where the dataset has them, ``label`` ``uint8``
        ``(H, W)`` (the ground truth, or the PNG of the same name in ``labels_from``) and
        ``saliency`` ``float32`` ``(H, W)``.

    Examples
    --------
    >>> train = load_dataset(DataConfig(synthetic_train=3, image_size=48), "train")
    >>> sample = train[0]
    >>> len(train), sample.image.shape, sample.classes.shape, sample.label.dtype
    (3, (48, 48, 3), (20,), dtype('uint8'))
    """
    if split not in ("train", "val"):
        raise ValueError(f"split: expected 'train' or 'val', got {split!r}")
    dataset: Sequence[Sample]
    if data.synthetic:
        n = data.synthetic_train if split == "train" else data.synthetic_val
        dataset = SyntheticVOC(n, image_size=data.image_size, seed=data.seed, split=split,
                               part_prob=data.synthetic_part_prob)
    else:
        dataset = VOCSegmentation(
            data.voc_root,  # type: ignore[arg-type]
            data.train_split if split == "train" else data.val_split,
            sbd_root=data.sbd_root,
            saliency_dir=data.saliency_dir,
        )
    return WithLabels(dataset, labels_from) if labels_from is not None else dataset


#: The layouts of :attr:`ModelConfig.weights` that :func:`build_model` reads.
WEIGHT_FORMATS = ("torchvision", "caffe", "backbone")


def build_model(config: ModelConfig, num_classes: int | None = None) -> nn.Module:
    """Create the network and load its initial weights (a missing key is an error).

    ``num_classes`` overrides the model's default (20 for the classifiers, 21 for DeepLab).

    Examples
    --------
    >>> model = build_model(ModelConfig("deeplab_largefov", backbone="resnet_tiny"))
    >>> model(torch.zeros(1, 3, 48, 48)).shape  # logits (N, 21, H, W)
    torch.Size([1, 21, 48, 48])
    """
    kwargs = dict(config.kwargs)
    if num_classes is not None:
        kwargs["num_classes"] = num_classes
    model = create_model(config.name, backbone=config.backbone, **kwargs)
    if config.weights is not None:
        backbone = model.backbone  # type: ignore[union-attr]
        if config.weights_format not in WEIGHT_FORMATS:
            raise ValueError(
                f"weights_format: expected one of {WEIGHT_FORMATS}, got {config.weights_format!r}"
            )
        if config.weights_format == "caffe":
            load_deeplab_caffe_vgg16(model, config.weights, load_fc8=False)
        elif config.weights_format == "backbone":
            load_backbone_weights(backbone, config.weights, strict=True)
        elif config.backbone.startswith("resnet"):
            load_imagenet_resnet(backbone, config.weights, strict=True)
        else:
            load_imagenet_vgg16(backbone, config.weights, strict=True)
    return model


def _train_transform(data: DataConfig, normalizer: Normalizer, crop: int) -> Transform:
    if data.synthetic:
        return RandomHorizontalFlip()
    return Compose(
        (RandomScale(0.7, 1.3), RandomHorizontalFlip(),
         RandomCrop(crop, image_fill=normalizer.fill))
    )


_STEPS = {"seenet": seenet_step, "cam_classifier": classifier_step,
          "deeplab_largefov": segmentation_step}


def train_model(
    model_config: ModelConfig,
    data: DataConfig,
    train_config: TrainConfig,
    run: RunDir | None,
    *,
    labels_from: str | Path | None = None,
    crop: int = 321,
    ctx: DistContext | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
) -> tuple[nn.Module, TrainResult]:
    """Train a classifier (``seenet``, ``cam_classifier``) or ``deeplab_largefov``.

    Classifiers learn from image-level labels only; the segmentation network from the pixel
    labels of the dataset, or from the proxy labels in ``labels_from``.

    Parameters
    ----------
    model_config, data, train_config
        The network, the training images and the hyper-parameters; ``train_config.seed`` also
        seeds the initial weights.
    run
        Where rank 0 writes ``metrics.jsonl``, ``checkpoint.pt`` and ``model.pt``; ``None``
        keeps nothing.
    labels_from
        A folder of proxy label PNGs, ``<name>.png`` (for ``deeplab_largefov``).
    crop
        Training crop size on VOC (the synthetic images are used whole).
    ctx, resume, stop_after, progress
        As in :func:`~wsss.engine.trainer.train`.

    Returns
    -------
    tuple of (Module, TrainResult)
        The trained model and how training ended.

    Examples
    --------
    >>> import tempfile
    >>> data = DataConfig(synthetic_train=4, image_size=48)
    >>> config = TrainConfig(iterations=2, batch_size=2)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     model, result = train_model(ModelConfig("seenet", backbone="resnet_tiny"), data,
    ...                                 config, RunDir(tmp), progress=False)
    ...     saved = sorted(p.name for p in Path(tmp).iterdir())
    >>> result.iteration, result.completed, saved
    (2, True, ['checkpoint.pt', 'metrics.jsonl', 'model.pt'])
    """
    if model_config.name not in _STEPS:
        raise ValueError(f"model_config.name: expected one of {sorted(_STEPS)}")
    num_classes = NUM_CLASSES + 1 if model_config.name == "deeplab_largefov" else NUM_CLASSES
    torch.manual_seed(train_config.seed)  # the initial weights, so that runs are reproducible
    model = build_model(model_config, num_classes)
    dataset = AugmentedDataset(
        load_dataset(data, "train", labels_from=labels_from),
        _train_transform(data, model_config.normalizer, crop),
        model_config.normalizer,
        seed=train_config.seed,
    )
    result = train(model, dataset, _STEPS[model_config.name], train_config, run, ctx=ctx,
                   resume=resume, stop_after=stop_after, progress=progress,
                   desc=model_config.name)
    return model, result


def pretrain_backbone(
    model_config: ModelConfig,
    data: DataConfig,
    train_config: TrainConfig,
    run: RunDir,
    *,
    ctx: DistContext | None = None,
    resume: bool = False,
    progress: bool = True,
) -> Path:
    """Train a classifier on the image labels and save its backbone: ImageNet's stand-in.

    On PASCAL VOC every network of the pipeline starts from ImageNet weights. The embedded
    synthetic dataset has no ImageNet, and networks trained from scratch there misbehave in
    ways that have nothing to do with the method (SeeNet's joint training drifts when its first
    attention maps are random; DeepLab's head sits on a plateau that predicts "some object" for
    hundreds of steps). So the synthetic recipe first trains ``model_config`` (a
    ``cam_classifier``) on the *image-level labels* of the training split, the only supervision
    the weakly supervised pipeline has, and every later network starts from its backbone. The
    plain CAM baseline starts from it too, so the comparison with SeeNet stays fair.

    Parameters
    ----------
    model_config
        The classifier to train (its name must be ``"cam_classifier"`` or ``"seenet"``).
    data, train_config, run, ctx, resume, progress
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
    >>> data = DataConfig(synthetic_train=4, image_size=48)
    >>> classifier = ModelConfig("cam_classifier", backbone="vgg16_tiny")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pretrain_backbone(classifier, data, TrainConfig(iterations=2, batch_size=2),
    ...                              RunDir(tmp), progress=False)
    ...     seenet = build_model(ModelConfig("seenet", "vgg16_tiny", weights=str(path),
    ...                                      weights_format="backbone"))
    >>> path.name, seenet.backbone.num_blocks
    ('backbone.pt', 4)
    """
    if model_config.name == "deeplab_largefov":
        raise ValueError("model_config.name: pretraining trains a classifier on image labels")
    path = run.path / "backbone.pt"
    if path.exists():
        return path
    model, result = train_model(model_config, data, train_config, run, ctx=ctx, resume=resume,
                                progress=progress)
    if result.completed and (ctx is None or ctx.is_main):
        save_checkpoint(model.backbone.state_dict(), path)  # type: ignore[union-attr]
    if ctx is not None:
        ctx.barrier()
    return path


def load_trained(model_config: ModelConfig, path: str | Path) -> nn.Module:
    """A model of ``model_config``'s architecture with the weights saved at ``path``.

    ``path`` holds a state dict (``model.pt``) or a training checkpoint (``checkpoint.pt``).

    Examples
    --------
    >>> import tempfile
    >>> from wsss.io import save_checkpoint
    >>> config = ModelConfig("seenet", backbone="resnet_tiny")
    >>> trained = build_model(config)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     save_checkpoint(trained.state_dict(), Path(tmp) / "model.pt")
    ...     model = load_trained(config, Path(tmp) / "model.pt")
    >>> saved = trained.state_dict()
    >>> all(torch.equal(value, saved[key]) for key, value in model.state_dict().items())
    True
    """
    num_classes = NUM_CLASSES + 1 if model_config.name == "deeplab_largefov" else NUM_CLASSES
    model = create_model(model_config.name, backbone=model_config.backbone,
                         num_classes=num_classes, **model_config.kwargs)
    state = load_checkpoint(path)
    if isinstance(state, dict) and "model" in state and "iteration" in state:
        state = state["model"]  # a training checkpoint
    model.load_state_dict(state)
    return model


def make_attention(
    model: nn.Module,
    model_config: ModelConfig,
    data: DataConfig,
    out_dir: str | Path,
    *,
    split: str = "train",
    scales: Sequence[float] = (1.0,),
    flip: bool = True,
    ctx: DistContext | None = None,
    skip_bad: bool = False,
    progress: bool = True,
) -> StageReport:
    """Write attention maps (SeeNet: branches ``a``, ``b`` and their max) for a split.

    One ``<out_dir>/<name>.npz`` per image (see :func:`~wsss.engine.labelling.generate_attention`);
    :func:`~wsss.engine.labelling.load_attention` reads it back as ``float32`` ``(20, H, W)``
    maps. ``scales`` and ``flip`` are the test-time augmentation of
    :class:`~wsss.cam.CAMExtractor`.

    Examples
    --------
    >>> import tempfile
    >>> config = ModelConfig("seenet", backbone="resnet_tiny")
    >>> data = DataConfig(synthetic_train=2, image_size=48)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     report = make_attention(build_model(config), config, data, tmp, progress=False)
    ...     stored = load_attention(Path(tmp) / f"{report.written[0]}.npz")
    >>> len(report.written), stored.fused.shape, sorted(stored.branches)
    (2, (20, 48, 48), ['a', 'b'])
    """
    extractor = CAMExtractor(model, scales=scales, flip=flip)
    return generate_attention(
        extractor, load_dataset(data, split), out_dir, model_config.normalizer, ctx=ctx,
        skip_bad=skip_bad, progress=progress,
    )


def make_pseudo_labels(
    data: DataConfig,
    attention_dir: str | Path,
    out_dir: str | Path,
    *,
    method: str = "harmonic",
    fusion_kwargs: dict | None = None,
    crf: bool = False,
    ctx: DistContext | None = None,
    skip_bad: bool = False,
    progress: bool = True,
) -> StageReport:
    """Fuse the stored attention with saliency into proxy label PNGs (optionally CRF).

    Each ``<out_dir>/<name>.png`` is a ``uint8`` ``(H, W)`` label map (0 background, ``c + 1``
    class ``c``, 255 ignore); see :func:`~wsss.engine.labelling.generate_pseudo_labels`.

    Examples
    --------
    >>> import tempfile
    >>> from wsss.data.images import read_label
    >>> config = ModelConfig("seenet", backbone="resnet_tiny")
    >>> data = DataConfig(synthetic_train=2, image_size=48)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = make_attention(build_model(config), config, data, Path(tmp) / "att",
    ...                        progress=False)
    ...     report = make_pseudo_labels(data, Path(tmp) / "att", Path(tmp) / "labels",
    ...                                 progress=False)
    ...     label = read_label(Path(tmp) / "labels" / f"{report.written[0]}.png")
    >>> len(report.written), label.shape, label.dtype
    (2, (48, 48), dtype('uint8'))
    """
    return generate_pseudo_labels(
        load_dataset(data, "train"), attention_dir, out_dir, method=method,
        fusion_kwargs=fusion_kwargs, refine=crf_refiner() if crf else None, ctx=ctx,
        skip_bad=skip_bad, progress=progress,
    )


def _stored_attention(
    data: DataConfig, attention_dir: str | Path, branch: str | None
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``(maps, classes, ground truth)`` of every training image, maps from ``attention_dir``."""
    for sample in load_dataset(data, "train"):
        stored = load_attention(Path(attention_dir) / f"{sample.name}.npz")
        if sample.label is None:
            raise ValueError(f"data: sample {sample.name} has no ground truth to score against")
        yield _branch_maps(stored, branch), stored.classes, sample.label


def _branch_maps(stored: StoredAttention, branch: str | None) -> np.ndarray:
    """The maps of one stored ``branch`` (``None``: the fused maps)."""
    return stored.fused if branch is None else stored.branches[branch]


def attention_quality(
    data: DataConfig, attention_dir: str | Path, branch: str | None = None
) -> ThresholdCurve:
    """Pseudo-label mIoU of stored attention on the train split at every background threshold.

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
    >>> config = ModelConfig("seenet", backbone="resnet_tiny")
    >>> data = DataConfig(synthetic_train=2, image_size=48)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = make_attention(build_model(config), config, data, tmp, progress=False)
    ...     curve = attention_quality(data, tmp, branch="a")
    >>> curve.thresholds.shape, curve.miou.shape, 0.0 <= curve.best_miou <= 1.0
    ((21,), (21,), True)
    """
    curve = CAMThresholdCurve()
    for maps, classes, label in _stored_attention(data, attention_dir, branch):
        curve.update(maps, classes, label)
    return curve.compute()


def attention_zones(
    data: DataConfig,
    attention_dir: str | Path,
    branch: str | None = "a",
    *,
    delta_h: float = 0.7,
    delta_l: float = 0.05,
) -> ZoneShares:
    """Ground-truth object / background pixels in each ternary-mask zone of stored attention.

    A diagnostic for erasing (:class:`~wsss.metrics.TernaryZoneCounter`): with SeeNet's
    ``branch="a"`` maps it shows what S_B is asked to learn from (the potential zone) and what
    S_C calls background, on the training split.

    Examples
    --------
    >>> import tempfile
    >>> from wsss.engine.labelling import save_attention
    >>> data = DataConfig(synthetic_train=2, image_size=48)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for sample in load_dataset(data, "train"):  # attention = the ground truth itself
    ...         truth = np.stack([sample.label == c + 1 for c in range(20)]).astype(np.float32)
    ...         save_attention(Path(tmp) / f"{sample.name}.npz", truth, {}, sample.classes)
    ...     shares = attention_zones(data, tmp, branch=None)
    >>> shares.object_in_zones.tolist(), shares.background_in_zones.tolist()
    ([1.0, 0.0, 0.0], [0.0, 0.0, 1.0])
    """
    counter = TernaryZoneCounter(delta_h, delta_l)
    for maps, classes, label in _stored_attention(data, attention_dir, branch):
        counter.update(maps, classes, label)
    return counter.compute()


def attention_profiles(
    data: DataConfig,
    sources: dict[str, tuple[str | Path, str | None]],
    *,
    radius: int = 8,
) -> dict[str, AttentionProfile]:
    """Mean attention on the objects' parts, bodies and the background, synthetic data only.

    Tests the premise of the embedded dataset (:class:`~wsss.metrics.AttentionProfileCounter`):
    a plain CAM should be high on the discriminative parts and low on the bodies, and SeeNet
    should raise the bodies without raising the background near the objects. Only
    :class:`~wsss.data.synthetic.SyntheticVOC` knows where the parts are.

    Parameters
    ----------
    data
        A synthetic :class:`DataConfig` (its training split is read).
    sources
        ``{name: (attention_dir, branch)}``; ``branch`` as in :func:`attention_quality`.
    radius
        Width in pixels of the near-background ring.

    Examples
    --------
    >>> import tempfile
    >>> from wsss.engine.labelling import save_attention
    >>> data = DataConfig(synthetic_train=2, image_size=48)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for sample in load_dataset(data, "train"):  # attention = the ground truth itself
    ...         truth = np.stack([sample.label == c + 1 for c in range(20)]).astype(np.float32)
    ...         save_attention(Path(tmp) / f"{sample.name}.npz", truth, {}, sample.classes)
    ...     profile = attention_profiles(data, {"truth": (tmp, None)})["truth"]
    >>> profile.as_dict()
    {'part': 1.0, 'body': 1.0, 'near background': 0.0, 'far background': 0.0}
    """
    if not data.synthetic:
        raise ValueError("data: attention profiles need the synthetic dataset (it knows the parts)")
    dataset = load_dataset(data, "train")
    assert isinstance(dataset, SyntheticVOC)
    counters = {name: AttentionProfileCounter(radius) for name in sources}
    for i in range(len(dataset)):
        scene = dataset.scene(i)
        sample = scene.sample
        for name, (directory, branch) in sources.items():
            stored = load_attention(Path(directory) / f"{sample.name}.npz")
            counters[name].update(
                _branch_maps(stored, branch), stored.classes, sample.label, scene.parts > 0
            )
    return {name: counter.compute() for name, counter in counters.items()}


#: What :func:`erasing_ablation` lets S_B see: the erased zone it is given.
ERASING_ZONES = ("learned", "parts", "none")


@dataclass(frozen=True)
class AttentionScore:
    """How good one kind of attention map is: its pseudo-label curve and its profile.

    Attributes
    ----------
    curve
        Pseudo-label mIoU at every background threshold (best point tuned on ground truth).
    profile
        Mean attention on parts, bodies, near and far background.

    Examples
    --------
    >>> curve = CAMThresholdCurve([0.5], num_classes=2)
    >>> profile = AttentionProfileCounter(radius=1)
    >>> att, classes, truth = np.array([[[0.9, 0.2, 0.0]]]), np.array([1]), np.array([[1, 0, 0]])
    >>> curve.update(att, classes, truth)
    >>> profile.update(att, classes, truth, np.array([[True, False, False]]))
    >>> score = AttentionScore(curve.compute(), profile.compute())
    >>> score.curve.best_miou, score.profile.as_dict()["near background"]
    (1.0, 0.2)
    """

    curve: ThresholdCurve
    profile: AttentionProfile


def _part_cells(parts: torch.Tensor, size: torch.Size, part_cover: float) -> torch.Tensor:
    """``(h, w)`` bool: the feature cells of which ``parts`` ``(H, W)`` covers ``>= part_cover``."""
    share = torch.nn.functional.adaptive_avg_pool2d(parts[None, None].float(), tuple(size))
    return share[0, 0] >= part_cover


def _ablation_maps(model: SeeNet, parts: torch.Tensor, part_cover: float) -> ClassMapFn:
    """``class_maps(images, labels)`` giving S_A and S_B with each erased zone of one image."""
    head = model.head

    def class_maps(images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        features = model.backbone(images)
        maps_a = head.branch_a(features)
        learned = ternary_mask(maps_a, labels, delta_h=head.delta_h, delta_l=head.delta_l)
        nothing_erased = torch.where(learned == 0, 1.0, learned)
        parts_erased = nothing_erased.clone()
        parts_erased[:, _part_cells(parts, features.shape[-2:], part_cover)] = 0.0
        masks = {"learned": learned, "parts": parts_erased, "none": nothing_erased}
        maps = {"a": maps_a}
        for zone, mask in masks.items():
            maps[f"b/{zone}"] = head.branch_b(conditional_relu(features, mask))
        return maps

    return class_maps


def erasing_ablation(
    model: nn.Module,
    model_config: ModelConfig,
    data: DataConfig,
    *,
    part_cover: float = 0.25,
    radius: int = 8,
    progress: bool = True,
) -> dict[str, AttentionScore]:
    """S_B of a trained SeeNet with other erased zones, scored on ground truth (synthetic data).

    Splits a weak S_B into its two possible causes: S_A's attention zone erases the wrong
    cells (then erasing the true discriminative part instead helps), or S_B's classifier finds
    nothing new whatever is erased. On each training image, S_B runs with three masks that
    differ only in the erased zone (``T = 0``); the background zone (``T = -1``) is always
    S_A's, so no mask tells S_B where the objects are:

    - ``"learned"``: S_A's own ternary mask (the model's ``delta_h`` / ``delta_l``), as trained;
    - ``"parts"``: the feature cells that the objects' discriminative parts cover by at least
      ``part_cover`` are erased, S_A's attention zone is not;
    - ``"none"``: nothing is erased (S_A's attention zone passes as potential zone).

    Maps are made at one scale without flip (so they differ slightly from the stored
    attention), upsampled bilinearly and divided by their maximum like
    :class:`~wsss.cam.CAMExtractor`'s.

    Parameters
    ----------
    model
        A trained :class:`~wsss.models.SeeNet`.
    model_config
        Its :class:`ModelConfig` (for the input normalisation).
    data
        A synthetic :class:`DataConfig` (its training split is read; only the generator knows
        the parts).
    part_cover
        Share of a feature cell the parts must cover for ``"parts"`` to erase it, in (0, 1].
    radius
        Width in pixels of the near-background ring of the profiles.
    progress
        Show a progress bar.

    Returns
    -------
    dict of str to AttentionScore
        Keys ``"a"`` (S_A), ``"b/<zone>"`` (S_B) and ``"max/<zone>"`` (``max(S_A, S_B)``) for
        each zone of :data:`ERASING_ZONES`.

    Examples
    --------
    >>> config = ModelConfig("seenet", backbone="resnet_tiny")
    >>> _ = torch.manual_seed(0)
    >>> scores = erasing_ablation(build_model(config), config,
    ...                           DataConfig(synthetic_train=2, image_size=48), progress=False)
    >>> sorted(scores)
    ['a', 'b/learned', 'b/none', 'b/parts', 'max/learned', 'max/none', 'max/parts']
    >>> scores["b/parts"].curve.miou.shape, 0.0 <= scores["a"].curve.best_miou <= 1.0
    ((21,), True)
    """
    if not isinstance(model, SeeNet):
        raise TypeError(f"model: expected a SeeNet, got {type(model).__name__}")
    if not data.synthetic:
        raise ValueError("data: the erasing ablation needs the synthetic dataset (it knows parts)")
    if isinstance(part_cover, bool) or not isinstance(part_cover, (int, float)) or not (
        0.0 < part_cover <= 1.0
    ):
        raise ValueError(f"part_cover: expected a share in (0, 1], got {part_cover!r}")
    dataset = load_dataset(data, "train")
    assert isinstance(dataset, SyntheticVOC)
    names = ["a", *(f"{kind}/{zone}" for kind in ("b", "max") for zone in ERASING_ZONES)]
    curves = {name: CAMThresholdCurve() for name in names}
    profiles = {name: AttentionProfileCounter(radius) for name in names}
    device = next(model.parameters()).device
    for i in tqdm(range(len(dataset)), desc="erasing ablation", disable=not progress,
                  leave=False):
        scene = dataset.scene(i)
        sample = scene.sample
        parts = scene.parts > 0
        extractor = CAMExtractor(
            model, _class_maps=_ablation_maps(model, torch.from_numpy(parts).to(device), part_cover)
        )
        image = to_tensor(sample.image, model_config.normalizer)[None]
        att = extractor(image, torch.from_numpy(sample.classes)[None])
        maps = {name: m[0].cpu().numpy() for name, m in att.branches.items()}
        for zone in ERASING_ZONES:
            maps[f"max/{zone}"] = np.maximum(maps["a"], maps[f"b/{zone}"])
        for name in names:
            curves[name].update(maps[name], sample.classes, sample.label)
            profiles[name].update(maps[name], sample.classes, sample.label, parts)
    return {
        name: AttentionScore(curves[name].compute(), profiles[name].compute()) for name in names
    }


#: Distance bins (pixels from an object's part) of :func:`part_reach`; the last is open.
PART_REACH_BINS = (0.0, 8.0, 16.0, 24.0, 32.0, 48.0)


@dataclass(frozen=True)
class PartReach:
    """Raw class maps by distance from each object's discriminative part (see :func:`part_reach`).

    Attributes
    ----------
    bins
        ``(B,)`` lower edges in pixels; bin ``k`` holds distances in ``[bins[k], bins[k + 1])``,
        the last one every distance from ``bins[-1]`` on.
    body, background
        ``(2, B)`` float64: the mean raw map of an object's class on its body (its pixels outside
        the part) and on the background within ``radius`` px of it, per distance bin; row 0 with
        the parts shown, row 1 with the same scenes drawn without them. ``nan`` for empty bins.
    part
        ``(2,)``: the mean on the parts themselves (row 1: the same pixels painted as body).
    pixels
        ``(2, B)`` int64: the body (row 0) and background (row 1) pixels counted per bin, the
        same pixels in both runs.

    Examples
    --------
    >>> reach = PartReach(np.array([0.0, 8.0]), np.array([[2.0, 1.0], [1.0, 1.0]]),
    ...                   np.array([[1.5, 0.5], [0.5, 0.5]]), np.array([3.0, 1.0]),
    ...                   np.array([[10, 20], [5, 5]]))
    >>> reach.lift()
    (array([1., 0.]), array([1., 0.]))
    """

    bins: np.ndarray
    body: np.ndarray
    background: np.ndarray
    part: np.ndarray
    pixels: np.ndarray

    def lift(self) -> tuple[np.ndarray, np.ndarray]:
        """What showing the part adds to the map on the body and on the background, per bin."""
        return self.body[0] - self.body[1], self.background[0] - self.background[1]


def part_reach(
    model: nn.Module,
    model_config: ModelConfig,
    data: DataConfig,
    *,
    branch: str | None = None,
    bins: Sequence[float] = PART_REACH_BINS,
    radius: int = 8,
    progress: bool = True,
) -> PartReach:
    """How far a classifier's map reaches from each object's part (synthetic data).

    A feature cell whose receptive field holds a discriminative part can fire on it wherever
    the cell lies, on the object's body or on the background beside it. This measures that
    reach: each training image is run twice, as drawn and with every part painted as body (the
    same scene, ``SyntheticVOC(part_prob=0)``), and the raw class map of each object's class
    (the model's ``class_maps``, no ReLU, no normalisation, bilinearly upsampled to the image)
    is averaged over the object's body and over the background within ``radius`` px of it, in
    bins of Euclidean distance from the object's part. The difference of the two rows
    (:meth:`PartReach.lift`) is what the part adds at each distance. Objects drawn without a
    part are skipped; with SeeNet, S_B's mask is built from the image's labels. The model runs
    as it is given (put it in eval mode first; nothing here switches it).

    Parameters
    ----------
    model
        A trained model with ``class_maps(images, labels)`` (SeeNet, the CAM classifier).
    model_config
        Its :class:`ModelConfig` (for the input normalisation).
    data
        A synthetic :class:`DataConfig`; its training split is read.
    branch
        Which of ``class_maps``' outputs to read (``"a"``, ``"b"``, ``"cam"``); ``None``: the
        first.
    bins
        Increasing lower edges of the distance bins in pixels, starting at 0.
    radius
        Width in pixels of the background ring around each object.
    progress
        Show a progress bar.

    Returns
    -------
    PartReach

    Examples
    --------
    >>> config = ModelConfig("cam_classifier", backbone="resnet_tiny")
    >>> _ = torch.manual_seed(0)
    >>> reach = part_reach(build_model(config).eval(), config,
    ...                    DataConfig(synthetic_train=2, image_size=48), progress=False)
    >>> reach.body.shape, reach.part.shape
    ((2, 6), (2,))
    """
    if not data.synthetic:
        raise ValueError("data: part_reach needs the synthetic dataset (it knows the parts)")
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or edges.size == 0 or edges[0] != 0 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bins: expected increasing edges starting at 0, got {tuple(bins)}")
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 1:
        raise ValueError(f"radius: expected an int >= 1, got {radius!r}")
    shown = load_dataset(data, "train")
    hidden = load_dataset(dataclasses.replace(data, synthetic_part_prob=0.0), "train")
    assert isinstance(shown, SyntheticVOC)
    nbins = edges.size
    sums = np.zeros((2, 2, nbins))  # (row, body / background, bin)
    counts = np.zeros((2, nbins), dtype=np.int64)
    part_sum, part_count = np.zeros(2), 0
    device = next(model.parameters()).device
    for i in tqdm(range(len(shown)), desc="part reach", disable=not progress, leave=False):
        scene = shown.scene(i)
        selected = [k for k, obj in enumerate(scene.objects) if obj.part_area > 0]
        if not selected:
            continue
        maps = []
        for sample in (scene.sample, hidden[i]):  # the scene already holds the shown sample
            image = to_tensor(sample.image, model_config.normalizer)[None].to(device)
            labels = torch.from_numpy(sample.classes)[None].to(device)
            with torch.no_grad():
                out = model.class_maps(image, labels)
            if branch is not None and branch not in out:
                raise ValueError(f"branch: the model's maps are {sorted(out)}, got {branch!r}")
            raw = torch.nn.functional.interpolate(
                (out[branch] if branch is not None else next(iter(out.values()))).float(),
                size=image.shape[-2:], mode="bilinear", align_corners=False,
            )
            maps.append(raw[0].cpu().double().numpy())
        for k in selected:
            c = scene.objects[k].class_index
            part = scene.parts == k + 1
            instance = scene.instances == k + 1
            ring = (ndimage.distance_transform_edt(~instance) <= radius) & ~scene.foreground
            which = np.digitize(ndimage.distance_transform_edt(~part), edges) - 1
            for region, mask in enumerate((instance & ~part, ring)):
                index = which[mask]
                counts[region] += np.bincount(index, minlength=nbins)
                for row, m in enumerate(maps):
                    sums[row, region] += np.bincount(index, m[c][mask], minlength=nbins)
            for row, m in enumerate(maps):
                part_sum[row] += m[c][part].sum()
            part_count += int(part.sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts[None]
    return PartReach(
        bins=edges,
        body=means[:, 0],
        background=means[:, 1],
        part=part_sum / part_count if part_count else np.full(2, np.nan),
        pixels=counts,
    )


def label_quality(data: DataConfig, label_dir: str | Path) -> LabelQuality:
    """mIoU and ignored fraction of proxy labels against the train split's ground truth.

    ``label_dir`` holds ``<name>.png`` label maps, ``uint8`` ``(H, W)``, for every training
    image (see :func:`~wsss.engine.labelling.evaluate_label_dir`).

    Examples
    --------
    Scoring the ground truth itself:

    >>> import tempfile
    >>> from wsss.data.images import write_label
    >>> data = DataConfig(synthetic_train=2, image_size=48)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for sample in load_dataset(data, "train"):
    ...         write_label(Path(tmp) / f"{sample.name}.png", sample.label)
    ...     quality = label_quality(data, tmp)
    >>> quality.scores.miou, quality.ignored
    (1.0, 0.0)
    """
    return evaluate_label_dir(load_dataset(data, "train"), label_dir)


def evaluate(
    model: nn.Module,
    model_config: ModelConfig,
    data: DataConfig,
    *,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    crf: bool = False,
    save_dir: str | Path | None = None,
    ctx: DistContext | None = None,
    progress: bool = True,
) -> SegmentationScores:
    """mIoU of a segmentation network on the validation split (optionally with a dense CRF).

    ``scales`` and ``flip`` are the test-time augmentation of
    :func:`~wsss.engine.labelling.predict_segmentation`; ``save_dir`` receives the predictions
    as ``uint8`` ``(H, W)`` label PNGs.

    Returns
    -------
    SegmentationScores
        ``miou`` and per-class ``iou``, ``float64`` ``(21,)`` (NaN for classes absent from
        both the ground truth and the predictions).

    Examples
    --------
    >>> config = ModelConfig("deeplab_largefov", backbone="resnet_tiny")
    >>> data = DataConfig(synthetic_val=2, image_size=48)
    >>> scores = evaluate(build_model(config), config, data, progress=False)
    >>> scores.iou.shape, scores.class_names[0], 0.0 <= scores.miou <= 1.0
    ((21,), 'background', True)
    """
    refine = None
    if crf:
        from ..crf import DEEPLAB_V1, dense_crf

        def refine(sample: Sample, probs: np.ndarray) -> np.ndarray:
            return dense_crf(sample.image, probs, DEEPLAB_V1).argmax(0).astype(np.uint8)

    return evaluate_segmentation(
        model, load_dataset(data, "val"), model_config.normalizer, scales=scales, flip=flip,
        refine=refine, save_dir=save_dir, ctx=ctx, progress=progress,
    )


#: The recipes: ``"voc"`` follows the papers; ``"synthetic"`` trains narrow networks on a CPU in
#: minutes, each starting from a backbone pretrained on the synthetic image labels
#: (:func:`pretrain_backbone`, the stand-in for ImageNet; ``"pretrain"`` is ``None`` for VOC).
#: The pretraining images show only half of the objects' discriminative parts
#: (``"pretrain_part_prob"``, :attr:`DataConfig.synthetic_part_prob`), as ImageNet shows objects
#: whose telltale part is hidden, so the backbone learns bodies too; SeeNet and the CAM
#: classifier then fine-tune it at a tenth of their heads' learning rate (the paper's 10:1
#: ratio of new layers to pretrained ones).
PRESETS: dict[str, dict[str, Any]] = {
    "voc": {
        "pretrain": None,
        "pretrain_train": None,
        "pretrain_part_prob": None,
        "classifier": {"backbone": "vgg16", "kwargs": {}},
        "classifier_train": TrainConfig(iterations=8000, batch_size=10, lr=1e-3),
        "deeplab": {"backbone": "vgg16", "kwargs": {}},
        "deeplab_train": TrainConfig(iterations=16000, batch_size=10, lr=1e-3),
        "attention_scales": (1.0, 0.5, 1.5, 2.0),
    },
    "synthetic": {
        "pretrain": {"backbone": "vgg16_tiny", "kwargs": {"init_std": None}},
        "pretrain_train": TrainConfig(
            iterations=700, batch_size=16, optimizer="adamw", lr=1e-3, weight_decay=1e-4,
            multipliers=LRMultipliers.uniform(), checkpoint_every=100, log_every=20,
        ),
        "pretrain_part_prob": 0.5,
        # SeeNet and the CAM classifier see 44 px (conv1_1 ... pool3 of the pretrained backbone):
        # a part must not reach the far end of its object (see docs/pipeline.rst)
        "classifier": {"backbone": "vgg16_tiny3", "kwargs": {"init_std": None}},
        "classifier_train": TrainConfig(  # the pretrained backbone at a tenth of the head's lr
            iterations=400, batch_size=16, optimizer="adamw", lr=1e-3, weight_decay=1e-4,
            multipliers=LRMultipliers(0.1, 0.1, 1.0, 1.0, 1.0, 1.0), checkpoint_every=100,
            log_every=20,
        ),
        "deeplab": {"backbone": "vgg16_tiny", "kwargs": {}},
        "deeplab_train": TrainConfig(  # the paper's multipliers: fc8 x10 (bias x20)
            iterations=400, batch_size=16, optimizer="adamw", lr=1e-3, weight_decay=1e-4,
            multipliers=LRMultipliers(), checkpoint_every=100, log_every=20,
        ),
        "attention_scales": (1.0, 0.75, 1.25),
    },
}


def preset(data: DataConfig) -> dict[str, Any]:
    """The recipe for ``data``: ``PRESETS["synthetic"]`` or ``PRESETS["voc"]``.

    Examples
    --------
    >>> preset(DataConfig()) is PRESETS["synthetic"]
    True
    >>> recipe = preset(DataConfig(voc_root="data/VOCdevkit"))
    >>> recipe is PRESETS["voc"], isinstance(recipe["classifier_train"], TrainConfig)
    (True, True)
    """
    return PRESETS["synthetic" if data.synthetic else "voc"]


def with_changes(config: TrainConfig, **changes: Any) -> TrainConfig:
    """``config`` with the given fields replaced; ``None`` values are ignored.

    Examples
    --------
    >>> base = TrainConfig(iterations=100, lr=0.01)
    >>> changed = with_changes(base, iterations=5, lr=None)
    >>> changed.iterations, changed.lr, base.iterations
    (5, 0.01, 100)
    """
    return dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})


def set_threads(threads: int | None) -> None:
    """Set torch's intra-op thread count when asked (CPU runs); ``None`` or 0 changes nothing.

    Examples
    --------
    >>> before = torch.get_num_threads()
    >>> set_threads(1)
    >>> set_threads(None)
    >>> torch.get_num_threads()
    1
    >>> set_threads(before)
    """
    if threads:
        torch.set_num_threads(threads)
