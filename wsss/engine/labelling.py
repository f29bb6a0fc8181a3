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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..cam import CAMExtractor, evaluating
from ..data.images import read_label, write_label
from ..data.sample import NUM_CLASSES, Sample, sample_names
from ..data.transforms import Normalizer, to_tensor
from ..fusion import IGNORE_INDEX, fuse_saliency
from ..io import atomic_write
from ..metrics import ConfusionMatrix, SegmentationScores
from .distributed import DistContext, shard

__all__ = [
    "LabelQuality",
    "StageReport",
    "StoredAttention",
    "crf_refiner",
    "evaluate_label_dir",
    "evaluate_segmentation",
    "generate_attention",
    "generate_pseudo_labels",
    "load_attention",
    "predict_segmentation",
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
    """

    written: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    failed: tuple[tuple[str, str], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class StoredAttention:
    """Attention maps read back from a ``.npz`` file, expanded to all classes.

    Attributes
    ----------
    classes
        Multi-hot image classes, ``float32`` ``(C,)``.
    fused
        ``float32`` ``(C, H, W)`` in [0, 1], zero for classes not in the image.
    branches
        The same for each stored branch (e.g. ``"a"``, ``"b"`` for SeeNet).
    """

    classes: np.ndarray
    fused: np.ndarray
    branches: dict[str, np.ndarray]


def save_attention(
    path: str | Path, fused: np.ndarray, branches: dict[str, np.ndarray], classes: np.ndarray
) -> None:
    """Write the maps of the image's classes only, as float16, atomically.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.npz"
    >>> att = np.zeros((3, 2, 2), np.float32); att[1] = 0.5
    >>> save_attention(p, att, {"a": att}, np.array([0, 1, 0], np.float32))
    >>> load_attention(p, num_classes=3).fused[1]
    array([[0.5, 0.5],
           [0.5, 0.5]], dtype=float32)
    """
    present = np.flatnonzero(np.asarray(classes) > 0)
    arrays = {"classes": present.astype(np.int16), "fused": fused[present].astype(np.float16)}
    for name, maps in branches.items():
        arrays[f"branch_{name}"] = maps[present].astype(np.float16)
    with atomic_write(path) as f:
        np.savez_compressed(f, **arrays)


def load_attention(path: str | Path, num_classes: int = NUM_CLASSES) -> StoredAttention:
    """Read a file written by :func:`save_attention` (no pickle is ever loaded).

    Raises
    ------
    FileNotFoundError, ValueError
        A missing file, or one that is not a valid attention file; the message names the path.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"attention file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as data:
            present = data["classes"].astype(np.int64)
            stored = {k: data[k].astype(np.float32) for k in data.files if k != "classes"}
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as exc:
        raise ValueError(f"{path}: not a readable attention file ({exc})") from exc
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

    fused = expand(stored.pop("fused"))
    branches = {k.removeprefix("branch_"): expand(v) for k, v in stored.items()}
    return StoredAttention(classes=classes, fused=fused, branches=branches)


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
    ctx: DistContext | None = None,
    batch_size: int = 8,
    skip_bad: bool = False,
    progress: bool = True,
) -> StageReport:
    """Write ``<out_dir>/<name>.npz`` attention maps for the image classes of every sample.

    Images of the same size are batched (up to ``batch_size``); ``extractor`` already batches
    flips and scales.
    """
    ctx = ctx or DistContext()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = sample_names(dataset)
    mine = shard(range(len(names)), ctx)
    todo = [i for i in mine if not (out_dir / f"{names[i]}.npz").exists()]
    pending = set(todo)
    skipped = tuple(names[i] for i in mine if i not in pending)
    written: list[str] = []
    failed: list[tuple[str, str]] = []
    bar = tqdm(total=len(todo), desc="attention", disable=not progress, leave=False)
    for batch in _same_size_batches(_load_samples(dataset, todo, skip_bad, failed, names),
                                    batch_size):
        images = torch.stack([to_tensor(s.image, normalizer) for s in batch])
        labels = torch.from_numpy(np.stack([s.classes for s in batch]))
        maps = extractor(images, labels)
        fused = maps.fused.cpu().numpy()
        branches = {k: v.cpu().numpy() for k, v in maps.branches.items()}
        for j, sample in enumerate(batch):
            save_attention(out_dir / f"{sample.name}.npz", fused[j],
                           {k: v[j] for k, v in branches.items()}, sample.classes)
            written.append(sample.name)
        bar.update(len(batch))
    bar.close()
    return StageReport(tuple(written), skipped, tuple(failed))


def generate_pseudo_labels(
    dataset: Sequence[Sample],
    attention_dir: str | Path,
    out_dir: str | Path,
    *,
    method: str = "harmonic",
    fusion_kwargs: dict | None = None,
    refine: Callable[[Sample, np.ndarray, np.ndarray], np.ndarray] | None = None,
    ctx: DistContext | None = None,
    skip_bad: bool = False,
    progress: bool = True,
) -> StageReport:
    """Fuse stored attention with each sample's saliency into ``<out_dir>/<name>.png``.

    Parameters
    ----------
    dataset
        Samples with a ``saliency`` map (e.g. ``VOCSegmentation(..., saliency_dir=...)``).
    attention_dir
        Where :func:`generate_attention` wrote the ``.npz`` files.
    out_dir
        Where the palette PNGs go (0 background, ``c + 1`` class ``c``, 255 ignore).
    method, fusion_kwargs
        Passed to :func:`~wsss.fuse_saliency`.
    refine
        Optional ``refine(sample, attention (C, H, W), label (H, W)) -> label`` applied after
        fusion (e.g. a dense CRF, see :func:`crf_refiner`).
    """
    ctx = ctx or DistContext()
    attention_dir, out_dir = Path(attention_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    names = sample_names(dataset)
    mine = shard(range(len(names)), ctx)
    todo = [i for i in mine if not (out_dir / f"{names[i]}.png").exists()]
    pending = set(todo)
    skipped = tuple(names[i] for i in mine if i not in pending)
    written: list[str] = []
    failed: list[tuple[str, str]] = []
    for sample in tqdm(_load_samples(dataset, todo, skip_bad, failed, names), total=len(todo),
                       desc="pseudo labels", disable=not progress, leave=False):
        try:
            if sample.saliency is None:
                raise FileNotFoundError(f"{sample.name}: no saliency map for this image")
            stored = load_attention(attention_dir / f"{sample.name}.npz", len(sample.classes))
            if stored.fused.shape[1:] != sample.saliency.shape:
                raise ValueError(
                    f"{attention_dir / (sample.name + '.npz')}: attention size "
                    f"{stored.fused.shape[1:]} differs from the saliency map's "
                    f"{sample.saliency.shape}"
                )
            label = fuse_saliency(np.clip(stored.fused, 0, 1), sample.saliency, sample.classes,
                                  method=method, **(fusion_kwargs or {}))
            if refine is not None:
                label = refine(sample, stored.fused, label)
        except BAD_INPUT_ERRORS as exc:
            if not skip_bad:
                raise
            failed.append((sample.name, str(exc)))
            continue
        write_label(out_dir / f"{sample.name}.png", label)
        written.append(sample.name)
    return StageReport(tuple(written), skipped, tuple(failed))


def crf_refiner(params: object = None) -> Callable[[Sample, np.ndarray, np.ndarray], np.ndarray]:
    """A ``refine`` for :func:`generate_pseudo_labels`: dense CRF on the fusion's scores.

    The scores ``[1 - S, 2 A_c S / (A_c + S)]`` of the image's classes are normalised into
    probabilities, refined with :func:`wsss.crf.dense_crf`, and the argmax replaces the label
    where the fusion did not ignore the pixel (255 stays 255).
    """
    from ..crf import DEEPLAB_V1, dense_crf

    crf_params = params or DEEPLAB_V1

    def refine(sample: Sample, attention: np.ndarray, label: np.ndarray) -> np.ndarray:
        present = np.flatnonzero(sample.classes)
        sal = sample.saliency
        assert sal is not None
        att = attention[present]
        scores = np.concatenate([(1 - sal)[None], 2 * att * sal / (att + sal + 1e-5)])
        probs = np.clip(scores, 1e-5, None)
        probs = (probs / probs.sum(0, keepdims=True)).astype(np.float32)
        refined = dense_crf(sample.image, probs, crf_params).argmax(0)
        lookup = np.concatenate([[0], present + 1]).astype(np.uint8)
        out = lookup[refined]
        out[label == IGNORE_INDEX] = IGNORE_INDEX
        return out

    return refine


@torch.inference_mode()
def predict_segmentation(
    model: nn.Module,
    images: Tensor,
    *,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
) -> Tensor:
    """Class probabilities ``(N, K, H, W)``: softmax averaged over scales and flips.

    Examples
    --------
    >>> net = nn.Conv2d(3, 4, 1)
    >>> p = predict_segmentation(net, torch.rand(2, 3, 8, 6), scales=(1.0, 0.5), flip=True)
    >>> p.shape, bool(torch.allclose(p.sum(1), torch.ones(2, 8, 6)))
    (torch.Size([2, 4, 8, 6]), True)
    """
    height, width = images.shape[-2:]
    total: Tensor | None = None
    count = 0
    with evaluating(model):
        for scale in scales:
            x = images if scale == 1.0 else F.interpolate(
                images, size=(round(height * scale), round(width * scale)), mode="bilinear",
                align_corners=False)
            if flip:
                x = torch.cat([x, x.flip(-1)])
            logits = model(x).float()
            logits = F.interpolate(logits, size=(height, width), mode="bilinear",
                                   align_corners=False)
            probs = logits.softmax(dim=1)
            if flip:
                n = images.shape[0]
                probs = probs[:n] + probs[n:].flip(-1)
                count += 1
            total = probs if total is None else total + probs
            count += 1
    assert total is not None
    return total / count


def evaluate_segmentation(
    model: nn.Module,
    dataset: Sequence[Sample],
    normalizer: Normalizer,
    *,
    num_classes: int = NUM_CLASSES + 1,
    scales: Sequence[float] = (1.0,),
    flip: bool = False,
    refine: Callable[[Sample, np.ndarray], np.ndarray] | None = None,
    save_dir: str | Path | None = None,
    ctx: DistContext | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> SegmentationScores:
    """mIoU of ``model`` on the labelled samples of ``dataset`` (one confusion matrix).

    ``refine(sample, probs (K, H, W)) -> label`` post-processes each prediction (e.g. a dense
    CRF); predictions are written to ``save_dir`` as palette PNGs when it is given. Under
    torchrun each rank evaluates its shard and the matrices are summed.
    """
    ctx = ctx or DistContext()
    device = next(model.parameters()).device
    matrix = ConfusionMatrix(num_classes=num_classes)
    names = sample_names(dataset)
    mine = shard(range(len(names)), ctx)
    samples = (dataset[i] for i in mine)
    bar = tqdm(total=len(mine), desc="evaluate", disable=not progress, leave=False)
    for batch in _same_size_batches(samples, batch_size):
        images = torch.stack([to_tensor(s.image, normalizer) for s in batch]).to(device)
        probs = predict_segmentation(model, images, scales=scales, flip=flip).cpu().numpy()
        for sample, p in zip(batch, probs):
            pred = refine(sample, p) if refine is not None else p.argmax(0).astype(np.uint8)
            if sample.label is None:
                raise ValueError(f"dataset: sample {sample.name} has no ground-truth label")
            matrix.update(pred, sample.label)
            if save_dir is not None:
                write_label(Path(save_dir) / f"{sample.name}.png", pred.astype(np.uint8))
        bar.update(len(batch))
    bar.close()
    matrix.all_reduce()
    return matrix.compute()


@dataclass(frozen=True)
class LabelQuality:
    """Quality of a folder of proxy labels against the ground truth.

    Attributes
    ----------
    scores
        mIoU and per-class scores on the pixels the proxy labels did not ignore.
    ignored
        Fraction of (GT-labelled) pixels the proxy labels set to 255.
    """

    scores: SegmentationScores
    ignored: float


def evaluate_label_dir(
    dataset: Sequence[Sample], label_dir: str | Path, *, num_classes: int = NUM_CLASSES + 1
) -> LabelQuality:
    """Score proxy labels ``<label_dir>/<name>.png`` against the dataset's ground truth."""
    label_dir = Path(label_dir)
    matrix = ConfusionMatrix(num_classes=num_classes)
    ignored = total = 0
    for sample in dataset:
        if sample.label is None:
            raise ValueError(f"dataset: sample {sample.name} has no ground-truth label")
        proxy = read_label(label_dir / f"{sample.name}.png")
        gt = sample.label.copy()
        valid = gt != IGNORE_INDEX
        drop = proxy == IGNORE_INDEX
        ignored += int((drop & valid).sum())
        total += int(valid.sum())
        gt[drop] = IGNORE_INDEX
        matrix.update(np.where(drop, 0, proxy), gt)
    return LabelQuality(scores=matrix.compute(), ignored=ignored / max(total, 1))
