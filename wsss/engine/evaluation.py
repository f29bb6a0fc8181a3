"""Scoring segmentations: a network's predictions, and a folder of proxy labels, against the
ground truth (one confusion matrix over the whole split)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .._validation import check_bool, check_images, check_path, check_reals
from ..cam import evaluating
from ..data.images import read_label, write_label
from ..data.sample import Sample, sample_names
from ..data.transforms import Normalizer, to_tensor
from ..fusion import IGNORE_INDEX
from ..metrics import ConfusionMatrix, SegmentationScores
from .distributed import DistContext, shard
from .labelling import _class_names, _same_size_batches

__all__ = ["LabelQuality", "evaluate_label_dir", "evaluate_segmentation", "predict_segmentation"]


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
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    check_images("images", images, model, channels=None, finite=True)
    scales = check_reals("scales", scales, minimum=0.0, exclusive_minimum=True)
    flip = check_bool("flip", flip)
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
    class_names: Sequence[str] | None = None,
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

    Parameters
    ----------
    model
        Maps normalised images ``float32`` ``(N, 3, H, W)`` to logits ``(N, K, h, w)``
        (upsampled to ``(H, W)``); it runs in eval mode, then gets its own mode back.
    dataset
        Samples with ``image`` ``uint8`` ``(H, W, 3)`` and ``label`` ``uint8`` ``(H, W)``.
    normalizer
        The input normalisation the network was trained with.
    class_names
        The ``K - 1`` foreground class names; default: ``dataset.class_names``. The scores
        are named ``background`` then these.
    scales, flip
        Test-time augmentation, see :func:`predict_segmentation`.
    refine
        Optional ``refine(sample, probs) -> label``: ``probs`` ``float32`` ``(K, H, W)``,
        the label ``uint8`` ``(H, W)``.
    save_dir
        Where to write the predictions as ``<name>.png``; ``None`` writes nothing.
    ctx, batch_size, progress
        As in :func:`~wsss.engine.labelling.generate_attention`.

    Returns
    -------
    SegmentationScores
        The scores of all the ranks' pixels together.

    Examples
    --------
    A network that scores every class alike predicts background (the first) everywhere:

    >>> from wsss.data.transforms import TORCHVISION
    >>> gt = np.array([[0, 0, 3, 3]], np.uint8)  # background, then class 2
    >>> data = [Sample("img", np.zeros((1, 4, 3), np.uint8), np.eye(20, dtype=np.float32)[2],
    ...                label=gt)]
    >>> net = nn.Conv2d(3, 21, kernel_size=1)
    >>> _ = nn.init.zeros_(net.weight), nn.init.zeros_(net.bias)
    >>> scores = evaluate_segmentation(net, data, TORCHVISION, progress=False,
    ...                                class_names=[f"c{k}" for k in range(20)])
    >>> scores.pixel_accuracy, scores.miou  # IoU 0.5 for background, 0 for class 2
    (0.5, 0.25)
    """
    ctx = ctx or DistContext()
    device = next(model.parameters()).device
    named = _class_names(dataset, class_names)
    matrix = ConfusionMatrix(num_classes=len(named) + 1, class_names=("background", *named))
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

    Examples
    --------
    >>> from wsss.metrics import ConfusionMatrix
    >>> matrix = ConfusionMatrix(num_classes=2)
    >>> matrix.update(np.array([[0, 1]]), np.array([[0, 1]]))
    >>> quality = LabelQuality(scores=matrix.compute(), ignored=0.25)
    >>> quality.scores.miou, quality.ignored
    (1.0, 0.25)
    """

    scores: SegmentationScores
    ignored: float


def evaluate_label_dir(
    dataset: Sequence[Sample],
    label_dir: str | Path,
    *,
    class_names: Sequence[str] | None = None,
) -> LabelQuality:
    """Score proxy labels ``<label_dir>/<name>.png`` against the dataset's ground truth.

    Parameters
    ----------
    dataset
        Samples with ground truth ``label`` ``uint8`` ``(H, W)``.
    label_dir
        One label PNG per sample, ``uint8`` ``(H, W)`` (0 background, ``c + 1`` class ``c``,
        255 ignore), as :func:`~wsss.engine.labelling.generate_pseudo_labels` writes them.
    class_names
        The foreground class names; default: ``dataset.class_names``.

    Returns
    -------
    LabelQuality
        The scores on the pixels the proxy labels keep, and the share they ignore.

    Examples
    --------
    >>> import tempfile
    >>> from wsss.data.images import write_label
    >>> gt = np.array([[0, 0, 3, 3]], np.uint8)
    >>> data = [Sample("img", np.zeros((1, 4, 3), np.uint8), np.eye(20, dtype=np.float32)[2],
    ...                label=gt)]
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_label(Path(tmp) / "img.png", np.array([[0, 3, 3, 255]], np.uint8))
    ...     quality = evaluate_label_dir(data, tmp, class_names=[f"c{k}" for k in range(20)])
    >>> quality.ignored, quality.scores.miou  # scored on the 3 kept pixels: IoU 1/2 and 1/2
    (0.25, 0.5)
    """
    label_dir = check_path("label_dir", label_dir)
    named = _class_names(dataset, class_names)
    matrix = ConfusionMatrix(num_classes=len(named) + 1, class_names=("background", *named))
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
