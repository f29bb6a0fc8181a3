"""Where stored attention falls: ternary-mask zones and part / body / background profiles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .._validation import check_path
from ..data.sample import Sample
from ..engine import class_names, load_attention, stored_attention
from .counters import AttentionProfile, AttentionProfileCounter, TernaryZoneCounter, ZoneShares
from .scenes import require_scenes

__all__ = ["attention_profiles", "attention_zones"]


def attention_zones(
    dataset: Sequence[Sample],
    attention_dir: str | Path,
    branch: str | None = "a",
    *,
    delta_h: float = 0.7,
    delta_l: float = 0.05,
) -> ZoneShares:
    """Ground-truth object / background pixels in each ternary-mask zone of stored attention.

    A diagnostic for erasing (:class:`TernaryZoneCounter`): with SeeNet's ``branch="a"`` maps it
    shows what S_B is asked to learn from (the potential zone) and what S_C calls background.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from wsss.engine import DataConfig, load_dataset, save_attention
    >>> train = load_dataset(DataConfig(synthetic_train=2, image_size=48), "train")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for sample in train:  # attention = the ground truth itself
    ...         truth = np.stack([sample.label == c + 1 for c in range(20)]).astype(np.float32)
    ...         save_attention(Path(tmp) / f"{sample.name}.npz", truth, {}, sample.classes,
    ...                        train.class_names)
    ...     shares = attention_zones(train, tmp, branch=None)
    >>> shares.object_in_zones.tolist(), shares.background_in_zones.tolist()
    ([1.0, 0.0, 0.0], [0.0, 0.0, 1.0])
    """
    counter = TernaryZoneCounter(delta_h, delta_l)
    for sample, maps in stored_attention(dataset, attention_dir, branch):
        if sample.label is None:
            raise ValueError(f"dataset: image {sample.name} has no ground truth")
        counter.update(maps, sample.classes, sample.label)
    return counter.compute()


def attention_profiles(
    dataset: Sequence[Sample],
    sources: Mapping[str, tuple[str | Path, str | None]],
    *,
    radius: int = 8,
) -> dict[str, AttentionProfile]:
    """Mean attention on the objects' parts, bodies and the background (scene ground truth).

    Tests the premise of part-based data (:class:`AttentionProfileCounter`): a plain CAM should
    be high on the discriminative parts and low on the bodies, and SeeNet should raise the
    bodies without raising the background near the objects.

    Parameters
    ----------
    dataset
        A dataset with scene ground truth (see :func:`~wsss.diagnostics.require_scenes`).
    sources
        ``{name: (attention_dir, branch)}``; ``branch`` as in
        :func:`~wsss.engine.stored_attention`.
    radius
        Width in pixels of the near-background ring.

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from wsss.engine import DataConfig, load_dataset, save_attention
    >>> train = load_dataset(DataConfig(synthetic_train=2, image_size=48), "train")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     for sample in train:  # attention = the ground truth itself
    ...         truth = np.stack([sample.label == c + 1 for c in range(20)]).astype(np.float32)
    ...         save_attention(Path(tmp) / f"{sample.name}.npz", truth, {}, sample.classes,
    ...                        train.class_names)
    ...     profile = attention_profiles(train, {"truth": (tmp, None)})["truth"]
    >>> profile.as_dict()
    {'part': 1.0, 'body': 1.0, 'near background': 0.0, 'far background': 0.0}
    """
    scenes = require_scenes(dataset)
    names = class_names(dataset)
    _check_sources(sources)
    counters = {name: AttentionProfileCounter(radius) for name in sources}
    for i in range(len(scenes)):
        scene = scenes.scene(i)
        sample = scene.sample
        if sample.label is None:
            raise ValueError(f"dataset: image {sample.name} has no ground truth")
        for name, (directory, branch) in sources.items():
            path = Path(directory) / f"{sample.name}.npz"
            stored = load_attention(path, class_names=names)
            if branch is not None and branch not in stored.branches:
                raise ValueError(f"{path}: no branch {branch!r}")
            maps = stored.fused if branch is None else stored.branches[branch]
            counters[name].update(maps, stored.classes, sample.label, scene.parts > 0)
    return {name: counter.compute() for name, counter in counters.items()}


def _check_sources(sources: object) -> None:
    """``sources`` must map names to ``(attention_dir, branch)`` pairs."""
    if not isinstance(sources, Mapping) or not sources:
        raise TypeError("sources: expected a non-empty mapping {name: (attention_dir, branch)}")
    for name, value in sources.items():
        if not (isinstance(value, (tuple, list)) and len(value) == 2):
            raise TypeError(f"sources: {name!r} must map to a pair (attention_dir, branch)")
        check_path(f"sources[{name!r}]", value[0])
        if value[1] is not None and not isinstance(value[1], str):
            raise TypeError(f"sources: the branch of {name!r} must be a str or None")
