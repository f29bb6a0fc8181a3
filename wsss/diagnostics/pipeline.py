"""The diagnostics a pipeline run adds to its report when asked (``--diagnostics``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ..data.sample import Sample
from ..data.transforms import Normalizer
from ..engine._arguments import check_stage_args
from ..models import SeeNet
from .ablation import ERASING_ZONES, AttentionScore, erasing_ablation
from .attention import attention_profiles, attention_zones
from .counters import PROFILE_REGIONS, ZONES, AttentionProfile, ZoneShares
from .scenes import SceneDataset

__all__ = ["PipelineDiagnostics", "pipeline_diagnostics"]


@dataclass(frozen=True)
class PipelineDiagnostics:
    """What the diagnostics measured on a pipeline run.

    Attributes
    ----------
    zones
        SeeNet S_A's ternary-mask zones against the ground truth.
    profiles
        Mean attention on parts, bodies and background per map (empty without scene ground
        truth).
    ablation
        S_B with other erased zones (empty without scene ground truth).

    Examples
    --------
    >>> import numpy as np
    >>> found = PipelineDiagnostics(ZoneShares(np.array([[6, 3, 1], [0, 3, 7]])), {}, {})
    >>> found.to_dict()["seenet_zone_counts"], "| attention | 60.0% |" in found.to_markdown()
    ([[6, 3, 1], [0, 3, 7]], True)
    """

    zones: ZoneShares
    profiles: dict[str, AttentionProfile]
    ablation: dict[str, AttentionScore]

    def to_dict(self) -> dict[str, Any]:
        """The numbers, JSON-ready."""
        return {
            "seenet_zone_counts": self.zones.counts.tolist(),
            "attention_profile": {k: p.as_dict() for k, p in self.profiles.items()},
            "erasing_ablation": {k: {"miou": a.curve.best_miou, **a.profile.as_dict()}
                                 for k, a in self.ablation.items()},
        }

    def to_markdown(self) -> str:
        """The report section: the zone table, and the profile and ablation tables."""
        zones = self.zones
        lines = [
            "## Diagnostics",
            "",
            "### Where SeeNet erases",
            "",
            "The ternary mask of S_A's maps (delta_h 0.7, delta_l 0.05) against the ground "
            "truth: S_B learns to classify from the potential zone, and S_C teaches it that "
            "the background zone holds no class.",
            "",
            "| zone | share of object pixels | share of background pixels | object share of "
            "the zone |",
            "|---|---|---|---|",
            *[f"| {name} | {o:.1%} | {b:.1%} | {z:.1%} |" for name, o, b, z in zip(
                ZONES, zones.object_in_zones, zones.background_in_zones, zones.object_share)],
            "",
        ]
        if self.profiles:
            radius = next(iter(self.profiles.values())).radius
            lines += [
                "### Where the attention lies",
                "",
                "Mean attention of each object's class on its discriminative part, on the rest "
                f"of its body, on the background within {radius} px of it and on the "
                "background farther from every object.",
                "",
                "| attention | " + " | ".join(PROFILE_REGIONS) + " |",
                "|---|" + "---:|" * len(PROFILE_REGIONS),
                *[f"| {name} | " + " | ".join(f"{m:.2f}" for m in p.means) + " |"
                  for name, p in self.profiles.items()],
                "",
            ]
        if self.ablation:
            described = {"learned": "S_A's attention zone (as trained)",
                         "parts": "the ground-truth parts instead", "none": "nothing"}
            a = self.ablation["a"].curve.best_miou
            lines += [
                "### What S_B finds when other cells are erased",
                "",
                "The trained SeeNet's S_B run again with three masks that differ only in the "
                f"erased zone. One scale, no flip, so S_A scores {a:.1%} here.",
                "",
                "| erased | S_B mIoU | max(S_A, S_B) mIoU | max - S_A | S_B on part / body / "
                "near bg |",
                "|---|---|---|---|---|",
                *[f"| {described[zone]} | {self.ablation[f'b/{zone}'].curve.best_miou:.1%} | "
                  f"{self.ablation[f'max/{zone}'].curve.best_miou:.1%} | "
                  f"{(self.ablation[f'max/{zone}'].curve.best_miou - a) * 100:+.1f} | "
                  + " / ".join(f"{m:.2f}" for m in self.ablation[f"b/{zone}"].profile.means[:3])
                  + " |" for zone in ERASING_ZONES],
                "",
            ]
        return "\n".join(lines)


def pipeline_diagnostics(
    dataset: Sequence[Sample],
    attention: dict[str, tuple[str | Path, str | None]],
    seenet: nn.Module,
    *,
    normalizer: Normalizer,
    progress: bool = True,
) -> PipelineDiagnostics:
    """Run the diagnostics on a pipeline run's training images and stored attention.

    Parameters
    ----------
    dataset
        The training images (with ground truth; with scene ground truth for the profiles and
        the ablation, which are left out otherwise).
    attention
        ``{name: (attention_dir, branch)}``; ``"SeeNet S_A"`` must be among them.
    seenet
        The trained SeeNet.
    normalizer
        Its input normalisation.
    progress
        Show progress bars.

    Examples
    --------
    >>> import tempfile
    >>> from wsss.engine import (DataConfig, ModelConfig, build_model, load_dataset,
    ...                          make_attention)
    >>> config = ModelConfig("seenet", backbone="resnet_tiny")
    >>> train = load_dataset(DataConfig(synthetic_train=2, image_size=48), "train")
    >>> model = build_model(config, 20)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = make_attention(model, train, tmp, normalizer=config.normalizer, progress=False)
    ...     found = pipeline_diagnostics(train, {"SeeNet S_A": (tmp, "a")}, model,
    ...                                  normalizer=config.normalizer, progress=False)
    >>> text = found.to_markdown()
    >>> found.zones.counts.shape, list(found.profiles), "### Where SeeNet erases" in text
    ((2, 3), ['SeeNet S_A'], True)
    """
    check_stage_args(seenet=seenet, normalizer=normalizer, progress=progress)
    if not isinstance(seenet, SeeNet):
        raise TypeError(f"seenet: expected a SeeNet, got {type(seenet).__name__}")
    if not isinstance(attention, Mapping) or "SeeNet S_A" not in attention:
        raise ValueError("attention: expected a mapping {name: (attention_dir, branch)} with "
                         "'SeeNet S_A' among its names")
    directory, branch = attention["SeeNet S_A"]
    zones = attention_zones(dataset, directory, branch)
    if not isinstance(dataset, SceneDataset):
        return PipelineDiagnostics(zones, {}, {})
    profiles = attention_profiles(dataset, attention)
    ablation = erasing_ablation(seenet, dataset, normalizer=normalizer, progress=progress)
    return PipelineDiagnostics(zones, profiles, ablation)
