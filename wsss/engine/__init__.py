"""Training machinery: optimizer groups and the poly learning-rate schedule."""

from __future__ import annotations

from .optim import (
    PARAMETER_ROLES,
    LRMultipliers,
    PolyDecay,
    build_sgd,
    check_parameter_groups,
    poly_lr_scheduler,
)

__all__ = [
    "PARAMETER_ROLES",
    "LRMultipliers",
    "PolyDecay",
    "build_sgd",
    "check_parameter_groups",
    "poly_lr_scheduler",
]
