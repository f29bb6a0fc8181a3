"""SIGKILL a training script at a random step, resume it: the result is bit-identical.

The child runs on a simulated slow disk (``_driver.py``), so the kill usually lands in the
middle of writing ``checkpoint.pt``. The kill step is drawn at random; set
``WSSS_RELIABILITY_SEED`` to replay a failure (the seed is in every failure message).
"""

from __future__ import annotations

import os
import random
import time

import pytest
from _reliability import Child, assert_identical, run_script, synthetic

from wsss.io import load_checkpoint

ITERATIONS = 8  # two steps per epoch: kills land mid-epoch and at epoch ends


def train_args(run_dir, extra):
    return [*synthetic(8), "--iterations", str(ITERATIONS), "--batch-size", "4",
            "--checkpoint-every", "1", "--run-dir", str(run_dir), *extra]


class CheckpointProbe:
    """Reads ``checkpoint.pt`` whenever it changes; every read must succeed (never partial)."""

    def __init__(self, path):
        self.path, self.last_seen, self.iterations = path, None, []

    def __call__(self, kill_at: int) -> bool:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return False
        if (st.st_ino, st.st_mtime_ns) != self.last_seen:
            self.last_seen = (st.st_ino, st.st_mtime_ns)
            self.iterations.append(int(load_checkpoint(self.path)["iteration"]))
        return bool(self.iterations) and self.iterations[-1] >= kill_at


@pytest.mark.parametrize(("script", "extra"), [("train_seenet", []),
                                               ("train_deeplab", ["--ground-truth"])])
def test_sigkill_at_a_random_step_then_resume_is_bit_identical(tmp_path, script, extra):
    seed = int(os.environ.get("WSSS_RELIABILITY_SEED", time.time_ns() % 2**31))
    kill_at = random.Random(seed).randint(1, ITERATIONS - 2)
    why = f"(script {script}, kill after step {kill_at}, WSSS_RELIABILITY_SEED={seed})"

    reference = tmp_path / "reference"
    run_script(script, train_args(reference, extra))

    run = tmp_path / "interrupted"
    child = Child(script, train_args(run, extra), tmp_path / "child.log", slow_disk=0.02)
    probe = CheckpointProbe(run / "checkpoint.pt")
    child.kill_when(lambda: probe(kill_at))
    assert child.process.returncode == -9, why
    stopped_at = int(load_checkpoint(run / "checkpoint.pt")["iteration"])
    assert kill_at <= stopped_at < ITERATIONS, why
    assert not (run / "model.pt").exists(), why

    run_script(script, [*train_args(run, extra), "--resume"])
    # weights, optimizer moments and step counts, scheduler, RNG state, iteration: all equal
    assert_identical(load_checkpoint(run / "checkpoint.pt"),
                     load_checkpoint(reference / "checkpoint.pt"), f"checkpoint {why}")
    assert_identical(load_checkpoint(run / "model.pt"), load_checkpoint(reference / "model.pt"),
                     f"model.pt {why}")
    metrics = (run / "metrics.jsonl").read_text()
    assert metrics == (reference / "metrics.jsonl").read_text(), why


def test_two_fresh_runs_start_from_the_same_weights(tmp_path):
    """Without a seeded initialisation no resumed run could match an uninterrupted one."""
    for name in ("a", "b"):
        run_script("train_seenet", [*synthetic(8), "--iterations", "1", "--batch-size", "4",
                                    "--run-dir", str(tmp_path / name)])
    assert_identical(load_checkpoint(tmp_path / "a" / "model.pt"),
                     load_checkpoint(tmp_path / "b" / "model.pt"), "model.pt")
