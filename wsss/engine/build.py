"""From specs to objects: the datasets of a :class:`DataConfig`, the networks of a
:class:`ModelConfig`.

Every stage of the pipeline takes dataset *objects* (anything with ``class_names``, ``names``,
``__len__`` and ``__getitem__ -> Sample``) rather than configs, so a run opens each dataset once
(:func:`load_dataset`) and hands it to every stage; the class count of every network comes from
the dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from .._validation import MAX_COUNT, check_bool, check_choice, check_int, check_path
from ..data.protocol import check_dataset
from ..data.relabel import WithLabels
from ..data.sample import Sample, sample_names
from ..data.synthetic import synthetic_dataset
from ..data.voc import VOCSegmentation
from ..io import load_checkpoint
from ..models import create_model
from ..models.weights import (
    load_backbone_weights,
    load_deeplab_caffe_vgg16,
    load_imagenet_resnet,
    load_imagenet_vgg16,
)
from .config import DataConfig, ModelConfig

__all__ = [
    "InMemory",
    "build_model",
    "class_names",
    "load_dataset",
    "load_trained",
    "output_classes",
]


def load_dataset(
    data: DataConfig,
    split: str,
    *,
    labels_from: str | Path | None = None,
    masks: bool = True,
    saliency: bool = True,
) -> Sequence[Sample]:
    """The ``"train"`` or ``"val"`` split of ``data``; ``labels_from`` swaps in proxy labels.

    Each dataset reads only what a stage uses: saliency maps for the training split only, and
    only with ``saliency=True`` (the proxy labels fuse them; the validation split never reads
    any); pixel labels only with ``masks=True`` (classifier training needs none, so a missing
    mask cannot stop it).

    Splits per dataset (see :class:`DataConfig`): VOC ``train_aug`` / ``val``;
    COCO ``train2014`` / ``val2014``; folder ``splits/train.txt`` / ``splits/val.txt``, or
    the whole folder for both when the split list does not exist (and none was named).

    Parameters
    ----------
    data
        The images.
    split
        ``"train"`` or ``"val"``.
    labels_from
        A folder of ``<name>.png`` proxy labels that replace the pixel labels.
    masks
        Read the dataset's pixel labels (``False``: ``Sample.label`` is ``None``, except on the
        synthetic data, which draws them with the image).
    saliency
        Read the saliency maps of the training split (when the dataset has them).

    Returns
    -------
    Sequence of Sample
        Each :class:`~wsss.data.Sample` has ``image`` ``uint8`` ``(H, W, 3)``, ``classes``
        ``float32`` ``(C,)`` and, where the dataset has them, ``label`` ``uint8`` ``(H, W)``
        (the ground truth, or the PNG of the same name in ``labels_from``) and ``saliency``
        ``float32`` ``(H, W)``. The dataset's ``class_names`` name the ``C`` classes.

    Examples
    --------
    >>> train = load_dataset(DataConfig(synthetic_train=3, image_size=48), "train")
    >>> sample = train[0]
    >>> len(train), sample.image.shape, sample.classes.shape, sample.label.dtype
    (3, (48, 48, 3), (20,), dtype('uint8'))
    """
    if not isinstance(data, DataConfig):
        raise TypeError(f"data: expected a DataConfig, got {type(data).__name__}")
    check_choice("split", split, ("train", "val"))
    check_bool("masks", masks)
    check_bool("saliency", saliency)
    if labels_from is not None:
        labels_from = check_path("labels_from", labels_from)
        if not labels_from.is_dir():
            raise FileNotFoundError(f"labels_from: label folder {labels_from} not found")
    train = split == "train"
    saliency_dir = data.saliency_dir if (train and saliency) else None
    name = data.split_name(split)
    listed = data.train_list if train else data.val_list
    dataset: Any  # every dataset follows wsss.data.SegmentationDataset
    if data.dataset == "synthetic":
        n = data.synthetic_train if train else data.synthetic_val
        dataset = synthetic_dataset(data.synthetic_preset, n, image_size=data.image_size,
                                    seed=data.seed, split=split,
                                    part_prob=data.synthetic_part_prob)
    elif data.dataset == "voc":
        label_source = (data.voc_labels if train else "auto") if masks else "none"
        dataset = VOCSegmentation(
            data.root,  # type: ignore[arg-type]
            name, sbd_root=data.sbd_root, label_source=label_source, saliency_dir=saliency_dir,
            image_list=listed,
        )
    elif data.dataset == "coco":
        from ..data.coco import COCOSegmentation

        root = Path(data.root)  # type: ignore[arg-type]
        annotations = (None if data.annotations_dir is None
                       else Path(data.annotations_dir) / f"instances_{name}.json")
        dataset = COCOSegmentation(
            root, name, annotations=annotations, masks=masks,
            mask_dir=data.mask_dir if masks else None, saliency_dir=saliency_dir)
    else:
        from ..data.folder import FolderDataset

        root = Path(data.root)  # type: ignore[arg-type]
        chosen: str | Path | None = Path(listed) if listed is not None else name
        if listed is None and ((train and data.train_split is None)
                               or (not train and data.val_split is None)):
            chosen = name if (root / "splits" / f"{name}.txt").is_file() else None
        folder_saliency: str | None = "auto" if data.saliency_dir is None else data.saliency_dir
        folder_masks: str | None = "auto" if data.mask_dir is None else data.mask_dir
        dataset = FolderDataset(
            root, labels=data.labels_file, classes=data.classes_file, split=chosen,
            mask_dir=folder_masks if masks else None,
            saliency_dir=folder_saliency if (train and saliency) else None,
        )
    return WithLabels(dataset, labels_from) if labels_from is not None else dataset


def class_names(dataset: object, argument: str = "dataset") -> tuple[str, ...]:
    """The foreground class names of a dataset (its ``class_names``); label ``c + 1`` is
    ``class_names[c]``.

    Raises
    ------
    TypeError
        ``dataset`` has no ``class_names``; the message names ``argument``.

    Examples
    --------
    >>> from wsss.data import SyntheticVOC
    >>> class_names(SyntheticVOC(1))[:3]
    ('aeroplane', 'bicycle', 'bird')
    >>> class_names([1, 2])
    Traceback (most recent call last):
    ...
    TypeError: dataset: expected a dataset with class_names (a tuple of str), got list
    """
    names = getattr(dataset, "class_names", None)
    if names is None or isinstance(names, str) or not all(isinstance(n, str) for n in names):
        raise TypeError(f"{argument}: expected a dataset with class_names (a tuple of str), "
                        f"got {type(dataset).__name__}")
    return tuple(names)


def output_classes(model_name: str, num_classes: int) -> int:
    """Output channels of network ``model_name`` for ``num_classes`` foreground classes: one more
    (the background) for ``"deeplab_largefov"``, the same for the classifiers.

    Examples
    --------
    >>> output_classes("seenet", 3), output_classes("deeplab_largefov", 3)
    (3, 4)
    """
    return num_classes + 1 if model_name == "deeplab_largefov" else num_classes


def _check_model_args(config: object, num_classes: object) -> None:
    if not isinstance(config, ModelConfig):
        raise TypeError(f"config: expected a ModelConfig, got {type(config).__name__}")
    check_int("num_classes", num_classes, minimum=1, maximum=MAX_COUNT)


def build_model(config: ModelConfig, num_classes: int) -> nn.Module:
    """Create network ``config.name`` for ``num_classes`` foreground classes and load its initial
    weights (a missing key is an error).

    Examples
    --------
    >>> import torch
    >>> model = build_model(ModelConfig("deeplab_largefov", backbone="resnet_tiny"), 3)
    >>> model(torch.zeros(1, 3, 48, 48)).shape  # logits (N, 3 + background, H, W)
    torch.Size([1, 4, 48, 48])
    """
    _check_model_args(config, num_classes)
    model = create_model(config.name, backbone=config.backbone,
                         num_classes=output_classes(config.name, num_classes), **config.kwargs)
    if config.weights is not None:
        backbone = model.backbone
        if config.weights_format == "caffe":
            load_deeplab_caffe_vgg16(model, config.weights, load_fc8=False)
        elif config.weights_format == "backbone":
            load_backbone_weights(backbone, config.weights, strict=True)  # type: ignore[arg-type]
        elif config.backbone.startswith("resnet"):
            load_imagenet_resnet(backbone, config.weights, strict=True)  # type: ignore[arg-type]
        else:
            load_imagenet_vgg16(backbone, config.weights, strict=True)  # type: ignore[arg-type]
    return model


def load_trained(config: ModelConfig, path: str | Path, num_classes: int) -> nn.Module:
    """Network ``config`` for ``num_classes`` foreground classes with the weights saved at
    ``path`` (a ``model.pt`` state dict or a training ``checkpoint.pt``).

    Raises
    ------
    ValueError
        The file does not fit the network (another backbone or class count); the message names
        the file and the mismatching entries.

    Examples
    --------
    >>> import tempfile, torch
    >>> from wsss.io import save_checkpoint
    >>> config = ModelConfig("seenet", backbone="resnet_tiny")
    >>> trained = build_model(config, 20)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     save_checkpoint(trained.state_dict(), Path(tmp) / "model.pt")
    ...     model = load_trained(config, Path(tmp) / "model.pt", 20)
    >>> saved = trained.state_dict()
    >>> all(torch.equal(value, saved[key]) for key, value in model.state_dict().items())
    True
    """
    _check_model_args(config, num_classes)
    model = create_model(config.name, backbone=config.backbone,
                         num_classes=output_classes(config.name, num_classes), **config.kwargs)
    state = load_checkpoint(path)
    if isinstance(state, dict) and "model" in state and "iteration" in state:
        state = state["model"]  # a training checkpoint
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state)
                   if tuple(own[k].shape) != tuple(getattr(state[k], "shape", ())))
    if missing or unexpected or wrong:
        detail = "; ".join(
            f"{what} {keys[:3]}{' ...' if len(keys) > 3 else ''}"
            for what, keys in (("missing", missing), ("unexpected", unexpected),
                               ("shape differs", wrong)) if keys
        )
        raise ValueError(
            f"{path}: the weights do not fit {config.name} on backbone {config.backbone!r} with "
            f"{num_classes} classes ({detail}); check the backbone and the dataset"
        )
    model.load_state_dict(state)
    return model


class InMemory(Sequence[Sample]):
    """A dataset whose samples are read (or rendered) once and then kept in memory.

    For small datasets that several stages walk, such as the embedded synthetic one; the
    dataset's ``class_names`` and ``names`` pass through.

    Examples
    --------
    >>> from wsss.data import SyntheticVOC
    >>> data = InMemory(SyntheticVOC(2, image_size=48))
    >>> data[0] is data[0], len(data), data.class_names[0]
    (True, 2, 'aeroplane')
    """

    def __init__(self, dataset: Sequence[Sample]) -> None:
        check_dataset(dataset)
        self.dataset = dataset
        self.names = tuple(sample_names(dataset))
        self._samples: dict[int, Sample] = {}

    @property
    def class_names(self) -> tuple[str, ...]:
        return class_names(self.dataset)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Sample:  # type: ignore[override]
        index = check_int("index", index)
        if not -len(self) <= index < len(self):
            raise IndexError(f"index: {index} is out of range for {len(self)} samples")
        if index < 0:
            index += len(self)
        if index not in self._samples:
            self._samples[index] = self.dataset[index]
        return self._samples[index]

    def __getattr__(self, name: str) -> object:
        if name.startswith("_") or name == "dataset":
            raise AttributeError(name)
        return getattr(self.dataset, name)
