"""What a run reads, builds and trains: typed, frozen specs and the recipes.

- :class:`DataConfig` names the data (the embedded synthetic set, PASCAL VOC 2012 + SBD, ...);
- :class:`ModelConfig` names a network and its initial weights (and so its input
  normalisation);
- :class:`~wsss.engine.trainer.TrainConfig` holds the hyper-parameters of one training;
- :class:`Recipe` ties them together for a whole pipeline run: which backbones, which
  schedules, which test-time scales. :data:`RECIPES` holds the named presets, ``"voc"``
  (following the papers) and ``"synthetic"`` (narrow networks trained on a CPU in minutes).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ..data.transforms import CAFFE, TORCHVISION, Normalizer
from .optim import LRMultipliers
from .trainer import TrainConfig

__all__ = [
    "DATASETS",
    "RECIPES",
    "WEIGHT_FORMATS",
    "DataConfig",
    "ModelConfig",
    "NetSpec",
    "Recipe",
    "recipe_for",
    "with_changes",
]

#: The kinds of data a :class:`DataConfig` can name.
DATASETS = ("synthetic", "voc")

#: The layouts of :attr:`ModelConfig.weights` that :func:`~wsss.engine.build_model` reads.
WEIGHT_FORMATS = ("torchvision", "caffe", "backbone")


@dataclass(frozen=True)
class DataConfig:
    """Which images a run reads.

    Attributes
    ----------
    dataset
        One of :data:`DATASETS`: ``"synthetic"`` (the embedded
        :class:`~wsss.data.SyntheticVOC`, no download) or ``"voc"`` (PASCAL VOC 2012).
    root
        The dataset's folder (for VOC: the one holding ``VOCdevkit/VOC2012``, or the
        ``VOC2012`` folder itself); unused for the synthetic data.
    sbd_root
        SBD's ``benchmark_RELEASE`` folder (VOC's ``train_aug`` split).
    saliency_dir
        Saliency PNGs named after the images (e.g. DSS outputs), read for the training split
        only (the proxy labels fuse them).
    train_split, val_split
        VOC splits (``"train_aug"`` and ``"val"``).
    synthetic_train, synthetic_val, image_size, seed
        Size and seed of the synthetic splits.
    synthetic_part_prob
        :class:`~wsss.data.SyntheticVOC`'s ``part_prob``: the probability that a synthetic
        object shows its discriminative part.

    Examples
    --------
    >>> DataConfig().dataset, DataConfig(dataset="voc", root="data").root
    ('synthetic', 'data')
    >>> DataConfig(dataset="imagenet")
    Traceback (most recent call last):
    ...
    ValueError: dataset: expected one of ('synthetic', 'voc'), got 'imagenet'
    """

    dataset: str = "synthetic"
    root: str | None = None
    sbd_root: str | None = None
    saliency_dir: str | None = None
    train_split: str = "train_aug"
    val_split: str = "val"
    synthetic_train: int = 1000
    synthetic_val: int = 200
    image_size: int = 128
    seed: int = 0
    synthetic_part_prob: float = 1.0

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"dataset: expected one of {DATASETS}, got {self.dataset!r}")
        if self.dataset != "synthetic" and self.root is None:
            raise ValueError(f"root: the {self.dataset!r} dataset needs its folder")
        for name in ("synthetic_train", "synthetic_val", "image_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")

    @property
    def synthetic(self) -> bool:
        """Whether this names the embedded synthetic dataset."""
        return self.dataset == "synthetic"


@dataclass(frozen=True)
class ModelConfig:
    """A network and its initial weights.

    Attributes
    ----------
    name
        A :func:`~wsss.models.create_model` name.
    backbone
        A backbone name (``"vgg16"``, ``"resnet101"``, ``"vgg16_tiny"``, ...).
    weights
        ImageNet weights for the backbone (torchvision layout), or the Caffe-converted DeepLab
        init file when ``weights_format="caffe"``, or a backbone ``state_dict`` in this
        library's layout when ``weights_format="backbone"`` (what
        :func:`~wsss.engine.pretrain_backbone` writes); ``None`` trains from scratch.
    weights_format
        One of :data:`WEIGHT_FORMATS`; it also picks the input normalisation
        (:attr:`normalizer`: Caffe's BGR mean for ``"caffe"``, ImageNet's mean and std
        otherwise).
    kwargs
        More :func:`~wsss.models.create_model` arguments (e.g. ``init_std``).

    Examples
    --------
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
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.weights_format not in WEIGHT_FORMATS:
            raise ValueError(
                f"weights_format: expected one of {WEIGHT_FORMATS}, got {self.weights_format!r}"
            )

    @property
    def normalizer(self) -> Normalizer:
        """The input normalisation that goes with these weights."""
        return CAFFE if self.weights_format == "caffe" else TORCHVISION


@dataclass(frozen=True)
class NetSpec:
    """A backbone and the extra model arguments a recipe trains a network with.

    Examples
    --------
    >>> spec = NetSpec("vgg16_tiny", {"init_std": None})
    >>> spec.model("seenet").kwargs["init_std"] is None
    True
    """

    backbone: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def model(self, name: str, *, weights: str | None = None,
              weights_format: str = "torchvision") -> ModelConfig:
        """The :class:`ModelConfig` of network ``name`` on this backbone."""
        return ModelConfig(name, self.backbone, weights, weights_format, dict(self.kwargs))


@dataclass(frozen=True)
class Recipe:
    """How a pipeline run trains its networks: one frozen record per data regime.

    Attributes
    ----------
    name
        The preset's name in :data:`RECIPES`.
    classifier, classifier_train
        Backbone and schedule of SeeNet and of the plain CAM baseline.
    deeplab, deeplab_train
        Backbone and schedule of DeepLab-LargeFOV.
    attention_scales
        Test-time scales of the attention maps (flipped too).
    crop
        Training crop in pixels after random scaling (0.7-1.3) and flipping; ``None`` trains
        on whole images with flipping only.
    pretrain, pretrain_train, pretrain_part_prob
        Where no ImageNet weights exist (the synthetic data), a classifier trained first on the
        image labels gives every later network its initial backbone; the pretraining images
        show the objects' discriminative parts with probability ``pretrain_part_prob``.
        ``None`` where the backbones start from given weights.

    Examples
    --------
    >>> voc = RECIPES["voc"]
    >>> voc.classifier.backbone, voc.classifier_train.iterations, voc.crop, voc.pretrain
    ('vgg16', 8000, 321, None)
    >>> RECIPES["synthetic"].pretrain.backbone
    'vgg16_tiny'
    """

    name: str
    classifier: NetSpec
    classifier_train: TrainConfig
    deeplab: NetSpec
    deeplab_train: TrainConfig
    attention_scales: tuple[float, ...]
    crop: int | None
    pretrain: NetSpec | None = None
    pretrain_train: TrainConfig | None = None
    pretrain_part_prob: float | None = None

    def __post_init__(self) -> None:
        if (self.pretrain is None) != (self.pretrain_train is None):
            raise ValueError("pretrain_train: give it exactly when pretrain is given")
        if not self.attention_scales:
            raise ValueError("attention_scales: expected at least one scale")

    def replace(self, **changes: Any) -> Recipe:
        """This recipe with the given fields replaced (``None`` values are ignored)."""
        return dataclasses.replace(self, **{k: v for k, v in changes.items() if v is not None})


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


def _adamw(iterations: int, multipliers: LRMultipliers) -> TrainConfig:
    return TrainConfig(iterations=iterations, batch_size=16, optimizer="adamw", lr=1e-3,
                       weight_decay=1e-4, multipliers=multipliers, checkpoint_every=100,
                       log_every=20)


#: The named recipes. ``"voc"`` follows the papers (SGD, ImageNet weights, 321 px crops,
#: four test scales). ``"synthetic"`` trains narrow networks on a CPU in minutes: a backbone is
#: first pretrained on the synthetic image labels (the stand-in for ImageNet) on images that
#: hide half of the objects' discriminative parts; SeeNet and the CAM classifier then fine-tune
#: its first three blocks (receptive field 44 px) at a tenth of their heads' learning rate, and
#: DeepLab its four blocks with the paper's multipliers. The docs' results page records how
#: each choice was measured.
RECIPES: Mapping[str, Recipe] = MappingProxyType({
    "voc": Recipe(
        name="voc",
        classifier=NetSpec("vgg16"),
        classifier_train=TrainConfig(iterations=8000, batch_size=10, lr=1e-3),
        deeplab=NetSpec("vgg16"),
        deeplab_train=TrainConfig(iterations=16000, batch_size=10, lr=1e-3),
        attention_scales=(1.0, 0.5, 1.5, 2.0),
        crop=321,
    ),
    "synthetic": Recipe(
        name="synthetic",
        classifier=NetSpec("vgg16_tiny3", {"init_std": None}),
        classifier_train=_adamw(400, LRMultipliers(0.1, 0.1, 1.0, 1.0, 1.0, 1.0)),
        deeplab=NetSpec("vgg16_tiny"),
        deeplab_train=_adamw(400, LRMultipliers()),
        attention_scales=(1.0, 0.75, 1.25),
        crop=None,
        pretrain=NetSpec("vgg16_tiny", {"init_std": None}),
        pretrain_train=_adamw(700, LRMultipliers.uniform()),
        pretrain_part_prob=0.5,
    ),
})


def recipe_for(data: DataConfig) -> Recipe:
    """The preset for ``data``: ``RECIPES["synthetic"]`` on the synthetic data, else ``"voc"``.

    Examples
    --------
    >>> recipe_for(DataConfig()).name, recipe_for(DataConfig(dataset="voc", root="x")).name
    ('synthetic', 'voc')
    """
    return RECIPES["synthetic" if data.synthetic else "voc"]
