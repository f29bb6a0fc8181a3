"""The run directory: the resolved config, metrics as JSON lines, checkpoints and figures.

::

    runs/<name>/
        config.json        the resolved configuration (written atomically)
        metrics.jsonl      one JSON object per logged step or evaluation
        checkpoint.pt      the latest training state (for --resume)
        model.pt           final weights
        figures/           PNG figures
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .._validation import check_path
from ..io import atomic_write

__all__ = ["RunDir", "to_jsonable"]


def to_jsonable(value: Any) -> Any:
    """Turn dataclasses, paths, numpy values and NaN into plain JSON values (NaN -> None).

    Examples
    --------
    >>> to_jsonable({"p": Path("a/b"), "x": np.float32(0.5), "n": float("nan")})
    {'p': 'a/b', 'x': 0.5, 'n': None}
    """
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (Path, os.PathLike)):
        return os.fspath(value)
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunDir:
    """A run directory; only the process that writes (rank 0) should create one.

    Examples
    --------
    >>> import tempfile
    >>> run = RunDir(Path(tempfile.mkdtemp()) / "demo")
    >>> run.write_config({"lr": 1e-3, "seed": 0})
    >>> run.log({"iteration": 1, "loss": 0.5})
    >>> run.log({"iteration": 2, "loss": 0.25})
    >>> [m["loss"] for m in run.read_metrics()]
    [0.5, 0.25]
    >>> run.truncate_metrics(after_iteration=1)
    >>> [m["iteration"] for m in run.read_metrics()]
    [1]
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = check_path("path", path)
        self.path.mkdir(parents=True, exist_ok=True)

    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def metrics_path(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def checkpoint_path(self) -> Path:
        return self.path / "checkpoint.pt"

    @property
    def model_path(self) -> Path:
        return self.path / "model.pt"

    @property
    def figures(self) -> Path:
        folder = self.path / "figures"
        folder.mkdir(exist_ok=True)
        return folder

    def write_config(self, config: Mapping[str, Any] | Any) -> None:
        """Write ``config.json`` (a mapping or a dataclass) atomically."""
        self.write_json("config.json", config)

    def write_json(self, name: str, data: Any) -> None:
        with atomic_write(self.path / _file_name(name), "w") as f:
            json.dump(to_jsonable(data), f, indent=2, sort_keys=True)
            f.write("\n")

    def write_text(self, name: str, text: str) -> None:
        with atomic_write(self.path / _file_name(name), "w") as f:
            f.write(text)

    def log(self, record: Mapping[str, Any]) -> None:
        """Append one JSON line to ``metrics.jsonl``."""
        line = json.dumps(to_jsonable(record), sort_keys=True)
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(line + "\n")

    def read_metrics(self) -> Iterator[dict[str, Any]]:
        """The logged records, in order; a torn last line (a crash mid-write) is skipped."""
        if not self.metrics_path.exists():
            return
        with open(self.metrics_path, encoding="utf-8") as f:
            for line in f:
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue

    def truncate_metrics(self, after_iteration: int) -> None:
        """Drop records logged after ``after_iteration`` (before resuming from a checkpoint)."""
        kept = [m for m in self.read_metrics() if m.get("iteration", 0) <= after_iteration]
        with atomic_write(self.metrics_path, "w") as f:
            for record in kept:
                f.write(json.dumps(record, sort_keys=True) + "\n")


def _file_name(name: object) -> str:
    """A file name inside the run directory: a non-empty str without a folder part."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a file name (str), got {type(name).__name__}")
    if not name or Path(name).name != name:
        raise ValueError(f"name: expected a plain file name, got {name!r}")
    return name
