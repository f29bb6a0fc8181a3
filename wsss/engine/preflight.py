"""Check a stage's inputs before any expensive work: files exist and agree with each other.

A stage that fails after an hour on a missing saliency map, or on a checkpoint of another
backbone, wastes the hour. :func:`check_data` and :func:`check_checkpoint` look at the inputs
first (file lists and headers only: no image is decoded, no network is built in memory) and
raise :class:`PreflightError`, a :class:`ValueError`, naming what the user gave.

The checks are flag-agnostic: each takes ``names``, a mapping from the argument names used here
to how the caller wants them named in messages. The command-line scripts pass their flags
(``{"saliency_dir": "--saliency-dir", ...}``, :data:`wsss.engine.cli.FLAGS`), so a message reads
``--saliency-dir data/sal: no saliency map for 3 of 4 training images (2007_000032, ...)``;
library callers get the argument names (``saliency_dir data/sal: ...``).

Argument names used in messages: ``dataset``, ``root``, ``sbd_root``, ``train_split``,
``val_split``, ``train_list``, ``val_list``, ``voc_labels``, ``labels_file``,
``classes_file``, ``annotations_dir``, ``mask_dir``, ``saliency_dir``, ``checkpoint``,
``backbone``, ``model``, ``proxy``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from ..data.sample import Sample
from ..io import load_checkpoint
from ..models import create_model
from .config import DataConfig, ModelConfig

__all__ = ["PreflightError", "check_checkpoint", "check_coverage", "check_data",
           "describe_names", "from_scratch", "images_with_a_class"]

_SPLIT_WORDS = {"train": "training", "val": "validation"}


class PreflightError(ValueError):
    """An input is missing or does not agree with another; the message names it.

    Examples
    --------
    >>> error = PreflightError("--checkpoint runs/x/model.pt: file not found")
    >>> isinstance(error, ValueError), str(error)
    (True, '--checkpoint runs/x/model.pt: file not found')
    """


def describe_names(names: Sequence[str], limit: int = 3) -> str:
    """The first ``limit`` names, comma-separated, with ``...`` when there are more.

    Examples
    --------
    >>> describe_names(["a", "b", "c", "d"])
    'a, b, c, ...'
    >>> describe_names(["a"])
    'a'
    """
    shown = ", ".join(names[:limit])
    return shown + (", ..." if len(names) > limit else "")


def _flag(names: Mapping[str, str] | None, argument: str) -> str:
    return (names or {}).get(argument, argument)


def _stems(folder: Path, suffix: str) -> set[str]:
    with os.scandir(folder) as entries:
        return {e.name[: -len(suffix)] for e in entries if e.name.endswith(suffix)}


def images_with_a_class(dataset: Sequence[Sample]) -> list[str]:
    """The names of the images that have at least one class (those that get attention maps
    and proxy labels), read without decoding an image when the dataset offers
    ``image_labels()``; every name otherwise.

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> from wsss.data import FolderDataset
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "images").mkdir()
    >>> for name in "ab":
    ...     Image.new("RGB", (2, 2)).save(root / "images" / f"{name}.png")
    >>> _ = (root / "labels.json").write_text('{"a": [], "b": ["cat"]}')
    >>> images_with_a_class(FolderDataset(root))
    ['b']
    """
    names = list(dataset.names)  # type: ignore[attr-defined]
    method = getattr(dataset, "image_labels", None)
    if not callable(method):
        return names
    table = np.asarray(method())
    return [name for name, row in zip(names, table) if row.any()]


def check_data(
    data: DataConfig,
    split: str,
    *,
    masks: bool = False,
    saliency: bool = False,
    skip_bad: bool = False,
    names: Mapping[str, str] | None = None,
) -> Sequence[Sample]:
    """Check that split ``split`` of ``data`` can be read, and return it (opened, not read).

    Checked: the dataset folder, the split lists, every image file (VOC), the pixel labels
    with ``masks=True`` (VOC: a label file for every image; folder: a mask folder that covers
    the split), and with ``saliency=True`` a saliency folder that holds a map for every image
    that has a class (images without a class get no proxy label, so they need none).

    Parameters
    ----------
    data
        The images.
    split
        ``"train"`` or ``"val"``.
    masks
        The stage reads pixel labels (evaluation, scoring, DeepLab on the ground truth).
    saliency
        The stage fuses saliency maps (proxy labels with the ``saliency`` proxy).
    skip_bad
        The stage skips images whose inputs are missing or unreadable: a saliency folder that
        lacks maps is then not an error (the folder itself must exist).
    names
        How to name the arguments in messages (e.g. command-line flags); see the module
        docstring.

    Returns
    -------
    Sequence of Sample
        ``load_dataset(data, split, masks=masks, saliency=saliency)``.

    Raises
    ------
    PreflightError
        The first problem found; the message starts with the name of the argument to fix and
        its value.

    Examples
    --------
    >>> import tempfile
    >>> missing = tempfile.mkdtemp() + "/nothing"
    >>> check_data(DataConfig(dataset="voc", root=missing), "train",
    ...            names={"root": "--data-root"})  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    wsss.engine.preflight.PreflightError: --data-root .../nothing: folder not found
    >>> len(check_data(DataConfig(synthetic_train=2, image_size=48), "train"))
    2
    """
    from .build import load_dataset

    if split not in _SPLIT_WORDS:
        raise ValueError(f"split: expected 'train' or 'val', got {split!r}")
    word = _SPLIT_WORDS[split]
    if not data.synthetic:
        root = Path(data.root).expanduser()  # type: ignore[arg-type]
        if not root.is_dir():
            raise PreflightError(f"{_flag(names, 'root')} {data.root}: folder not found")
    listed = data.train_list if split == "train" else data.val_list
    if listed is not None and not Path(listed).expanduser().is_file():
        raise PreflightError(f"{_flag(names, split + '_list')} {listed}: list file not found")
    if data.dataset == "voc":
        _check_voc_lists(data, split, listed, names)
    if data.synthetic:
        return load_dataset(data, split, masks=masks, saliency=saliency)
    _check_given_paths(data, split, masks=masks, saliency=saliency, names=names)
    try:
        dataset = load_dataset(data, split, masks=masks, saliency=False)
    except (OSError, ValueError, TypeError) as exc:
        argument = "root"
        if data.dataset == "voc" and data.sbd_root is not None and "SBD" in str(exc):
            argument = "sbd_root"
        raise PreflightError(f"{_flag(names, argument)} {getattr(data, argument)}: {exc}") from exc
    if data.dataset == "voc":
        _check_voc_files(dataset, data, split, masks, names)
    if data.dataset == "folder" and masks and getattr(dataset, "mask_dir", None) is None:
        raise PreflightError(
            f"{_flag(names, 'mask_dir')}: the {word} images have no masks (no complete "
            f"{Path(data.root) / 'masks'} folder); this stage scores against the "  # type: ignore[arg-type]
            "ground truth"
        )
    if not saliency:
        return dataset
    _check_saliency(dataset, data, word, names, skip_bad)
    try:
        return load_dataset(data, split, masks=masks, saliency=True)
    except (OSError, ValueError, TypeError) as exc:
        raise PreflightError(f"{_flag(names, 'saliency_dir')} {data.saliency_dir}: {exc}") from exc


#: The path arguments a dataset may be given, and whether each is a file or a folder.
_GIVEN_PATHS = (("sbd_root", "folder"), ("labels_file", "file"), ("classes_file", "file"),
                ("annotations_dir", "folder"), ("mask_dir", "folder"),
                ("saliency_dir", "folder"))


def _check_given_paths(
    data: DataConfig, split: str, *, masks: bool, saliency: bool,
    names: Mapping[str, str] | None,
) -> None:
    """Every path the user gave (and this stage reads) exists, named by its own argument."""
    for argument, kind in _GIVEN_PATHS:
        value = getattr(data, argument)
        if value is None or (argument == "mask_dir" and not masks) or (
                argument == "saliency_dir" and not (saliency and split == "train")):
            continue
        path = Path(value).expanduser()
        if not (path.is_dir() if kind == "folder" else path.is_file()):
            raise PreflightError(f"{_flag(names, argument)} {value}: {kind} not found")


def _check_voc_lists(
    data: DataConfig, split: str, listed: str | None, names: Mapping[str, str] | None
) -> None:
    from ..data.voc import SPLITS, find_sbd_root, find_voc_root

    split_arg = f"{split}_split"
    chosen = data.split_name(split)
    if chosen not in SPLITS:
        raise PreflightError(f"{_flag(names, split_arg)} {chosen}: expected one of {SPLITS}")
    try:
        voc = find_voc_root(Path(data.root).expanduser())  # type: ignore[arg-type]
    except FileNotFoundError as exc:
        raise PreflightError(f"{_flag(names, 'root')} {data.root}: {exc}") from exc
    if listed is not None:
        return
    lists = voc / "ImageSets" / "Segmentation"
    needed = [lists / f"{chosen}.txt"] if chosen != "train_aug" else [lists / "train.txt",
                                                                       lists / "val.txt"]
    if chosen == "train_aug":
        if data.sbd_root is None:
            raise PreflightError(
                f"{_flag(names, 'sbd_root')}: the train_aug split needs the SBD folder "
                f"(benchmark_RELEASE), or the field's train_aug.txt as "
                f"{_flag(names, split + '_list')}"
            )
        try:
            sbd = find_sbd_root(Path(data.sbd_root).expanduser())
        except FileNotFoundError as exc:
            raise PreflightError(f"{_flag(names, 'sbd_root')} {data.sbd_root}: {exc}") from exc
        needed += [sbd / "train.txt", sbd / "val.txt"]
    for path in needed:
        if not path.is_file():
            argument = "root" if path.parent == lists else "sbd_root"
            raise PreflightError(f"{_flag(names, argument)} {getattr(data, argument)}: "
                                 f"split list {path} not found (split {chosen})")


def _check_voc_files(
    dataset: Sequence[Sample], data: DataConfig, split: str, masks: bool,
    names: Mapping[str, str] | None,
) -> None:
    word = _SPLIT_WORDS[split]
    images = list(dataset.names)  # type: ignore[attr-defined]
    voc_root = dataset.voc_root  # type: ignore[attr-defined]
    have = _stems(voc_root / "JPEGImages", ".jpg") if (voc_root / "JPEGImages").is_dir() else set()
    missing = [n for n in images if n not in have]
    if missing:
        raise PreflightError(
            f"{_flag(names, 'root')} {data.root}: no image for {len(missing)} of {len(images)} "
            f"{word} images in {voc_root / 'JPEGImages'} ({describe_names(missing)})"
        )
    if not masks:
        return
    unlabelled = []
    for name in images:
        try:
            path = dataset.label_path(name)  # type: ignore[attr-defined]
        except FileNotFoundError:
            path = None
        if path is None or not path.is_file():
            unlabelled.append(name)
    if unlabelled:
        argument = "voc_labels" if split == "train" and data.voc_labels != "auto" else (
            "sbd_root" if split == "train" and data.sbd_root is None else "root")
        value = getattr(data, argument) or ""
        raise PreflightError(
            f"{_flag(names, argument)} {value}".rstrip() + f": no pixel labels for "
            f"{len(unlabelled)} of {len(images)} {word} images ({describe_names(unlabelled)}); "
            "this stage scores against the ground truth"
        )


def _check_saliency(
    dataset: Sequence[Sample], data: DataConfig, word: str, names: Mapping[str, str] | None,
    skip_bad: bool,
) -> None:
    flag = _flag(names, "saliency_dir")
    folder = None if data.saliency_dir is None else Path(data.saliency_dir).expanduser()
    if folder is None and data.dataset == "folder":
        default = Path(data.root) / "saliency"  # type: ignore[arg-type]
        folder = default if default.is_dir() else None
    if folder is None:
        raise PreflightError(
            f"{flag}: the proxy labels fuse saliency maps, and none were given; give the "
            f"folder of <name>.png maps, or use {_flag(names, 'proxy')} threshold"
        )
    # a folder dataset reads a map for every image; the others for those with a class
    needed = (list(dataset.names) if data.dataset == "folder"  # type: ignore[attr-defined]
              else images_with_a_class(dataset))
    have = _stems(folder, ".png")
    missing = [n for n in needed if n not in have]
    if missing and not skip_bad:
        shown = f"{flag} {data.saliency_dir}" if data.saliency_dir else f"{flag}: {folder}"
        raise PreflightError(
            f"{shown}: no saliency map for {len(missing)} of {len(needed)} {word} images "
            f"({describe_names(missing)})"
        )


def from_scratch(
    data: DataConfig, weights: str | None, names: Mapping[str, str] | None = None
) -> str | None:
    """The warning for a run on real data without initial weights, or ``None``.

    Without ImageNet weights every network starts from random weights; the published numbers
    all start from ImageNet, so such a run should say so loudly (log, ``config.json``,
    report). The synthetic recipe pretrains its own backbone and gets no warning.

    Examples
    --------
    >>> from_scratch(DataConfig(), None) is None
    True
    >>> from_scratch(DataConfig(dataset="voc", root="data"), None)[:54]
    'no weights: every network trains from scratch (random '
    >>> from_scratch(DataConfig(dataset="voc", root="data"), "vgg16.pth") is None
    True
    """
    if not isinstance(data, DataConfig):
        raise TypeError(f"data: expected a DataConfig, got {type(data).__name__}")
    if weights is not None and not isinstance(weights, (str, os.PathLike)):
        raise TypeError(f"weights: expected a path or None, got {type(weights).__name__}")
    if data.synthetic or weights is not None:
        return None
    return (f"no {_flag(names, 'weights')}: every network trains from scratch (random initial "
            "weights). The published numbers start from ImageNet weights; expect a much lower "
            "mIoU.")


def check_coverage(
    folder: str | os.PathLike,
    wanted: Sequence[str],
    suffix: str,
    *,
    argument: str,
    what: str,
    names: Mapping[str, str] | None = None,
) -> None:
    """Check that ``folder`` holds ``<name><suffix>`` for every name in ``wanted``.

    For the outputs of an earlier stage (attention maps, proxy labels) that a later one reads.

    Raises
    ------
    PreflightError
        The folder is missing, or lacks files; the message names the argument, the folder,
        how many are missing and the first few names.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "a.png").write_bytes(b"")
    >>> check_coverage(folder, ["a"], ".png", argument="labels_dir", what="proxy label")
    >>> check_coverage(folder, ["a", "b", "c"], ".png", argument="labels_dir",
    ...                what="proxy label", names={"labels_dir": "--labels-dir"})
    Traceback (most recent call last):
    ...
    wsss.engine.preflight.PreflightError: --labels-dir ...: no proxy label for 2 of 3 images (b, c)
    """
    flag = _flag(names, argument)
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise PreflightError(f"{flag} {folder}: folder not found")
    have = _stems(path, suffix)
    missing = [n for n in wanted if n not in have]
    if missing:
        raise PreflightError(f"{flag} {folder}: no {what} for {len(missing)} of {len(wanted)} "
                             f"images ({describe_names(missing)})")


def check_checkpoint(
    path: str | os.PathLike,
    model: ModelConfig,
    num_classes: int,
    *,
    names: Mapping[str, str] | None = None,
) -> None:
    """Check that ``path`` holds weights of network ``model`` for ``num_classes`` classes.

    The file is read (``weights_only=True``) and compared, entry by entry, with the network
    built on the ``meta`` device (no memory, no computation): another backbone shows as
    missing or unexpected entries, another class count as a head of another shape.

    Raises
    ------
    PreflightError
        The file is missing, or does not fit; the message names the checkpoint, the backbone
        and the class count as given (``names``), and what differs.
    wsss.io.CheckpointError
        The file is truncated, corrupt or unsafe to load (its message names the file).

    Examples
    --------
    >>> import tempfile
    >>> from wsss.io import save_checkpoint
    >>> from wsss.engine import build_model
    >>> config = ModelConfig("seenet", backbone="resnet_tiny")
    >>> path = Path(tempfile.mkdtemp()) / "model.pt"
    >>> save_checkpoint(build_model(config, 3).state_dict(), path)
    >>> check_checkpoint(path, config, 3)  # fits: no error
    >>> try:
    ...     check_checkpoint(path, config, 20, names={"checkpoint": "--checkpoint"})
    ... except PreflightError as error:
    ...     print(str(error).replace(str(path), "model.pt"))
    --checkpoint model.pt: the weights hold 3 classes, the data has 20; use the checkpoint ...
    """
    from .build import output_classes

    flag = _flag(names, "checkpoint")
    if not Path(path).is_file():
        raise PreflightError(f"{flag} {path}: file not found")
    state = load_checkpoint(path, map_location="cpu")  # CheckpointError names the file
    if isinstance(state, dict) and "model" in state and "iteration" in state:
        state = state["model"]
    if not isinstance(state, dict):
        raise PreflightError(f"{flag} {path}: expected a state dict, got {type(state).__name__}")
    with torch.device("meta"):
        network = create_model(model.name, backbone=model.backbone,
                               num_classes=output_classes(model.name, num_classes),
                               **model.kwargs)
    own = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    saved = {k: tuple(getattr(v, "shape", ())) for k, v in state.items()}
    missing = sorted(set(own) - set(saved))
    unexpected = sorted(set(saved) - set(own))
    wrong = sorted(k for k in set(own) & set(saved) if own[k] != saved[k])
    if not (missing or unexpected or wrong):
        return
    backbone = f"{_flag(names, 'backbone')} {model.backbone}"
    if not missing and not unexpected:
        out = output_classes(model.name, num_classes)
        heads = {saved[k][0] for k in wrong if saved[k] and own[k][0] == out}
        if len(heads) == 1:
            found = heads.pop()
            found -= out - num_classes  # DeepLab's background channel
            raise PreflightError(
                f"{flag} {path}: the weights hold {found} classes, the data has {num_classes}; "
                "use the checkpoint trained on this data"
            )
    detail = "; ".join(
        f"{what} {describe_names(keys)}"
        for what, keys in (("missing", missing), ("unexpected", unexpected),
                           ("shape differs", wrong)) if keys
    )
    raise PreflightError(
        f"{flag} {path}: the weights do not fit {model.name} on {backbone} with {num_classes} "
        f"classes ({detail}); check the backbone"
    )
