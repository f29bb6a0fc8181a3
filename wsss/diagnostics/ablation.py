"""What S_B of a trained SeeNet finds when other cells are erased (data with known parts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..cam import CAMExtractor
from ..data.sample import Sample
from ..data.transforms import Normalizer, to_tensor
from ..engine import class_names
from ..engine._arguments import check_stage_args
from ..masks import ternary_mask
from ..metrics import CAMThresholdCurve, ThresholdCurve
from ..models import SeeNet
from .counters import AttentionProfile, AttentionProfileCounter
from .scenes import require_scenes

__all__ = ["ERASING_ZONES", "AttentionScore", "erasing_ablation"]

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


def _part_cells(parts: Tensor, size: tuple[int, int], part_cover: float) -> Tensor:
    """``(h, w)`` bool: the feature cells of which ``parts`` ``(H, W)`` covers ``>= part_cover``."""
    share = nn.functional.adaptive_avg_pool2d(parts[None, None].float(), size)
    return share[0, 0] >= part_cover


class _ErasedZones(nn.Module):
    """A SeeNet whose ``class_maps`` give S_A and S_B under each erased zone of one image."""

    def __init__(self, model: SeeNet, parts: Tensor, part_cover: float) -> None:
        super().__init__()
        self.model = model
        self.parts = parts
        self.part_cover = part_cover

    def class_maps(self, images: Tensor, labels: Tensor | None = None) -> dict[str, Tensor]:
        learned_maps = self.model.class_maps(images, labels)
        maps_a = learned_maps["a"]
        head = self.model.head
        learned = ternary_mask(maps_a.detach(), labels, delta_h=head.delta_h,
                               delta_l=head.delta_l).to(maps_a.dtype)
        nothing_erased = torch.where(learned == 0, 1.0, learned)
        parts_erased = nothing_erased.clone()
        cells = _part_cells(self.parts, (maps_a.shape[-2], maps_a.shape[-1]), self.part_cover)
        parts_erased[:, cells] = 0.0
        return {
            "a": maps_a,
            "b/learned": learned_maps["b"],
            "b/parts": self.model.class_maps(images, labels, mask=parts_erased)["b"],
            "b/none": self.model.class_maps(images, labels, mask=nothing_erased)["b"],
        }


def erasing_ablation(
    model: nn.Module,
    dataset: Sequence[Sample],
    *,
    normalizer: Normalizer,
    part_cover: float = 0.25,
    radius: int = 8,
    progress: bool = True,
) -> dict[str, AttentionScore]:
    """S_B of a trained SeeNet with other erased zones, scored on ground truth.

    Splits a weak S_B into its two possible causes: S_A's attention zone erases the wrong
    cells (then erasing the true discriminative part instead helps), or S_B's classifier finds
    nothing new whatever is erased. On each image, S_B runs with three masks that differ only
    in the erased zone (``T = 0``); the background zone (``T = -1``) is always S_A's:

    - ``"learned"``: S_A's own ternary mask (the model's ``delta_h`` / ``delta_l``), as trained;
    - ``"parts"``: the feature cells that the objects' discriminative parts cover by at least
      ``part_cover`` are erased, S_A's attention zone is not;
    - ``"none"``: nothing is erased (S_A's attention zone passes as potential zone).

    Maps are made at one scale without flip, upsampled and divided by their maximum like
    :class:`~wsss.cam.CAMExtractor`'s.

    Parameters
    ----------
    model
        A trained :class:`~wsss.models.SeeNet`.
    dataset
        A dataset with scene ground truth (the parts; see
        :func:`~wsss.diagnostics.require_scenes`).
    normalizer
        The input normalisation the model was trained with.
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
    >>> from wsss.engine import DataConfig, ModelConfig, build_model, load_dataset
    >>> config = ModelConfig("seenet", backbone="resnet_tiny")
    >>> train = load_dataset(DataConfig(synthetic_train=2, image_size=48), "train")
    >>> _ = torch.manual_seed(0)
    >>> scores = erasing_ablation(build_model(config, 20), train,
    ...                           normalizer=config.normalizer, progress=False)
    >>> sorted(scores)
    ['a', 'b/learned', 'b/none', 'b/parts', 'max/learned', 'max/none', 'max/parts']
    >>> scores["b/parts"].curve.miou.shape, 0.0 <= scores["a"].curve.best_miou <= 1.0
    ((21,), True)
    """
    if not isinstance(model, SeeNet):
        raise TypeError(f"model: expected a SeeNet, got {type(model).__name__}")
    check_stage_args(normalizer=normalizer, progress=progress)
    scenes = require_scenes(dataset)
    if isinstance(part_cover, bool) or not isinstance(part_cover, (int, float)) or not (
        0.0 < part_cover <= 1.0
    ):
        raise ValueError(f"part_cover: expected a share in (0, 1], got {part_cover!r}")
    k = len(class_names(dataset)) + 1
    names = ["a", *(f"{kind}/{zone}" for kind in ("b", "max") for zone in ERASING_ZONES)]
    curves = {name: CAMThresholdCurve(num_classes=k) for name in names}
    profiles = {name: AttentionProfileCounter(radius) for name in names}
    device = next(model.parameters()).device
    for i in tqdm(range(len(scenes)), desc="erasing ablation", disable=not progress,
                  leave=False):
        scene = scenes.scene(i)
        sample = scene.sample
        parts = scene.parts > 0
        extractor = CAMExtractor(
            _ErasedZones(model, torch.from_numpy(parts).to(device), float(part_cover))
        )
        image = to_tensor(sample.image, normalizer)[None].to(device)
        att = extractor(image, torch.from_numpy(sample.classes)[None].to(device))
        if sample.label is None:
            raise ValueError(f"dataset: image {sample.name} has no ground truth")
        maps = {name: m[0].cpu().numpy() for name, m in att.branches.items()}
        for zone in ERASING_ZONES:
            maps[f"max/{zone}"] = np.maximum(maps["a"], maps[f"b/{zone}"])
        for name in names:
            curves[name].update(maps[name], sample.classes, sample.label)
            profiles[name].update(maps[name], sample.classes, sample.label, parts)
    return {
        name: AttentionScore(curves[name].compute(), profiles[name].compute()) for name in names
    }
