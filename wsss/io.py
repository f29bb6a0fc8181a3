"""Atomic file writes and safe loading of checkpoints.

Every file that ``wsss`` writes goes through :func:`atomic_write`: the content is written to a
temporary file in the destination folder and moved into place with :func:`os.replace`, so a reader
(or a rerun after a crash) sees either the old file, or the whole new one, never a partial file.
Checkpoints are loaded with ``torch.load(..., weights_only=True)``, which refuses pickles that
would execute code.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import tempfile
from collections.abc import Iterator
from typing import Any

import torch

from ._validation import check_path

__all__ = ["CheckpointError", "atomic_write", "load_checkpoint", "save_checkpoint"]

PathLike = str | os.PathLike


class CheckpointError(RuntimeError):
    """A checkpoint file is truncated, corrupt or unsafe to load; the message names the path.

    (A missing file raises :class:`FileNotFoundError` instead.)

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "ckpt.pt"
    ...     save_checkpoint({"w": torch.ones(3)}, path)
    ...     _ = path.write_bytes(path.read_bytes()[:100])  # cut short, e.g. by a full disk
    ...     load_checkpoint(path)
    Traceback (most recent call last):
    ...
    wsss.io.CheckpointError: .../ckpt.pt: cannot read the checkpoint: the file is truncated ...
    """


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file that replaces ``path`` only when the ``with`` block succeeds.

    Parameters
    ----------
    path
        Destination. Its parent folder is created if needed.
    mode
        ``"wb"`` (default) or ``"w"`` for text.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     folder = pathlib.Path(tmp)
    ...     with atomic_write(folder / "a.txt", "w") as f:
    ...         _ = f.write("done")
    ...     [p.name for p in folder.iterdir()], (folder / "a.txt").read_text()  # no temp file left
    (['a.txt'], 'done')
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode: expected 'wb' or 'w', got {mode!r}")
    path = check_path("path", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def save_checkpoint(obj: Any, path: PathLike) -> None:
    """Save ``obj`` (tensors, numbers, strings, lists and dicts of them) atomically.

    Only objects that :func:`load_checkpoint` can read back with ``weights_only=True`` should be
    saved: plain containers of tensors and Python scalars. The parent folder is created if needed.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "run" / "model.pt"
    ...     save_checkpoint({"step": 3, "weight": torch.arange(3.0)}, path)
    ...     load_checkpoint(path)
    {'step': 3, 'weight': tensor([0., 1., 2.])}
    """
    path = check_path("path", path)
    with atomic_write(path, "wb") as f:
        torch.save(obj, f)


def load_checkpoint(path: PathLike, map_location: str | torch.device | None = "cpu") -> Any:
    """Load a checkpoint with ``weights_only=True`` and turn every failure into a clear error.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CheckpointError
        If the file is truncated or corrupt, or if its pickle asks to run code (refused
        without running it).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     p = pathlib.Path(tmp) / "ckpt.pt"
    ...     save_checkpoint({"w": torch.ones(2)}, p)
    ...     load_checkpoint(p)["w"]
    tensor([1., 1.])
    """
    path = check_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        details = _unpickler_details(exc)
        if any(word in details.lower() for word in _REFUSAL_WORDS):  # names code: refused
            raise CheckpointError(
                f"{path}: refused to load: the checkpoint's pickle asks for objects outside the "
                f"weights-only allow-list (it could run code). Details: {details}"
            ) from exc
        raise CheckpointError(
            f"{path}: cannot read the checkpoint: the file is truncated or corrupt, or not a "
            f"weights-only checkpoint (unreadable pickle: {details})"
        ) from exc
    except MemoryError:
        raise
    except Exception as exc:  # a damaged file fails deep inside torch in many ways
        reason = f"{type(exc).__name__}: {exc}"
        raise CheckpointError(
            f"{path}: cannot read the checkpoint: the file is truncated or corrupt ({reason})"
        ) from exc


#: Words of torch's weights-only errors that mean "this pickle asks for code", not "damaged".
_REFUSAL_WORDS = ("global", "class", "reduce", "build", "allow")


def _unpickler_details(exc: pickle.UnpicklingError) -> str:
    """The useful line of torch's weights-only error (it wraps it in a long explanation)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error:" in line:
            rest = line.split("WeightsUnpickler error:", 1)[1].strip()
            return rest or (lines[i + 1] if i + 1 < len(lines) else "")
    return lines[0] if lines else type(exc).__name__
