"""The argument checks shared by the engine's stages (private module).

One function, :func:`check_stage_args`, checks the arguments the stages have in common by
their name (``model``, ``dataset``, ``normalizer``, ``out_dir``, ``ctx``, ``progress``, ...),
with the shared checks of :mod:`wsss._validation`, so that a wrong one is refused at the
stage's door with a message that names it, not deep inside a loader or a worker.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from .._validation import MAX_SIDE, check_bool, check_int, check_path
from ..data.protocol import check_dataset
from ..data.transforms import Normalizer

__all__ = ["check_stage_args"]

_MODULES = ("model", "seenet")
_DATASETS = ("dataset", "hidden")
_PATHS = ("out_dir", "attention_dir", "label_dir", "run_dir")
_OPTIONAL_PATHS = ("labels_from", "save_dir")
_FLAGS = ("progress", "resume", "skip_bad", "flip", "crf")
_OPTIONAL_SIZES = ("crop", "stop_after")


def check_stage_args(**arguments: Any) -> None:
    """Check each argument by its name; unknown names are left alone.

    Examples
    --------
    >>> check_stage_args(progress=False, crop=None)
    >>> check_stage_args(out_dir=None)
    Traceback (most recent call last):
    ...
    TypeError: out_dir: expected a str or os.PathLike, got NoneType
    """
    from .config import ModelConfig
    from .distributed import DistContext
    from .rundir import RunDir
    from .trainer import TrainConfig

    types = {"model_config": ModelConfig, "train_config": TrainConfig, "config": TrainConfig,
             "run": RunDir, "normalizer": Normalizer}
    for name, value in arguments.items():
        if name in _MODULES:
            if not isinstance(value, nn.Module):
                raise TypeError(f"{name}: expected an nn.Module, got {type(value).__name__}")
            if next(iter(value.parameters()), None) is None:
                raise ValueError(f"{name}: expected a network, got a {type(value).__name__} "
                                 "without parameters")
        if name in _DATASETS:
            check_dataset(value, name)
        elif name in _PATHS or (name in _OPTIONAL_PATHS and value is not None):
            check_path(name, value)
        elif name in _FLAGS:
            check_bool(name, value)
        elif name in _OPTIONAL_SIZES and value is not None:
            check_int(name, value, minimum=1, maximum=MAX_SIDE if name == "crop" else None)
        elif name == "ctx" and value is not None and not isinstance(value, DistContext):
            raise TypeError(f"ctx: expected a DistContext or None, got {type(value).__name__}")
        elif name in types and not isinstance(value, types[name]):
            raise TypeError(
                f"{name}: expected a {types[name].__name__}, got {type(value).__name__}"
            )
