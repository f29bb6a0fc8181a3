"""Refinement of masks by the image: PAMR (pixel-adaptive mask refinement), in pure torch.

The dense CRF, the other refinement the pipeline offers, lives in :mod:`wsss.crf`.
"""

from __future__ import annotations

from .pamr import PAMR, PAMR_DILATIONS, pamr, pamr_affinities

__all__ = ["PAMR", "PAMR_DILATIONS", "pamr", "pamr_affinities"]
