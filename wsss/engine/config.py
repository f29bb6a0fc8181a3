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

from .._validation import MAX_SIDE, check_choice, check_int, check_real, check_reals
from ..data.synthetic import SYNTHETIC_PRESETS
from ..data.synthetic.dataset import _MAX_IMAGE_SIZE, _MAX_IMAGES
from ..data.transforms import CAFFE, TORCHVISION, Normalizer
from .optim import LRMultipliers
from .trainer import TrainConfig

__all__ = [
    "DATASETS",
    "DEFAULT_SPLITS",
    "RECIPES",
    "VOC_LABELS",
    "WEIGHT_FORMATS",
    "DataConfig",
    "ModelConfig",
    "NetSpec",
    "Recipe",
    "recipe_for",
    "with_changes",
]

#: The kinds of data a :class:`DataConfig` can name.
DATASETS = ("synthetic", "voc", "coco", "folder")

#: Where the pixel labels of a VOC training split come from (``DataConfig.voc_labels``; see
#: :class:`~wsss.data.VOCSegmentation`'s ``label_source``).
VOC_LABELS = ("auto", "voc", "aug", "sbd")

#: The default ``(train, val)`` split names of each dataset. ``"folder"`` reads
#: ``splits/train.txt`` and ``splits/val.txt`` when they exist, else the whole folder for both.
DEFAULT_SPLITS: Mapping[str, tuple[str, str]] = MappingProxyType({
    "synthetic": ("train", "val"),
    "voc": ("train_aug", "val"),
    "coco": ("train2014", "val2014"),
    "folder": ("train", "val"),
})

#: The layouts of :attr:`ModelConfig.weights` that :func:`~wsss.engine.build_model` reads.
WEIGHT_FORMATS = ("torchvision", "caffe", "backbone")

_OPTIONAL_STR = ("root", "train_split", "val_split", "train_list", "val_list", "sbd_root",
                 "labels_file", "classes_file", "annotations_dir", "mask_dir", "saliency_dir")
#: The fields that only some datasets read: ``{field: datasets}``.
_ONLY_FOR = {
    "sbd_root": ("voc",),
    "labels_file": ("folder",),
    "classes_file": ("folder",),
    "annotations_dir": ("coco",),
    "mask_dir": ("coco", "folder"),
    "train_list": ("voc", "folder"),
    "val_list": ("voc", "folder"),
}


def _check_name(name: str, value: object) -> str:
    """A name field: a non-empty str."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a str, got {type(value).__name__}")
    if not value:
        raise ValueError(f"{name}: expected a non-empty str")
    return value


def _check_kwargs(name: str, value: object) -> Mapping[str, Any]:
    """A keyword-arguments field: a mapping with str keys."""
    if not isinstance(value, Mapping):
        raise TypeError(f"{name}: expected a mapping of str to values, got {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise TypeError(f"{name}: keys must be str, got {key!r}")
    return value


@dataclass(frozen=True)
class DataConfig:
    """Which images a run reads.

    Attributes
    ----------
    dataset
        One of :data:`DATASETS`: ``"synthetic"`` (the embedded
        :class:`~wsss.data.SyntheticVOC`, no download), ``"voc"`` (PASCAL VOC 2012,
        :class:`~wsss.data.VOCSegmentation`), ``"coco"`` (MS COCO 2014,
        :class:`~wsss.data.COCOSegmentation`) or ``"folder"`` (your own images,
        :class:`~wsss.data.FolderDataset`).
    root
        The dataset's folder (VOC: the one holding ``VOCdevkit/VOC2012``, or ``VOC2012``
        itself; COCO: the one holding ``train2014/``, ``val2014/``, ``annotations/``; folder:
        the one holding ``images/`` and the labels file); unused for the synthetic data.
    train_split, val_split
        Split names; ``None`` takes the dataset's (:data:`DEFAULT_SPLITS`): VOC ``train_aug``
        and ``val``, COCO ``train2014`` and ``val2014``, folder ``splits/train.txt`` and
        ``splits/val.txt`` when they exist, **else the whole folder for both** (the
        validation scores are then measured on the training images).
    train_list, val_list
        An image list file (one name per line) that replaces the split's list: VOC's
        ``train_aug.txt`` as the field ships it (then ``sbd_root`` is not needed), or any list
        of a folder dataset.
    sbd_root
        VOC: SBD's ``benchmark_RELEASE`` folder (the ``train_aug`` split's lists and masks).
    voc_labels
        VOC: where the training split's pixel labels come from (one of :data:`VOC_LABELS`):
        ``"auto"`` (``SegmentationClass``, else SBD's ``.mat``), ``"voc"``, ``"aug"`` (the
        field's merged masks, ``SegmentationClassAug``) or ``"sbd"``. The validation split reads
        ``SegmentationClass``.
    labels_file, classes_file
        Folder: the labels file (default ``<root>/labels.csv`` or ``.json``) and the class
        list (default ``<root>/classes.txt``, else the sorted class names the labels use).
    annotations_dir
        COCO: the folder of ``instances_<split>.json`` (default ``<root>/annotations``).
    mask_dir
        COCO: label PNGs to read instead of rendering the instances (pycocotools); folder:
        the masks (default ``<root>/masks`` when it covers every image, else none).
    saliency_dir
        Saliency PNGs named after the images (e.g. DSS outputs), read for the training split
        only and only where proxy labels fuse them; folder: default ``<root>/saliency`` when
        it covers every image.
    synthetic_train, synthetic_val, image_size, seed
        Size and seed of the synthetic splits: at most ``2**20`` images per split, a side of
        at most 4096 pixels (the limits of :class:`~wsss.data.SyntheticVOC`), a seed ``>= 0``.
    synthetic_part_prob
        :class:`~wsss.data.SyntheticVOC`'s ``part_prob``: the probability that a synthetic
        object shows its discriminative part.
    synthetic_preset
        The synthetic generator: a name of :data:`~wsss.data.SYNTHETIC_PRESETS` (``"default"``;
        ``"hard"`` carries the class by texture instead of colour, ...).

    Examples
    --------
    >>> DataConfig().dataset, DataConfig(dataset="voc", root="data").root
    ('synthetic', 'data')
    >>> DataConfig(dataset="coco", root="coco").split_name("train")
    'train2014'
    >>> DataConfig(dataset="imagenet")
    Traceback (most recent call last):
    ...
    ValueError: dataset: expected one of ('synthetic', 'voc', 'coco', 'folder'), got 'imagenet'
    >>> DataConfig(dataset="voc", root="data", labels_file="labels.csv")
    Traceback (most recent call last):
    ...
    ValueError: labels_file: only the folder dataset reads it, not 'voc'
    """

    dataset: str = "synthetic"
    root: str | None = None
    train_split: str | None = None
    val_split: str | None = None
    train_list: str | None = None
    val_list: str | None = None
    sbd_root: str | None = None
    voc_labels: str = "auto"
    labels_file: str | None = None
    classes_file: str | None = None
    annotations_dir: str | None = None
    mask_dir: str | None = None
    saliency_dir: str | None = None
    synthetic_train: int = 1000
    synthetic_val: int = 200
    image_size: int = 128
    seed: int = 0
    synthetic_part_prob: float = 1.0
    synthetic_preset: str = "default"

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, DATASETS)
        if self.dataset != "synthetic" and self.root is None:
            raise ValueError(f"root: the {self.dataset!r} dataset needs its folder")
        for name in _OPTIONAL_STR:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise TypeError(f"{name}: expected a non-empty str or None, got {value!r}")
        for name, datasets in _ONLY_FOR.items():
            if getattr(self, name) is not None and self.dataset not in datasets:
                only = " and ".join(datasets)
                raise ValueError(f"{name}: only the {only} dataset{'s' * (len(datasets) > 1)} "
                                 f"read{'s' * (len(datasets) == 1)} it, not {self.dataset!r}")
        check_choice("voc_labels", self.voc_labels, VOC_LABELS)
        if not isinstance(self.synthetic_preset, str) or (
            self.synthetic_preset not in SYNTHETIC_PRESETS
        ):
            raise ValueError(f"synthetic_preset: expected one of {sorted(SYNTHETIC_PRESETS)}, "
                             f"got {self.synthetic_preset!r}")
        for name in ("synthetic_train", "synthetic_val", "image_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        check_int("synthetic_train", self.synthetic_train, maximum=_MAX_IMAGES)
        check_int("synthetic_val", self.synthetic_val, maximum=_MAX_IMAGES)
        check_int("image_size", self.image_size, maximum=_MAX_IMAGE_SIZE)
        check_int("seed", self.seed, minimum=0)
        check_real("synthetic_part_prob", self.synthetic_part_prob, minimum=0.0, maximum=1.0)

    @property
    def synthetic(self) -> bool:
        """Whether this names the embedded synthetic dataset."""
        return self.dataset == "synthetic"

    def split_name(self, split: str) -> str:
        """The split name that ``split`` (``"train"`` or ``"val"``) reads: the given one or the
        dataset's default (:data:`DEFAULT_SPLITS`).

        Examples
        --------
        >>> DataConfig(dataset="voc", root="d").split_name("train")
        'train_aug'
        >>> DataConfig(dataset="voc", root="d", val_split="train").split_name("val")
        'train'
        """
        if split not in ("train", "val"):
            raise ValueError(f"split: expected 'train' or 'val', got {split!r}")
        given = self.train_split if split == "train" else self.val_split
        return given or DEFAULT_SPLITS[self.dataset][split == "val"]


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
        _check_name("name", self.name)
        _check_name("backbone", self.backbone)
        if self.weights is not None:
            _check_name("weights", self.weights)
        check_choice("weights_format", self.weights_format, WEIGHT_FORMATS)
        _check_kwargs("kwargs", self.kwargs)

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

    def __post_init__(self) -> None:
        _check_name("backbone", self.backbone)
        _check_kwargs("kwargs", self.kwargs)

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
        _check_name("name", self.name)
        for name, kind in (("classifier", NetSpec), ("classifier_train", TrainConfig),
                           ("deeplab", NetSpec), ("deeplab_train", TrainConfig),
                           ("pretrain", NetSpec), ("pretrain_train", TrainConfig)):
            value = getattr(self, name)
            if not isinstance(value, kind) and not (name.startswith("pretrain") and value is None):
                none = " or None" if name.startswith("pretrain") else ""
                raise TypeError(f"{name}: expected a {kind.__name__}{none}, got "
                                f"{type(value).__name__}")
        if (self.pretrain is None) != (self.pretrain_train is None):
            raise ValueError("pretrain_train: give it exactly when pretrain is given")
        scales = check_reals("attention_scales", self.attention_scales, minimum=0.0,
                             exclusive_minimum=True)
        object.__setattr__(self, "attention_scales", scales)
        if self.crop is not None:
            check_int("crop", self.crop, minimum=1, maximum=MAX_SIDE)
        if self.pretrain_part_prob is not None:
            check_real("pretrain_part_prob", self.pretrain_part_prob, minimum=0.0, maximum=1.0)

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
    >>> with_changes(base, learning_rate=0.1)
    Traceback (most recent call last):
    ...
    TypeError: learning_rate: not a TrainConfig field
    """
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config: expected a TrainConfig, got {type(config).__name__}")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for name in changes:
        if name not in fields:
            raise TypeError(f"{name}: not a TrainConfig field")
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
    if not isinstance(data, DataConfig):
        raise TypeError(f"data: expected a DataConfig, got {type(data).__name__}")
    return RECIPES["synthetic" if data.synthetic else "voc"]
