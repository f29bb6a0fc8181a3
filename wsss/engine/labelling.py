"""Per-image stages: attention maps, proxy labels and segmentation predictions.

Every stage walks a dataset's images, writes one file per image and is safe to interrupt:

- each output is written atomically (temporary file, then ``os.replace``), so no partial file
  ever exists under its final name;
- an image whose output already exists is skipped, so a rerun completes only what is missing;
- under torchrun the images are sharded over the ranks (``names[rank::world_size]``);
- a bad input raises an error naming the file, or, with ``skip_bad=True``, is recorded in the
  returned :class:`StageReport` and skipped.

Attention files are ``<name>.npz`` with ``classes`` (the image's class indices, int16),
``fused`` and ``branch_<name>`` maps (float16, one channel per image class).
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from .._validation import check_path, to_numpy
from ..cam import CAMExtractor
from ..data.images import write_label
from ..data.sample import Sample, sample_names
from ..data.transforms import Normalizer, to_tensor
from ..fusion import IGNORE_INDEX, fuse_saliency
from ..io import atomic_write
from ..threshold_labels import ThresholdRule, threshold_labels
from .distributed import DistContext, shard
from .refiners import Refiner, proxy_scores

__all__ = [
    "PROXY_ROUTES",
    "StageReport",
    "StoredAttention",
    "generate_attention",
    "generate_pseudo_labels",
    "load_attention",
    "save_attention",
]

#: Errors that mean "this input file is bad" (as opposed to a bug): ``skip_bad`` catches these.
BAD_INPUT_ERRORS = (FileNotFoundError, ValueError, OSError, zipfile.BadZipFile)


@dataclass(frozen=True)
class StageReport:
    """What a per-image stage did on this rank.

    Attributes
    ----------
    written
        Names whose output this call wrote.
    skipped
        Names whose output already existed.
    failed
        ``(name, reason)`` for inputs skipped because they were bad (``skip_bad=True``).
    no_class
        Images that name no class: no attention is made for them, and their proxy label is
        all background.

    Examples
    --------
    >>> report = StageReport(written=("img_2",), skipped=("img_0", "img_1"))
    >>> len(report.written), len(report.skipped), report.failed
    (1, 2, ())
    """

    written: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = field(default_factory=tuple)
    no_class: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoredAttention:
    """Attention maps read back from a ``.npz`` file, expanded to all classes.

    Attributes
    ----------
    class_names
        The ``C`` class names of the dataset the maps were made for.
    classes
        Multi-hot image classes, ``float32`` ``(C,)``.
    fused
        ``float32`` ``(C, H, W)`` in [0, 1], zero for classes not in the image.
    branches
        The same for each stored branch (e.g. ``"a"``, ``"b"`` for SeeNet).

    Examples
    --------
    >>> maps = np.zeros((20, 4, 6), np.float32)
    >>> names = tuple(f"class {k}" for k in range(20))
    >>> stored = StoredAttention(class_names=names, classes=np.eye(20, dtype=np.float32)[7],
    ...                          fused=maps, branches={"a": maps, "b": maps})
    >>> stored.fused[stored.classes > 0].shape  # the maps of the image's classes
    (1, 4, 6)
    """

    class_names: tuple[str, ...]
    classes: np.ndarray
    fused: np.ndarray
    branches: dict[str, np.ndarray]


def save_attention(
    path: str | Path,
    fused: np.ndarray,
    branches: dict[str, np.ndarray],
    classes: np.ndarray,
    class_names: Sequence[str],
) -> None:
    """Write the maps of the image's classes only, as float16, atomically, with the names of
    all ``C`` classes of the dataset (so that a reader with other classes is refused).

    Parameters
    ----------
    path
        The ``.npz`` file to write.
    fused, branches
        ``float32`` ``(C, H, W)`` maps: the fused ones and each branch's (e.g. ``"a"``).
    classes
        Multi-hot image classes ``(C,)``: only these channels are stored.
    class_names
        The ``C`` class names of the dataset.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.npz"
    >>> att = np.zeros((3, 2, 2), np.float32); att[1] = 0.5
    >>> save_attention(p, att, {"a": att}, np.array([0, 1, 0], np.float32), ("a", "b", "c"))
    >>> load_attention(p).fused[1]
    array([[0.5, 0.5],
           [0.5, 0.5]], dtype=float32)
    """
    path = check_path("path", path)
    if isinstance(class_names, str) or not isinstance(class_names, Sequence) or not all(
        isinstance(n, str) for n in class_names
    ):
        raise TypeError("class_names: expected a sequence of str")
    names = tuple(class_names)
    fused = _check_maps("fused", fused)
    if not isinstance(branches, Mapping):
        raise TypeError(f"branches: expected a dict of name -> maps, got {type(branches).__name__}")
    branches = {str(k): _check_maps(f"branches[{k!r}]", v) for k, v in branches.items()}
    if any(maps.shape != fused.shape for maps in branches.values()):
        raise ValueError(f"branches: every branch must have the fused maps' shape {fused.shape}")
    classes = to_numpy("classes", classes)
    if classes.dtype.kind not in "biuf" or (classes.dtype.kind == "f" and not np.isfinite(
            classes).all()):
        raise ValueError("classes: expected finite multi-hot numbers")
    if classes.shape != (len(names),) or fused.shape[0] != len(names):
        raise ValueError(f"class_names: {len(names)} names for classes of shape "
                         f"{classes.shape} and maps of shape {fused.shape}")
    present = np.flatnonzero(classes > 0)
    arrays: dict[str, Any] = {"classes": present.astype(np.int16),
                              "fused": fused[present].astype(np.float16),
                              "class_names": np.array(names, dtype=str)}
    for name, maps in branches.items():
        arrays[f"branch_{name}"] = maps[present].astype(np.float16)
    with atomic_write(path) as f:
        np.savez_compressed(f, **arrays)


def load_attention(
    path: str | Path, *, class_names: Sequence[str] | None = None
) -> StoredAttention:
    """Read a file written by :func:`save_attention` (no pickle is ever loaded).

    Parameters
    ----------
    path
        A ``.npz`` attention file.
    class_names
        The classes the reader expects; a file written for other classes is refused.
        ``None`` accepts the file's own.

    Returns
    -------
    StoredAttention
        ``class_names`` (the file's ``C`` names), ``classes`` ``float32`` ``(C,)``; ``fused``
        and each branch ``float32`` ``(C, H, W)``, zero for the classes not in the image.

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file, one that is not a valid attention file, or one written for other
        classes; the message names the path.

    Examples
    --------
    >>> import tempfile
    >>> names = tuple(f"class {k}" for k in range(20))
    >>> classes = np.zeros(20, np.float32); classes[[3, 7]] = 1
    >>> maps = np.full((20, 6, 8), 0.5, np.float32)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     save_attention(Path(tmp) / "img.npz", maps, {"a": maps, "b": maps}, classes, names)
    ...     stored = load_attention(Path(tmp) / "img.npz", class_names=names)
    >>> stored.fused.shape, sorted(stored.branches), np.flatnonzero(stored.classes).tolist()
    ((20, 6, 8), ['a', 'b'], [3, 7])
    >>> float(stored.fused[3].max()), float(stored.fused[4].max())  # class 4 is not stored
    (0.5, 0.0)
    """
    path = check_path("path", path)
    if class_names is not None and (
        isinstance(class_names, str) or not isinstance(class_names, Sequence)
        or not all(isinstance(n, str) for n in class_names)
    ):
        raise TypeError("class_names: expected a sequence of str (or None)")
    if not path.is_file():
        raise FileNotFoundError(f"attention file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            present = data["classes"].astype(np.int64)
            names = tuple(str(n) for n in data["class_names"])
            stored = {k: data[k].astype(np.float32) for k in data.files
                      if k not in ("classes", "class_names")}
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable attention file ({exc})") from exc
    if class_names is not None and tuple(class_names) != names:
        expected = tuple(class_names)
        raise ValueError(
            f"{path}: written for {len(names)} classes ({', '.join(names[:4])}"
            f"{', ...' if len(names) > 4 else ''}), but the dataset has {len(expected)} "
            f"({', '.join(expected[:4])}{', ...' if len(expected) > 4 else ''})"
        )
    num_classes = len(names)
    if present.size == 0 or present.max() >= num_classes or present.min() < 0:
        raise ValueError(f"{path}: class indices {present.tolist()} outside 0..{num_classes - 1}")
    classes = np.zeros(num_classes, np.float32)
    classes[present] = 1

    def expand(maps: np.ndarray) -> np.ndarray:
        if maps.ndim != 3 or maps.shape[0] != present.size:
            raise ValueError(f"{path}: maps of shape {maps.shape} for {present.size} classes")
        full = np.zeros((num_classes, *maps.shape[1:]), np.float32)
        full[present] = maps
        return full

    if "fused" not in stored:
        raise ValueError(f"{path}: not a readable attention file (no fused maps)")
    fused = expand(stored.pop("fused"))
    branches = {k.removeprefix("branch_"): expand(v) for k, v in stored.items()}
    return StoredAttention(class_names=names, classes=classes, fused=fused, branches=branches)


def _class_names(dataset: object, class_names: Sequence[str] | None) -> tuple[str, ...]:
    """``class_names`` if given, else the dataset's own."""
    if class_names is None:
        class_names = getattr(dataset, "class_names", None)
        if class_names is None:
            raise TypeError("class_names: the dataset has no class_names; pass them")
    names = tuple(class_names)
    if not names or not all(isinstance(n, str) for n in names):
        raise TypeError(f"class_names: expected a non-empty sequence of str, got {class_names!r}")
    return names


def _load_samples(
    dataset: Sequence[Sample],
    indices: Sequence[int],
    skip_bad: bool,
    failed: list[tuple[str, str]],
    names: Sequence[str],
) -> Iterator[Sample]:
    for i in indices:
        try:
            yield dataset[i]
        except BAD_INPUT_ERRORS as exc:
            if not skip_bad:
                raise
            failed.append((names[i], str(exc)))


def _same_size_batches(samples: Iterator[Sample], batch_size: int) -> Iterator[list[Sample]]:
    batch: list[Sample] = []
    for sample in samples:
        if batch and (len(batch) == batch_size or sample.image.shape != batch[0].image.shape):
            yield batch
            batch = []
        batch.append(sample)
    if batch:
        yield batch


def generate_attention(
    extractor: CAMExtractor,
    dataset: Sequence[Sample],
    out_dir: str | Path,
    normalizer: Normalizer,
    *,
    class_names: Sequence[str] | None = None,
    ctx: DistContext | None = None,
    batch_size: int = 8,
    skip_bad: bool = False,
    progress: bool = True,
) -> StageReport:
    """Write ``<out_dir>/<name>.npz`` attention maps for the image classes of every sample.

    Images of the same size are batched (up to ``batch_size``); ``extractor`` already batches
    flips and scales. Images that name no class get no file (listed in
    ``StageReport.no_class``). Each file holds the maps of the image's classes only (see
    the module docstring); :func:`load_attention` expands them to ``float32`` ``(C, H, W)``.

    Parameters
    ----------
    extractor
        Turns normalised images ``float32`` ``(N, 3, H, W)`` and multi-hot classes ``(N, C)``
        into attention maps ``(N, C, H, W)`` at the image size.
    dataset
        Samples with ``image`` ``uint8`` ``(H, W, 3)`` and ``classes`` ``float32`` ``(C,)``.
    out_dir
        Created if missing; an image whose ``.npz`` already exists is skipped.
    normalizer
        The input normalisation the network was trained with.
    class_names
        The ``C`` class names stored in every file; default: ``dataset.class_names``.
    ctx
        Under torchrun, this rank handles every ``world_size``-th image.
    batch_size
        Images per forward pass.
    skip_bad
        Record unreadable samples in ``StageReport.failed`` instead of raising.
    progress
        Show a progress bar.

    Returns
    -------
    StageReport
        What this rank wrote, skipped and failed.

    Examples
    --------
    >>> import tempfile
    >>> from wsss.data.synthetic import SyntheticVOC
    >>> from wsss.data.transforms import TORCHVISION
    >>> from wsss.models import create_model
    >>> extractor = CAMExtractor(create_model("seenet", backbone="resnet_tiny"), flip=True)
    >>> data = SyntheticVOC(3, image_size=48)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     report = generate_attention(extractor, data, tmp, TORCHVISION, progress=False)
    ...     rerun = generate_attention(extractor, data, tmp, TORCHVISION, progress=False)
    ...     stored = load_attention(Path(tmp) / f"{data.names[0]}.npz")
    >>> len(report.written), len(rerun.written), len(rerun.skipped)
    (3, 0, 3)
    >>> stored.fused.shape, sorted(stored.branches)
    ((20, 48, 48), ['a', 'b'])
    """
    ctx = ctx or DistContext()
    classes_named = _class_names(dataset, class_names)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = sample_names(dataset)
    mine = shard(range(len(names)), ctx)
    todo = [i for i in mine if not (out_dir / f"{names[i]}.npz").exists()]
    pending = set(todo)
    skipped = tuple(names[i] for i in mine if i not in pending)
    written: list[str] = []
    failed: list[tuple[str, str]] = []
    no_class: list[str] = []

    def with_class(samples: Iterator[Sample]) -> Iterator[Sample]:
        for sample in samples:
            if np.any(sample.classes):
                yield sample
            else:
                no_class.append(sample.name)
                bar.update(1)

    bar = tqdm(total=len(todo), desc="attention", disable=not progress, leave=False)
    for batch in _same_size_batches(
        with_class(_load_samples(dataset, todo, skip_bad, failed, names)), batch_size
    ):
        images = torch.stack([to_tensor(s.image, normalizer) for s in batch])
        labels = torch.from_numpy(np.stack([s.classes for s in batch]))
        maps = extractor(images, labels)
        fused = maps.fused.cpu().numpy()
        branches = {k: v.cpu().numpy() for k, v in maps.branches.items()}
        for j, sample in enumerate(batch):
            save_attention(out_dir / f"{sample.name}.npz", fused[j],
                           {k: v[j] for k, v in branches.items()}, sample.classes,
                           classes_named)
            written.append(sample.name)
        bar.update(len(batch))
    bar.close()
    return StageReport(tuple(written), skipped, tuple(failed), tuple(no_class))


#: The routes from attention to proxy labels: fused with saliency, or thresholded.
PROXY_ROUTES = ("saliency", "threshold")


def _proxy_label(
    sample: Sample,
    attention: np.ndarray,
    proxy: str,
    method: str,
    fusion_kwargs: dict | None,
    rule: ThresholdRule | None,
    refine: Refiner | None,
) -> np.ndarray:
    """One image's proxy label ``uint8`` ``(H, W)`` by ``proxy`` route (see
    :func:`generate_pseudo_labels`)."""
    present = np.flatnonzero(sample.classes)
    if proxy == "threshold":
        if refine is not None:
            refined = refine(sample, proxy_scores(sample, attention, saliency=False))
            attention = np.zeros_like(attention)
            attention[present] = refined[1:]
        return threshold_labels(np.clip(attention, 0, 1), sample.classes, rule)
    if sample.saliency is None:
        raise FileNotFoundError(f"{sample.name}: no saliency map for this image")
    if attention.shape[1:] != sample.saliency.shape:
        raise ValueError(f"{sample.name}: attention size {attention.shape[1:]} differs from "
                         f"the saliency map's {sample.saliency.shape}")
    label = fuse_saliency(np.clip(attention, 0, 1), sample.saliency, sample.classes,
                          method=method, **(fusion_kwargs or {}))
    if refine is not None:
        refined = refine(sample, proxy_scores(sample, attention, saliency=True)).argmax(0)
        lookup = np.concatenate([[0], present + 1]).astype(np.uint8)
        kept = label == IGNORE_INDEX
        label = lookup[refined]
        label[kept] = IGNORE_INDEX
    return label


def generate_pseudo_labels(
    dataset: Sequence[Sample],
    attention_dir: str | Path,
    out_dir: str | Path,
    *,
    proxy: str = "saliency",
    method: str = "harmonic",
    fusion_kwargs: dict | None = None,
    threshold: ThresholdRule | None = None,
    refine: Refiner | None = None,
    class_names: Sequence[str] | None = None,
    ctx: DistContext | None = None,
    skip_bad: bool = False,
    progress: bool = True,
) -> StageReport:
    """Turn stored attention into proxy labels ``<out_dir>/<name>.png``.

    Two routes (``proxy``):

    - ``"saliency"``: the attention is fused with each image's saliency map
      (:func:`~wsss.fuse_saliency`, SeeNet's Algorithm 1); a refiner then relabels the pixels
      the fusion did not ignore with the argmax of its refined probabilities;
    - ``"threshold"`` (no saliency model needed): confident foreground where the attention of
      an image class reaches ``threshold.foreground``, confident background below
      ``threshold.background``, ignore (255) between
      (:func:`~wsss.threshold_labels.threshold_labels`); a refiner refines the class
      probabilities first, and the thresholds apply to the result.

    An image that names no class is labelled all background (it shows none of the classes),
    and counted in ``StageReport.no_class``.

    Parameters
    ----------
    dataset
        Samples (with a ``saliency`` map on the saliency route).
    attention_dir
        Where :func:`generate_attention` wrote the ``.npz`` files.
    out_dir
        Where the palette PNGs go (0 background, ``c + 1`` class ``c``, 255 ignore).
    proxy
        ``"saliency"`` or ``"threshold"`` (:data:`PROXY_ROUTES`).
    method, fusion_kwargs
        Passed to :func:`~wsss.fuse_saliency` (saliency route).
    threshold
        The :class:`~wsss.threshold_labels.ThresholdRule` of the threshold route (``None``:
        IRN's 0.30 / 0.05).
    refine
        Optional refiner (:func:`~wsss.engine.refiners.make_refiner`: a dense CRF or PAMR).
    class_names
        The classes the attention files must have been written for; default:
        ``dataset.class_names``.
    ctx, skip_bad, progress
        As in :func:`generate_attention`.

    Returns
    -------
    StageReport
        What this rank wrote, skipped (the PNG existed) and failed.

    Examples
    --------
    One 1x4 image of class 2, salient and attended on its left half:

    >>> import tempfile
    >>> from wsss.data.images import read_label
    >>> classes = np.zeros(20, np.float32); classes[2] = 1
    >>> saliency = np.array([[0.9, 0.9, 0.0, 0.0]], np.float32)
    >>> attention = np.zeros((20, 1, 4), np.float32); attention[2, 0] = [0.8, 0.8, 0.2, 0.0]
    >>> sample = Sample("img", np.zeros((1, 4, 3), np.uint8), classes, saliency=saliency)
    >>> names = tuple(f"class {k}" for k in range(20))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     save_attention(Path(tmp) / "img.npz", attention, {}, classes, names)
    ...     for route in PROXY_ROUTES:
    ...         report = generate_pseudo_labels([sample], tmp, Path(tmp) / route, proxy=route,
    ...                                         class_names=names, progress=False)
    ...         print(route, read_label(Path(tmp) / route / "img.png"))
    saliency [[3 3 0 0]]
    threshold [[  3   3 255   0]]
    """
    if proxy not in PROXY_ROUTES:
        raise ValueError(f"proxy: expected one of {PROXY_ROUTES}, got {proxy!r}")
    ctx = ctx or DistContext()
    classes_named = _class_names(dataset, class_names)
    attention_dir, out_dir = Path(attention_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = sample_names(dataset)
    mine = shard(range(len(names)), ctx)
    todo = [i for i in mine if not (out_dir / f"{names[i]}.png").exists()]
    pending = set(todo)
    skipped = tuple(names[i] for i in mine if i not in pending)
    written: list[str] = []
    failed: list[tuple[str, str]] = []
    no_class: list[str] = []
    for sample in tqdm(_load_samples(dataset, todo, skip_bad, failed, names), total=len(todo),
                       desc="pseudo labels", disable=not progress, leave=False):
        try:
            if not np.any(sample.classes):
                label = np.zeros(sample.image.shape[:2], np.uint8)
                no_class.append(sample.name)
            else:
                stored = load_attention(attention_dir / f"{sample.name}.npz",
                                        class_names=classes_named)
                label = _proxy_label(sample, stored.fused, proxy, method, fusion_kwargs,
                                     threshold, refine)
        except BAD_INPUT_ERRORS as exc:
            if not skip_bad:
                raise
            failed.append((sample.name, str(exc)))
            continue
        write_label(out_dir / f"{sample.name}.png", label)
        written.append(sample.name)
    return StageReport(tuple(written), skipped, tuple(failed), tuple(no_class))


def _check_maps(name: str, maps: object) -> np.ndarray:
    """Attention maps to store: a finite float array ``(C, H, W)`` with values float16 holds."""
    array = to_numpy(name, maps)
    if array.ndim != 3:
        raise ValueError(f"{name}: expected maps of shape (C, H, W), got {array.shape}")
    if array.dtype.kind != "f":
        raise TypeError(f"{name}: expected floating-point maps, got dtype {array.dtype}")
    if not np.isfinite(array).all() or (array.size and np.abs(array).max() > _FLOAT16_MAX):
        raise ValueError(f"{name}: values must be finite and within float16's range")
    return array


#: The largest value a float16 file holds (attention is stored as float16).
_FLOAT16_MAX = float(np.finfo(np.float16).max)
