"""The synthetic saliency map: :class:`SaliencyQuality` and the corruption it describes.

The map stands in for a salient-object detector such as DSS: class-agnostic, ``float32`` in
[0, 1]. It starts as the exact foreground and is corrupted in this order: missed chunks ->
false-positive blobs -> Gaussian blur -> additive Gaussian noise -> clip to [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ._checks import _check_real

__all__ = ["SaliencyQuality"]


@dataclass(frozen=True)
class SaliencyQuality:
    """How far the synthetic saliency map is from the true foreground.

    The map is built in this order: exact foreground -> missed chunks -> false-positive blobs ->
    Gaussian blur -> additive Gaussian noise -> clip to [0, 1]. The random draws do not depend on
    these settings, so raising one of them (others fixed) degrades the same map further.

    Attributes
    ----------
    blur_sigma
        Standard deviation (pixels) of the Gaussian blur that softens boundaries; 0 for none.
    noise_std
        Standard deviation of the additive per-pixel Gaussian noise; 0 for none.
    miss_prob
        Probability that an object loses a chunk of its saliency (set to 0).
    miss_fraction
        Fraction of a missed object's visible pixels that are dropped: those furthest along a
        random direction, so a whole end of the object disappears.
    false_positive_prob
        Probability that each body-like background distractor is marked salient.
    false_positive_strength
        Saliency value given to a false-positive blob, in [0, 1].

    Examples
    --------
    >>> SaliencyQuality.perfect().noise_std
    0.0
    >>> SaliencyQuality(noise_std=0.1).blur_sigma
    1.5
    """

    blur_sigma: float = 1.5
    noise_std: float = 0.05
    miss_prob: float = 0.25
    miss_fraction: float = 0.3
    false_positive_prob: float = 0.3
    false_positive_strength: float = 0.8

    def __post_init__(self) -> None:
        for name in ("blur_sigma", "noise_std"):
            value = _check_real(name, getattr(self, name))
            if value < 0:
                raise ValueError(f"{name}: must be >= 0, got {value}")
        probabilities = ("miss_prob", "miss_fraction", "false_positive_prob")
        for name in (*probabilities, "false_positive_strength"):
            value = _check_real(name, getattr(self, name))
            if not 0 <= value <= 1:
                raise ValueError(f"{name}: must lie in [0, 1], got {value}")

    @classmethod
    def perfect(cls) -> SaliencyQuality:
        """Saliency equal to the foreground mask (no blur, noise, misses or false positives)."""
        return cls(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    @classmethod
    def poor(cls) -> SaliencyQuality:
        """A weak detector: heavy blur and noise, frequent misses and false positives."""
        return cls(3.0, 0.15, 0.5, 0.45, 0.7, 0.9)



def _corrupt_saliency(
    rng: np.random.Generator,
    foreground: np.ndarray,
    objects: list[np.ndarray],
    distractors: list[np.ndarray],
    quality: SaliencyQuality,
) -> np.ndarray:
    """Foreground -> missed chunks -> false positives -> blur -> noise -> clip (see the module)."""
    saliency = foreground.astype(np.float32)
    for mask in objects:  # draws happen whatever the quality, so knobs act on the same map
        missed, direction = rng.random(), rng.uniform(0, 2 * math.pi)
        rows, cols = np.nonzero(mask)
        if missed < quality.miss_prob and quality.miss_fraction > 0 and rows.size:
            along = cols * math.cos(direction) + rows * math.sin(direction)
            cut = np.quantile(along, 1 - quality.miss_fraction)
            drop = along >= cut
            saliency[rows[drop], cols[drop]] = 0
    for mask in distractors:
        if rng.random() < quality.false_positive_prob:
            saliency[mask] = np.maximum(saliency[mask], quality.false_positive_strength)
    if quality.blur_sigma > 0:
        saliency = ndimage.gaussian_filter(saliency, quality.blur_sigma, mode="nearest")
    noise = rng.standard_normal(saliency.shape, dtype=np.float32)
    saliency += np.float32(quality.noise_std) * noise
    return np.clip(saliency, 0, 1).astype(np.float32)
