"""How far a classifier's class map reaches from each object's discriminative part."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage
from torch import nn
from tqdm.auto import tqdm

from .._validation import MAX_SIDE, check_int, check_reals
from ..data.sample import Sample
from ..data.transforms import Normalizer, to_tensor
from ..engine._arguments import check_stage_args
from .scenes import require_scenes

__all__ = ["PART_REACH_BINS", "PartReach", "part_reach"]

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
    dataset: Sequence[Sample],
    hidden: Sequence[Sample],
    *,
    normalizer: Normalizer,
    branch: str | None = None,
    bins: Sequence[float] = PART_REACH_BINS,
    radius: int = 8,
    progress: bool = True,
) -> PartReach:
    """How far a classifier's map reaches from each object's part (synthetic data).

    A feature cell whose receptive field holds a discriminative part can fire on it wherever
    the cell lies, on the object's body or on the background beside it. This measures that
    reach: each image is run twice, as drawn and with every part painted as body (``hidden``:
    the same scenes drawn without their parts, e.g. ``SyntheticVOC(part_prob=0)``), and the raw
    class map of each object's class
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
    dataset
        A dataset with scene ground truth (see :func:`~wsss.diagnostics.require_scenes`).
    hidden
        The same images with every part painted as body, in the same order.
    normalizer
        The input normalisation the model was trained with.
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
    >>> from wsss.data import SyntheticVOC
    >>> from wsss.engine import ModelConfig, build_model
    >>> config = ModelConfig("cam_classifier", backbone="resnet_tiny")
    >>> _ = torch.manual_seed(0)
    >>> shown, hidden = SyntheticVOC(2, image_size=48), SyntheticVOC(2, image_size=48, part_prob=0)
    >>> reach = part_reach(build_model(config, 20).eval(), shown, hidden,
    ...                    normalizer=config.normalizer, progress=False)
    >>> reach.body.shape, reach.part.shape
    ((2, 6), (2,))
    """
    check_stage_args(model=model, normalizer=normalizer, progress=progress)
    scenes = require_scenes(dataset)
    if isinstance(hidden, (str, bytes)) or not (hasattr(hidden, "__len__")
                                                and hasattr(hidden, "__getitem__")):
        raise TypeError(f"hidden: expected a sequence of samples, got {type(hidden).__name__}")
    if branch is not None and not isinstance(branch, str):
        raise TypeError(f"branch: expected a str or None, got {type(branch).__name__}")
    check_reals("bins", bins, minimum=0.0)
    if len(hidden) != len(scenes):
        raise ValueError(f"hidden: expected {len(scenes)} images like dataset, got {len(hidden)}")
    edges = np.asarray(bins, dtype=np.float64)
    if edges.ndim != 1 or edges.size == 0 or edges[0] != 0 or np.any(np.diff(edges) <= 0):
        raise ValueError(f"bins: expected increasing edges starting at 0, got {tuple(bins)}")
    if isinstance(radius, bool) or not isinstance(radius, int) or radius < 1:
        raise ValueError(f"radius: expected an int >= 1, got {radius!r}")
    check_int("radius", radius, maximum=MAX_SIDE)
    nbins = edges.size
    sums = np.zeros((2, 2, nbins))  # (row, body / background, bin)
    counts = np.zeros((2, nbins), dtype=np.int64)
    part_sum, part_count = np.zeros(2), 0
    device = next(model.parameters()).device
    for i in tqdm(range(len(scenes)), desc="part reach", disable=not progress, leave=False):
        scene = scenes.scene(i)
        selected = [k for k, obj in enumerate(scene.objects) if obj.part_area > 0]
        if not selected:
            continue
        maps = []
        for sample in (scene.sample, hidden[i]):  # the scene already holds the shown sample
            image = to_tensor(sample.image, normalizer)[None].to(device)
            labels = torch.from_numpy(sample.classes)[None].to(device)
            with torch.no_grad():
                out = model.class_maps(image, labels)  # type: ignore[operator]
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
