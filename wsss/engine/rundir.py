"""The run directory: the resolved config, metrics as JSON lines, checkpoints and figures.

::

    runs/<name>/
        config.json        the resolved configuration (written atomically)
        metrics.jsonl      one JSON object per logged step or evaluation
        checkpoint.pt      the latest training state (for --resume)
        checkpoint.prev.pt the one before it (the fallback if the latest is damaged)
        model.pt           final weights
        run.lock           while a run holds the directory: its pid and host
        figures/           PNG figures

:class:`RunLock` keeps a second run from writing into a directory that a live run holds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import errno
import json
import math
import os
import socket
import sys
import threading
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from .._validation import check_path
from ..io import atomic_write, previous_path

try:
    import fcntl
except ImportError:  # Windows: the lock falls back to the pid check alone
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunDir", "RunLock", "RunLockedError", "to_jsonable"]


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


def fill_missing_fields(stored: Any, current: Any) -> Any:
    """``stored`` (a config as written to JSON) with the dataclass fields it lacks set to their
    defaults, following the structure of ``current``, the config it is compared with.

    A run written before a field existed ran with the field's default, so comparing an old
    ``config.json`` or checkpoint with a new config must not count the field as changed.
    Nested dataclasses, mappings and equal-length sequences are filled likewise; anything
    else is returned unchanged.

    Examples
    --------
    >>> @dataclasses.dataclass(frozen=True)
    ... class Inner:
    ...     lr: float = 0.1
    ...     weighting: str = "none"
    >>> @dataclasses.dataclass(frozen=True)
    ... class Outer:
    ...     inner: Inner = Inner()
    ...     steps: int = 10
    >>> fill_missing_fields({"inner": {"lr": 0.5}}, Outer(Inner(0.5, "inverse"), 20))
    {'inner': {'lr': 0.5, 'weighting': 'none'}, 'steps': 10}
    """
    if dataclasses.is_dataclass(current) and not isinstance(current, type):
        if not isinstance(stored, Mapping):
            return stored
        out = dict(stored)
        for f in dataclasses.fields(current):
            if f.name in out:
                out[f.name] = fill_missing_fields(out[f.name], getattr(current, f.name))
            elif f.default is not dataclasses.MISSING:
                out[f.name] = to_jsonable(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                out[f.name] = to_jsonable(f.default_factory())
        return out
    if isinstance(current, Mapping) and isinstance(stored, Mapping):
        return {k: fill_missing_fields(v, current[k]) if k in current else v
                for k, v in stored.items()}
    if (isinstance(current, (list, tuple)) and isinstance(stored, list)
            and len(current) == len(stored)):
        return [fill_missing_fields(a, b) for a, b in zip(stored, current)]
    return stored


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
    def previous_checkpoint_path(self) -> Path:
        return previous_path(self.checkpoint_path)

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

    def lock(self) -> RunLock:
        """A :class:`RunLock` on this directory (use it as a context manager)."""
        return RunLock(self.path)

    def log(self, record: Mapping[str, Any]) -> None:
        """Append one JSON line to ``metrics.jsonl``.

        A write the disk refuses is undone (no torn line is left to merge with the next
        record) and raised as an :class:`OSError` naming the file.
        """
        line = (json.dumps(to_jsonable(record), sort_keys=True) + "\n").encode("utf-8")
        with open(self.metrics_path, "ab") as f:
            size = f.tell()
            try:
                f.write(line)
                f.flush()
            except OSError as exc:
                with contextlib.suppress(OSError):
                    f.truncate(size)
                raise OSError(exc.errno, f"{exc.strerror or exc}; the record was not logged",
                              os.fspath(self.metrics_path)) from exc

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


class RunLockedError(RuntimeError):
    """The run directory is held by another live run; the message names the directory and holder.

    Examples
    --------
    >>> raise RunLockedError("runs/a is in use")
    Traceback (most recent call last):
    ...
    wsss.engine.rundir.RunLockedError: runs/a is in use
    """


#: The locks this process holds: resolved lock path -> [file descriptor, depth].
_HELD: dict[str, list[int]] = {}
_HELD_GUARD = threading.RLock()


def _close_inherited_locks() -> None:
    """In a forked child: close the copies of the lock descriptors, so that only the holder
    keeps the lock (a flock lives as long as any copy of its descriptor is open)."""
    for fd, _ in _HELD.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, owned by someone else
        return True
    except (OSError, OverflowError, ValueError):
        return False
    return True


class RunLock:
    """Exclusive use of a run directory by one live process, through ``<dir>/run.lock``.

    Entering writes the holder's pid, host, start time and command line to ``run.lock`` and
    holds an exclusive ``fcntl.flock`` on it; leaving (also on an error) releases it and
    deletes the file. A second process that enters while the holder lives is refused at once
    with :class:`RunLockedError`. The kernel drops the lock of a process that dies, however it
    dies (a forked child, such as a data-loader worker, closes its copy at once, so it cannot
    keep the lock alive), so the lock file a killed run leaves behind is stale and the next run
    takes it over (with a :class:`RuntimeWarning` naming the old holder). Where the file system
    offers no ``flock``, a lock whose pid no longer exists on this host is stale, and one from
    another host is respected.

    Entering again in the process that holds the lock nests (only the outermost exit
    releases it). Under torchrun only rank 0, the process that writes, should take it.

    Parameters
    ----------
    folder
        The run directory (created if needed).

    Raises
    ------
    RunLockedError
        On entry, if a live process holds the directory.

    Examples
    --------
    >>> import json, tempfile
    >>> folder = Path(tempfile.mkdtemp()) / "run"
    >>> with RunLock(folder) as lock:
    ...     holder = json.loads(lock.path.read_text())
    ...     holder["pid"] == os.getpid(), holder["host"] == socket.gethostname()
    (True, True)
    >>> lock.path.exists()  # released and removed
    False
    """

    FILENAME = "run.lock"

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.path = self.folder / self.FILENAME
        self._key: str | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._key is not None

    def holder(self) -> dict[str, Any]:
        """What ``run.lock`` says about its holder (``{}`` if it is absent or unreadable)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def acquire(self) -> RunLock:
        """Take the lock (see the class docstring); returns ``self``."""
        if self._key is not None:
            raise RuntimeError(f"{self.path}: this RunLock is already held; enter it once")
        self.folder.mkdir(parents=True, exist_ok=True)
        key = os.path.realpath(self.path)
        with _HELD_GUARD:
            if key in _HELD:
                _HELD[key][1] += 1
            else:
                _HELD[key] = [self._take(), 1]
        self._key = key
        return self

    def release(self) -> None:
        """Give the lock back; the outermost holder also deletes ``run.lock``."""
        key, self._key = self._key, None
        if key is None:
            return
        with _HELD_GUARD:
            entry = _HELD[key]
            entry[1] -= 1
            if entry[1] > 0:
                return
            del _HELD[key]
            fd = entry[0]
            try:
                with contextlib.suppress(OSError):
                    if os.fstat(fd).st_ino == os.stat(self.path).st_ino:
                        os.unlink(self.path)  # while still holding it: nobody sees it free
            finally:
                os.close(fd)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()

    def _refuse(self, info: Mapping[str, Any]) -> RunLockedError:
        who = (f"pid {info.get('pid', '?')} on host {info.get('host', '?')}"
               f" (since {info.get('started', '?')}: {info.get('command', '?')})"
               if info else "a process that is starting")
        return RunLockedError(
            f"run directory {self.folder} is in use by {who}; wait for that run to end or stop "
            f"it, or choose another run directory (lock file: {self.path})"
        )

    def _take(self) -> int:
        """Open, lock and fill ``run.lock``; return its descriptor."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                previous = self.holder()
                self._lock_fd(fd, previous)
                try:
                    same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
                except FileNotFoundError:
                    same = False
                if not same:  # the holder released (and deleted) it meanwhile: start over
                    os.close(fd)
                    continue
                if previous.get("pid") not in (None, os.getpid()):
                    warnings.warn(
                        f"{self.path}: taking over the stale lock of pid {previous.get('pid')} "
                        f"on host {previous.get('host')}, which is no longer running",
                        RuntimeWarning, stacklevel=4,
                    )
                info = {
                    "pid": os.getpid(),
                    "host": socket.gethostname(),
                    "started": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                    "command": " ".join(sys.argv),
                }
                data = (json.dumps(info, indent=2) + "\n").encode("utf-8")
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)
                os.fsync(fd)
                return fd
            except BaseException:
                with contextlib.suppress(OSError):
                    os.close(fd)
                raise

    def _lock_fd(self, fd: int, previous: Mapping[str, Any]) -> None:
        """Lock ``fd``, or raise :class:`RunLockedError` if a live process holds the lock."""
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except OSError as exc:
                if exc.errno in (errno.EACCES, errno.EAGAIN):
                    raise self._refuse(self.holder()) from None
                # otherwise (ENOLCK, EOPNOTSUPP, ...) this file system has no flock
        pid, host = previous.get("pid"), previous.get("host")
        if isinstance(pid, int) and pid != os.getpid() and (
            host != socket.gethostname() or _pid_alive(pid)
        ):
            raise self._refuse(previous)


def _file_name(name: object) -> str:
    """A file name inside the run directory: a non-empty str without a folder part."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a file name (str), got {type(name).__name__}")
    if not name or Path(name).name != name:
        raise ValueError(f"name: expected a plain file name, got {name!r}")
    return name
