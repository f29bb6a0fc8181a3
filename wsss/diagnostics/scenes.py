"""The interface diagnostics use to read a dataset's scene ground truth (parts, instances).

Some diagnostics need more than pixel labels: where each object's discriminative part lies,
which pixels belong to which object. A dataset that knows this offers ``scene(index)``, returning
a record with the attributes of :class:`Scene`; :class:`~wsss.data.SyntheticVOC` does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from ..data.sample import Sample

__all__ = ["Scene", "SceneDataset", "require_scenes"]


@runtime_checkable
class Scene(Protocol):
    """One image's scene ground truth.

    Attributes
    ----------
    sample
        The :class:`~wsss.data.Sample` as the dataset yields it.
    instances
        ``(H, W)`` integer: ``k + 1`` on the pixels of object ``k``, 0 elsewhere.
    parts
        ``(H, W)`` integer: ``k + 1`` on the discriminative part of object ``k``, 0 elsewhere.
    foreground
        ``(H, W)`` bool: the pixels of any object.
    objects
        One record per object with ``class_index`` and ``part_area`` (pixels of its part).

    Examples
    --------
    >>> from wsss.data import SyntheticVOC
    >>> scene = SyntheticVOC(1, image_size=48).scene(0)
    >>> isinstance(scene, Scene), scene.parts.shape == scene.instances.shape == (48, 48)
    (True, True)
    """

    sample: Sample
    instances: np.ndarray
    parts: np.ndarray
    foreground: np.ndarray
    objects: Sequence


@runtime_checkable
class SceneDataset(Protocol):
    """A dataset whose images come with their scene ground truth (see :class:`Scene`).

    Examples
    --------
    >>> from wsss.data import SyntheticVOC
    >>> isinstance(SyntheticVOC(1, image_size=48), SceneDataset), isinstance([], SceneDataset)
    (True, False)
    """

    def __len__(self) -> int: ...

    def scene(self, index: int) -> Scene: ...


def require_scenes(dataset: object, argument: str = "dataset") -> SceneDataset:
    """``dataset`` if it offers ``scene(index)``, else a ``TypeError`` naming ``argument``.

    Examples
    --------
    >>> from wsss.data import SyntheticVOC
    >>> require_scenes(SyntheticVOC(1, image_size=48)).scene(0).parts.shape
    (48, 48)
    >>> require_scenes([], "data")
    Traceback (most recent call last):
    ...
    TypeError: data: this diagnostic needs a dataset with scene ground truth (...); got list
    """
    if not isinstance(dataset, SceneDataset):
        raise TypeError(
            f"{argument}: this diagnostic needs a dataset with scene ground truth (a "
            f"scene(index) method, as SyntheticVOC has); got {type(dataset).__name__}"
        )
    return dataset
