"""Atomic file writes, and checkpoints that are checksummed and loaded safely.

Every file that ``wsss`` writes goes through :func:`atomic_write`: the content is written to a
temporary file in the destination folder and moved into place with :func:`os.replace`, so a reader
(or a rerun after a crash) sees either the old file, or the whole new one, never a partial file.
A write the disk refuses (full disk, quota) removes the temporary file and raises an
:class:`OSError` whose ``filename`` is the destination. The file gets the permissions of the
process's umask (``0644`` under the usual ``022``), as ``open()`` would give it.

Checkpoints are loaded with ``torch.load(..., weights_only=True)``, which refuses pickles that
would execute code. :func:`save_checkpoint` stores the SHA-256 of the serialized bytes inside the
file (as its zip comment), and :func:`load_checkpoint` refuses a file whose bytes no longer match
it. With ``keep_previous=True`` the checkpoint it replaces is kept as ``<stem>.prev<suffix>``,
and :func:`load_latest_checkpoint` falls back to it when the latest one is damaged.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import pickle
import struct
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

import torch

__all__ = [
    "CheckpointError",
    "atomic_write",
    "load_checkpoint",
    "load_latest_checkpoint",
    "previous_path",
    "save_checkpoint",
]

from ._validation import check_path

PathLike = str | os.PathLike

class CheckpointError(RuntimeError):
    """A checkpoint file is truncated, corrupt or unsafe to load; the message names the path.

    (A missing file raises :class:`FileNotFoundError` instead.) ``refused`` is true when the
    file was refused because its pickle asks to run code, false when it is damaged.

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

    def __init__(self, message: str, *, refused: bool = False) -> None:
        super().__init__(message)
        self.refused = refused


#: errno values that mean "the storage refused the write" (the file was not written).
_WRITE_FAILURES = frozenset(
    code for code in (errno.ENOSPC, getattr(errno, "EDQUOT", None), errno.EFBIG, errno.EIO,
                      errno.EROFS) if code is not None
)


def _umask() -> int:
    """The process's umask, read without changing it where the system allows."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def _write_failure(exc: BaseException) -> OSError | None:
    """The storage error behind ``exc`` (serialisers such as ``torch.save`` wrap it), if any."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.filename is None and (
            current is exc or current.errno in _WRITE_FAILURES
        ):
            return current
        current = current.__cause__ or current.__context__
    return None


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "wb") -> Iterator[Any]:
    """Open a temporary file that replaces ``path`` only when the ``with`` block succeeds.

    The file gets mode ``0o666 & ~umask`` (``0644`` under umask ``022``). If the block or the
    disk fails, the temporary file is removed and ``path`` is left as it was (absent, or the old
    file). A failed write (full disk, quota, I/O error) is raised as an :class:`OSError` with
    the same ``errno`` whose ``filename`` is ``path``.

    Parameters
    ----------
    path
        Destination. Its parent folder is created if needed.
    mode
        ``"wb"`` (default) or ``"w"`` for text.

    Raises
    ------
    OSError
        The write failed; ``filename`` is ``path``.

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
    with _atomic_write(path, mode) as f:
        yield f


@contextlib.contextmanager
def _atomic_write(
    path: PathLike, mode: str = "wb", before_replace: Callable[[], None] | None = None
) -> Iterator[Any]:
    """:func:`atomic_write`, calling ``before_replace()`` once the data is on disk."""
    if mode not in ("wb", "w"):
        raise ValueError(f"mode: expected 'wb' or 'w', got {mode!r}")
    path = check_path("path", path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give what open() would give
        with os.fdopen(fd, mode, encoding=None if "b" in mode else "utf-8") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        if before_replace is not None:
            before_replace()
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        failure = _write_failure(exc)
        if failure is None:
            raise
        raise OSError(
            failure.errno,
            f"{failure.strerror or failure}; nothing was written under this name (free some "
            "space or fix the storage, then run again)",
            os.fspath(path),
        ) from exc


def previous_path(path: PathLike) -> Path:
    """Where ``save_checkpoint(..., keep_previous=True)`` keeps the checkpoint it replaced.

    Examples
    --------
    >>> previous_path("runs/a/checkpoint.pt").as_posix()
    'runs/a/checkpoint.prev.pt'
    """
    path = check_path("path", path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


class _HashingWriter:
    """A binary file wrapper that hashes what passes through it and keeps the last bytes."""

    def __init__(self, f: Any, digest: Any) -> None:
        self.f, self.digest, self.tail = f, digest, b""

    def write(self, data: Any) -> int:
        written = self.f.write(data)
        chunk = bytes(memoryview(data)[:written] if written is not None else data)
        self.digest.update(chunk)
        self.tail = (self.tail + chunk)[-_EOCD_SIZE:]
        return len(chunk)

    def flush(self) -> None:
        self.f.flush()


#: A zip archive ends with its end-of-central-directory record: 22 bytes, the last two the
#: length of the archive comment that follows. The checksum is stored as that comment.
_EOCD_SIZE = 22
_EOCD_SIGNATURE = b"PK\x05\x06"
_MARK = b"wsss-sha256:"
_COMMENT_SIZE = len(_MARK) + 64
_TRAILER = struct.pack("<H", _COMMENT_SIZE)


def _recorded_digest(path: Path) -> tuple[str, int] | None:
    """``(sha256 hex, bytes before the trailer)`` stored in the file, or ``None`` if absent."""
    size = path.stat().st_size
    if size < _EOCD_SIZE + _COMMENT_SIZE:
        return None
    with open(path, "rb") as f:
        f.seek(size - _EOCD_SIZE - _COMMENT_SIZE)
        end = f.read()
    comment = end[_EOCD_SIZE:]
    if not (end.startswith(_EOCD_SIGNATURE) and end[_EOCD_SIZE - 2 : _EOCD_SIZE] == _TRAILER
            and comment.startswith(_MARK)):
        return None
    digest = comment[len(_MARK):].decode("ascii", errors="replace")
    return digest, size - _COMMENT_SIZE - 2


def _verify(path: Path) -> bool:
    """Check the stored SHA-256 of ``path``; ``False`` if it has none, raise if it differs."""
    recorded = _recorded_digest(path)
    if recorded is None:
        return False
    expected, length = recorded
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while length > 0:
            block = f.read(min(length, 1 << 20))
            if not block:
                break
            digest.update(block)
            length -= len(block)
    digest.update(b"\x00\x00")  # the comment length as torch.save wrote it: empty
    if digest.hexdigest() != expected:
        raise CheckpointError(
            f"{path}: checksum mismatch: the file is truncated or corrupt (the SHA-256 of its "
            f"serialized bytes is {digest.hexdigest()}, the file records {expected})"
        )
    return True


def save_checkpoint(obj: Any, path: PathLike, *, keep_previous: bool = False) -> None:
    """Save ``obj`` (tensors, numbers, strings, lists and dicts of them) atomically, checksummed.

    Only objects that :func:`load_checkpoint` can read back with ``weights_only=True`` should be
    saved: plain containers of tensors and Python scalars. The parent folder is created if needed.

    The file is what ``torch.save`` writes (a zip archive) with one addition: the archive's
    comment, which every zip reader (``torch.load`` included) skips, holds
    ``wsss-sha256:<hex>``, the SHA-256 of the bytes ``torch.save`` wrote. The checksum thus
    travels inside the file and is replaced with it atomically.

    Parameters
    ----------
    obj
        What to save.
    path
        Destination, e.g. ``checkpoint.pt``.
    keep_previous
        Move the file being replaced to :func:`previous_path` ``(path)`` (replacing the one
        there), for :func:`load_latest_checkpoint`. It is moved only once the new file is
        completely on disk.

    Raises
    ------
    OSError
        The disk refused the write (``filename`` is ``path``); ``path`` is unchanged.

    Examples
    --------
    >>> import pathlib, tempfile, zipfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "run" / "checkpoint.pt"
    ...     save_checkpoint({"step": 3, "weight": torch.arange(3.0)}, path)
    ...     save_checkpoint({"step": 4, "weight": torch.ones(3)}, path, keep_previous=True)
    ...     files = sorted(p.name for p in path.parent.iterdir())
    ...     comment = zipfile.ZipFile(path).comment
    ...     load_checkpoint(path)["step"], load_checkpoint(previous_path(path))["step"], files
    (4, 3, ['checkpoint.prev.pt', 'checkpoint.pt'])
    >>> comment[:12], len(comment)
    (b'wsss-sha256:', 76)
    """
    path = check_path("path", path)
    digest = hashlib.sha256()

    def put_in_place() -> None:
        if keep_previous and path.exists():
            os.replace(path, previous_path(path))

    with _atomic_write(path, "wb", put_in_place) as f:
        writer = _HashingWriter(f, digest)
        torch.save(obj, cast(BinaryIO, writer))
        if not (writer.tail.startswith(_EOCD_SIGNATURE) and writer.tail.endswith(b"\x00\x00")):
            raise RuntimeError(f"{path}: torch.save did not end the file with an empty zip "
                               "comment; cannot store the checksum")
        f.seek(-2, os.SEEK_END)
        f.write(_TRAILER + _MARK + digest.hexdigest().encode("ascii"))


def load_checkpoint(path: PathLike, map_location: str | torch.device | None = "cpu") -> Any:
    """Load a checkpoint with ``weights_only=True`` and turn every failure into a clear error.

    A file written by :func:`save_checkpoint` carries the SHA-256 of its bytes, and it must
    match: a single flipped bit anywhere is caught, also in tensor data that would otherwise
    load silently. A file without one (written by other tools) is loaded unchecked.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CheckpointError
        If the file does not match its checksum, is truncated or corrupt, or if its pickle asks
        to run code (refused without running it; ``refused`` is then true).

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
    _verify(path)
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        details = _unpickler_details(exc)
        if any(word in details.lower() for word in _REFUSAL_WORDS):  # names code: refused
            raise CheckpointError(
                f"{path}: refused to load: the checkpoint's pickle asks for objects outside the "
                f"weights-only allow-list (it could run code). Details: {details}",
                refused=True,
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


def load_latest_checkpoint(
    path: PathLike, map_location: str | torch.device | None = "cpu"
) -> tuple[Any, Path]:
    """Load ``path``, or the previous checkpoint kept next to it when ``path`` is damaged.

    Falls back to :func:`previous_path` ``(path)`` when ``path`` is missing, truncated, corrupt
    or does not match its checksum, with a :class:`RuntimeWarning` naming both files. A
    checkpoint *refused* as unsafe is never skipped: its :class:`CheckpointError` is raised.

    Returns
    -------
    tuple of (object, Path)
        The loaded checkpoint and the file it came from.

    Raises
    ------
    FileNotFoundError
        Neither file exists.
    CheckpointError
        ``path`` is unsafe, or no file is usable (the message names each one and why).

    Examples
    --------
    >>> import pathlib, tempfile, warnings
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = pathlib.Path(tmp) / "checkpoint.pt"
    ...     for step in (1, 2):
    ...         save_checkpoint({"step": step}, path, keep_previous=True)
    ...     data = bytearray(path.read_bytes()); data[len(data) // 2] ^= 1  # one bit flipped
    ...     _ = path.write_bytes(bytes(data))
    ...     with warnings.catch_warnings(record=True) as caught:
    ...         warnings.simplefilter("always")
    ...         state, used = load_latest_checkpoint(path)
    >>> state["step"], used.name, "checkpoint.pt: checksum mismatch" in str(caught[0].message)
    (1, 'checkpoint.prev.pt', True)
    """
    path = check_path("path", path)
    prev = previous_path(path)
    try:
        return load_checkpoint(path, map_location), path
    except CheckpointError as exc:
        if exc.refused or not prev.is_file():
            raise
        problem = str(exc)
    except FileNotFoundError:
        if not prev.is_file():
            raise FileNotFoundError(f"checkpoint not found: {path} (nor {prev.name})") from None
        problem = f"{path}: missing"
    try:
        state = load_checkpoint(prev, map_location)
    except CheckpointError as exc:
        raise CheckpointError(f"{problem}; and the previous checkpoint: {exc}",
                              refused=exc.refused) from exc
    warnings.warn(f"{problem}; using the previous checkpoint {prev}", RuntimeWarning,
                  stacklevel=2)
    return state, prev


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
