"""Helpers of the reliability suite: run the example scripts in-process or as killable children."""

from __future__ import annotations

import contextlib
import os
import runpy
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
DRIVER = Path(__file__).with_name("_driver.py")

#: The seconds-long synthetic configuration of ``tests/test_examples.py``.
TINY = ["--synthetic-val", "4", "--image-size", "48", "--no-progress", "--threads", "1"]


def synthetic(train_images: int) -> list[str]:
    """``TINY`` with ``train_images`` synthetic training images."""
    return ["--synthetic-train", str(train_images), *TINY]


def script_main(name: str) -> Callable[[list[str]], Any]:
    """The ``main(argv)`` of ``examples/<name>.py``."""
    return runpy.run_path(str(EXAMPLES / f"{name}.py"), run_name="not_main")["main"]


def run_script(name: str, argv: Sequence[str]) -> Any:
    """Run ``examples/<name>.py`` in this process."""
    return script_main(name)(list(argv))


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child: one thread, this checkout's ``wsss`` first on the path."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", **extra)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    return env


class Child:
    """An example script running in a child process (``_driver.py``), with its output in a log.

    ``slow_disk`` is the pause (s) after each quarter of every file written, see ``_driver``.
    ``launcher`` goes between the interpreter and the driver (e.g. ``-m torch.distributed.run
    --nproc_per_node=2``); a kill then hits the launcher and every worker at once, as a crash
    of the machine would.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        *,
        slow_disk: float = 0.0,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        launcher: Sequence[str] = (),
    ) -> None:
        self.log = log
        environment = env if env is not None else child_env()
        environment["WSSS_SLOW_DISK"] = str(slow_disk)
        with open(log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, *launcher, str(DRIVER), name, *argv],
                cwd=cwd, env=environment, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def kill_when(self, condition: Callable[[], bool], timeout: float = 150.0) -> None:
        """Poll ``condition`` and SIGKILL the child as soon as it holds.

        Fails if the child exits first (it finished, or crashed) or on timeout.
        """
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AssertionError(
                        f"the child exited (code {self.process.returncode}) before the kill "
                        f"moment:\n{self.output()}"
                    )
                if condition():
                    self.kill()
                    return
                time.sleep(0.005)
            raise AssertionError(f"timed out waiting for the kill moment:\n{self.output()}")
        finally:
            if self.process.poll() is None:
                self.kill()
            self.process.wait()

    def kill(self) -> None:
        """SIGKILL (no handler, no cleanup, no flush) the child and every process it started.

        The tree is frozen with SIGSTOP first (torchrun's workers run in sessions of their
        own, and would otherwise notice their launcher's death and go on), then killed; this
        returns once none of them runs any more.
        """
        tree = [self.process.pid]
        for pid in tree:  # grows while it is walked: breadth-first over the descendants
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
            tree.extend(_children(pid))
        for pid in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while any(_running(pid) for pid in tree[1:]) and time.monotonic() < deadline:
            time.sleep(0.01)

    def wait(self, timeout: float = 150.0) -> int:
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                self.kill()
                self.process.wait()


def _children(pid: int) -> list[int]:
    """The direct children of ``pid`` (Linux ``/proc``)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


def _running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def assert_identical(actual: Any, expected: Any, where: str = "checkpoint") -> None:
    """Recursive bit-for-bit equality of (nested) checkpoints: tensors, numbers, containers."""
    if isinstance(expected, torch.Tensor):
        assert isinstance(actual, torch.Tensor), f"{where}: expected a tensor"
        assert actual.dtype == expected.dtype and actual.shape == expected.shape, where
        assert torch.equal(actual, expected), f"{where}: tensors differ"
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), f"{where}: keys differ"
        for key in expected:
            assert_identical(actual[key], expected[key], f"{where}[{key!r}]")
    elif isinstance(expected, (list, tuple)):
        assert isinstance(actual, (list, tuple)) and len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_identical(a, e, f"{where}[{i}]")
    else:
        assert actual == expected, f"{where}: {actual!r} != {expected!r}"


class OutputWatcher:
    """Checks, each time it is called, that every output file with the final suffix is whole.

    ``load`` must raise on a partial or corrupt file. Files that loaded once are not read
    again (the stages never rewrite a finished file).
    """

    def __init__(self, folder: Path, suffix: str, load: Callable[[Path], object]) -> None:
        self.folder, self.suffix, self.load = folder, suffix, load
        self.valid: set[str] = set()

    def __call__(self) -> int:
        if not self.folder.is_dir():
            return 0
        for path in sorted(self.folder.iterdir()):
            if path.name.endswith(self.suffix) and path.name not in self.valid:
                try:
                    self.load(path)
                except Exception as exc:  # any failure here is the bug this suite looks for
                    raise AssertionError(
                        f"{path}: a partial or corrupt output file exists under its final name "
                        f"({type(exc).__name__}: {exc})"
                    ) from exc
                self.valid.add(path.name)
        return len(self.valid)


def stats(folder: Path, suffix: str) -> dict[str, tuple[int, int]]:
    """``name -> (inode, mtime_ns)`` of the files with ``suffix`` in ``folder``."""
    return {
        p.name: (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in folder.iterdir()
        if p.name.endswith(suffix)
    }
