"""A full disk: every writer fails with ENOSPC naming its file, leaves no partial file under the
final name (nor a temporary file), and succeeds once space is freed. See ``_full_disk.py``."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from _full_disk import WRITERS, SimulatedFullDisk, check_writer
from _reliability import child_env

FULL_DISK_SCRIPT = __file__.replace("test_disk_full.py", "_full_disk.py")


@pytest.mark.parametrize("writer", WRITERS, ids=[w.name for w in WRITERS])
def test_write_on_a_full_disk_fails_cleanly_and_succeeds_once_space_is_freed(tmp_path, writer):
    disk = SimulatedFullDisk(budget=20_000)  # room for part of the large version only
    (tmp_path / "disk").mkdir()
    (tmp_path / "reference").mkdir()
    check_writer(writer, tmp_path / "disk", disk.active, lambda: None, tmp_path / "reference")
    assert disk.refused >= 1 and disk.used > 0  # the write got partway before the refusal


def _can_mount_tmpfs(tmp_path) -> bool:
    if shutil.which("unshare") is None or not sys.platform.startswith("linux"):
        return False
    probe = subprocess.run(["unshare", "-rm", "mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs",
                            str(tmp_path)], capture_output=True)
    return probe.returncode == 0


def test_every_writer_on_a_real_full_tmpfs(tmp_path):
    """The same story against the kernel: a 128 KiB tmpfs in a private mount namespace."""
    if not _can_mount_tmpfs(tmp_path):
        pytest.skip("cannot mount a tmpfs here (needs unshare and user namespaces)")
    done = subprocess.run(["unshare", "-rm", sys.executable, FULL_DISK_SCRIPT, str(tmp_path)],
                          env=child_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert done.stdout.split("\n")[:-1] == [f"ok {w.name}" for w in WRITERS]
