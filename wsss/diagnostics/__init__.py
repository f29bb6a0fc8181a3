"""Research diagnostics: where attention falls, what erasing finds, how far a part reaches.

Opt-in probes for studying a method, not part of the pipeline (nothing in :mod:`wsss.engine`
imports them; the main job runs them with ``--diagnostics``). Those that need scene ground truth
(the objects' parts and instances) take a dataset with ``scene(index)``
(:class:`SceneDataset`, as :class:`~wsss.data.SyntheticVOC` offers) and refuse one without it.

- :func:`attention_zones` / :class:`TernaryZoneCounter`: ground-truth object and background
  pixels in each ternary-mask zone of stored attention;
- :func:`attention_profiles` / :class:`AttentionProfileCounter`: mean attention on parts,
  bodies, near and far background;
- :func:`erasing_ablation`: S_B of a trained SeeNet with S_A's zone, the true parts, or nothing
  erased;
- :func:`part_reach`: a classifier's raw class map by distance from each object's part, with
  the parts shown and painted over;
- :func:`pipeline_diagnostics`: the set a pipeline run reports.
"""

from __future__ import annotations

from .ablation import ERASING_ZONES, AttentionScore, erasing_ablation
from .attention import attention_profiles, attention_zones
from .counters import (
    PROFILE_REGIONS,
    ZONES,
    AttentionProfile,
    AttentionProfileCounter,
    TernaryZoneCounter,
    ZoneShares,
)
from .pipeline import PipelineDiagnostics, pipeline_diagnostics
from .reach import PART_REACH_BINS, PartReach, part_reach
from .scenes import Scene, SceneDataset, require_scenes

__all__ = [
    "ERASING_ZONES",
    "PART_REACH_BINS",
    "PROFILE_REGIONS",
    "ZONES",
    "AttentionProfile",
    "AttentionProfileCounter",
    "AttentionScore",
    "PartReach",
    "PipelineDiagnostics",
    "Scene",
    "SceneDataset",
    "TernaryZoneCounter",
    "ZoneShares",
    "attention_profiles",
    "attention_zones",
    "erasing_ablation",
    "part_reach",
    "pipeline_diagnostics",
    "require_scenes",
]
