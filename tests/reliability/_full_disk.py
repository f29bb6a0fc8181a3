"""A disk that fills up, for the reliability suite: simulated in-process, or a real tmpfs.

Every writer of ``wsss`` is driven through the same story (:func:`check_writer`): a first
version is written while there is room; the next, larger version is written on a full disk and
must fail with ``ENOSPC`` naming the file and leave the folder exactly as it was (no partial
file under the final name, no temporary file); once space is freed, writing it again succeeds.
The expected folder states come from the same writes into a folder that never fills.

Run as a script (``python _full_disk.py FOLDER``) inside a user and mount namespace
(``unshare -rm``), it mounts a 128 KiB tmpfs per writer under ``FOLDER`` and drives every
writer against a kernel that really refuses the write; "freeing space" remounts it larger.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from wsss.data.images import read_label, write_label
from wsss.engine.labelling import load_attention, save_attention
from wsss.engine.rundir import RunDir
from wsss.io import load_checkpoint, previous_path, save_checkpoint


class _FullFile:
    """A file object whose writes fail with ENOSPC once the disk's budget is spent (after
    writing what still fits, as a real disk does)."""

    def __init__(self, f: Any, disk: SimulatedFullDisk) -> None:
        self._f, self._disk = f, disk

    def write(self, data: Any) -> int:
        size = len(memoryview(data).cast("B")) if not isinstance(data, str) else len(data)
        room = self._disk.budget - self._disk.used
        if size > room:
            if room > 0:
                self._f.write(bytes(memoryview(data).cast("B")[:room]) if not isinstance(data, str)
                              else data[:room])
                self._f.flush()
                self._disk.used += room
            self._disk.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._disk.used += size
        return self._f.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._f, name)

    def __enter__(self) -> _FullFile:
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._f.__exit__(*exc)


class SimulatedFullDisk:
    """While active, every file opened for writing (``open``, ``os.fdopen``) has ``budget``
    bytes of room in all; ``refused`` counts the writes refused."""

    def __init__(self, budget: int) -> None:
        self.budget, self.used, self.refused = budget, 0, 0

    @contextlib.contextmanager
    def active(self) -> Iterator[SimulatedFullDisk]:
        real_open, real_fdopen = builtins.open, os.fdopen

        def wrap(f: Any, mode: Any) -> Any:
            writing = isinstance(mode, str) and any(c in mode for c in "wax+")
            return _FullFile(f, self) if writing else f

        def full_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            return wrap(real_open(file, mode, *args, **kwargs), mode)

        def full_fdopen(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
            return wrap(real_fdopen(fd, mode, *args, **kwargs), mode)

        builtins.open, os.fdopen = full_open, full_fdopen
        try:
            yield self
        finally:
            builtins.open, os.fdopen = real_open, real_fdopen


def _random(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


class Writer:
    """One writer: ``write(folder, version)`` writes version 0 (small) or 1 (large, ~1 MB);
    ``state(folder)`` is what a reader sees; ``target(folder)`` the file written."""

    name: str

    def target(self, folder: Path) -> Path:
        raise NotImplementedError

    def write(self, folder: Path, version: int) -> None:
        raise NotImplementedError

    def state(self, folder: Path) -> Any:
        raise NotImplementedError


class CheckpointWriter(Writer):
    def __init__(self, keep_previous: bool) -> None:
        self.keep_previous = keep_previous
        self.name = "save_checkpoint" + (" keep_previous" if keep_previous else "")

    def target(self, folder: Path) -> Path:
        return folder / "checkpoint.pt"

    def write(self, folder: Path, version: int) -> None:
        weights = torch.from_numpy(_random((16,) if version == 0 else (300_000,), version))
        if self.keep_previous and version == 0:  # so that a previous checkpoint exists
            save_checkpoint({"w": -weights, "step": -1}, self.target(folder), keep_previous=True)
        save_checkpoint({"w": weights, "step": version}, self.target(folder),
                        keep_previous=self.keep_previous)

    def state(self, folder: Path) -> Any:
        paths = [self.target(folder), previous_path(self.target(folder))]
        return [{k: v.numpy().tobytes() if isinstance(v, torch.Tensor) else v
                 for k, v in load_checkpoint(p).items()} for p in paths if p.exists()]


class AttentionWriter(Writer):
    name = "save_attention"

    def target(self, folder: Path) -> Path:
        return folder / "maps" / "2007_000032.npz"

    def write(self, folder: Path, version: int) -> None:
        size = 8 if version == 0 else 512
        fused = _random((21, size, size), version)
        classes = np.zeros(21, np.float32)
        classes[[0, 1, 15]] = 1
        save_attention(self.target(folder), fused, {"a": fused[::-1].copy()}, classes)

    def state(self, folder: Path) -> Any:
        stored = load_attention(self.target(folder))
        return stored.classes.tobytes(), stored.fused.tobytes(), stored.branches["a"].tobytes()


class LabelWriter(Writer):
    name = "write_label"

    def target(self, folder: Path) -> Path:
        return folder / "2007_000032.png"

    def write(self, folder: Path, version: int) -> None:
        size = 8 if version == 0 else 1024
        label = np.random.default_rng(version).integers(0, 21, (size, size), dtype=np.uint8)
        write_label(self.target(folder), label)

    def state(self, folder: Path) -> Any:
        return read_label(self.target(folder)).tobytes()


class JsonWriter(Writer):
    name = "RunDir.write_json"

    def target(self, folder: Path) -> Path:
        return folder / "report.json"

    def write(self, folder: Path, version: int) -> None:
        RunDir(folder).write_json("report.json", {"miou": _random((1 if version == 0 else
                                                                   40_000,), version)})

    def state(self, folder: Path) -> Any:
        return json.loads(self.target(folder).read_text())


class TextWriter(Writer):
    name = "RunDir.write_text"

    def target(self, folder: Path) -> Path:
        return folder / "report.md"

    def write(self, folder: Path, version: int) -> None:
        rows = 1 if version == 0 else 40_000
        RunDir(folder).write_text("report.md", "".join(f"| {i} | {x:.6f} |\n" for i, x in
                                                       enumerate(_random((rows,), version))))

    def state(self, folder: Path) -> Any:
        return self.target(folder).read_text()


class MetricsWriter(Writer):
    """``RunDir.log`` appends: a refused record must not leave a torn line behind."""

    name = "RunDir.log"

    def target(self, folder: Path) -> Path:
        return folder / "metrics.jsonl"

    def write(self, folder: Path, version: int) -> None:
        values = _random((2 if version == 0 else 40_000,), version).tolist()
        RunDir(folder).log({"iteration": version + 1, "values": values})

    def state(self, folder: Path) -> Any:
        return self.target(folder).read_text()  # the exact bytes: also no torn tail


WRITERS: list[Writer] = [CheckpointWriter(False), CheckpointWriter(True), AttentionWriter(),
                         LabelWriter(), JsonWriter(), TextWriter(), MetricsWriter()]


def listing(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def check_writer(writer: Writer, folder: Path, full: Callable[[], Any], free: Callable[[], None],
                 reference: Path) -> None:
    """The story of the module docstring; ``full()`` is a context manager for the full disk."""
    writer.write(reference, 0)
    small, small_files = writer.state(reference), listing(reference)
    writer.write(reference, 1)
    large, large_files = writer.state(reference), listing(reference)

    writer.write(folder, 0)
    assert writer.state(folder) == small and listing(folder) == small_files, writer.name
    target = writer.target(folder)
    try:
        with full():
            writer.write(folder, 1)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC, f"{writer.name}: {exc!r}"
        assert exc.filename == os.fspath(target) and str(target) in str(exc), (
            f"{writer.name}: the error does not name {target}: {exc!r}")
    else:
        raise AssertionError(f"{writer.name}: the write on a full disk did not fail")
    assert listing(folder) == small_files, (
        f"{writer.name}: the failed write changed the folder: {listing(folder)}")
    assert writer.state(folder) == small, f"{writer.name}: the old file was changed"

    free()
    writer.write(folder, 1)
    assert listing(folder) == large_files, f"{writer.name}: {listing(folder)}"
    assert writer.state(folder) == large, f"{writer.name}: the rerun wrote something else"


def main(root: Path) -> None:
    """Drive every writer against a real 128 KiB tmpfs (run inside ``unshare -rm``)."""
    for i, writer in enumerate(WRITERS):
        folder = root / f"disk{i}"
        folder.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(folder)],
                       check=True)
        try:
            with tempfile.TemporaryDirectory() as reference:
                check_writer(
                    writer, folder, contextlib.nullcontext,
                    lambda folder=folder: subprocess.run(
                        ["mount", "-o", "remount,size=16m", str(folder)], check=True),
                    Path(reference),
                )
        finally:
            subprocess.run(["umount", str(folder)], check=True)
        print(f"ok {writer.name}", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
