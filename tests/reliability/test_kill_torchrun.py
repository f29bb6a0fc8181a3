"""SIGKILL a two-process torchrun training (gloo, CPU) at a random step, resume it with
torchrun: the result is bit-identical to an uninterrupted two-process run.

The kill hits the launcher and both workers at once (as a crash of the machine would), on a
simulated slow disk so that it usually lands while rank 0 writes ``checkpoint.pt``. Set
``WSSS_RELIABILITY_SEED`` to replay a failure (the seed is in every failure message).
"""

from __future__ import annotations

import os
import random
import time

import pytest
from _reliability import Child, assert_identical
from test_kill_training import CheckpointProbe

from wsss.io import load_checkpoint

ITERATIONS = 8  # two steps per epoch with 8 images, a global batch of 4 over 2 processes
TORCHRUN = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]


def train_args(run_dir):
    return ["--synthetic-train", "8", "--synthetic-val", "4", "--image-size", "48",
            "--no-progress", "--threads", "1", "--device", "cpu", "--iterations",
            str(ITERATIONS), "--batch-size", "4", "--checkpoint-every", "1",
            "--run-dir", str(run_dir)]


def torchrun(tmp_path, run, *extra, slow_disk=0.0):
    return Child("train_seenet", [*train_args(run), *extra], tmp_path / f"{run.name}.log",
                 slow_disk=slow_disk, launcher=TORCHRUN)


@pytest.mark.slow
def test_sigkill_torchrun_at_a_random_step_then_resume_with_torchrun_is_bit_identical(tmp_path):
    seed = int(os.environ.get("WSSS_RELIABILITY_SEED", time.time_ns() % 2**31))
    kill_at = random.Random(seed).randint(1, ITERATIONS - 2)
    why = f"(kill after step {kill_at}, WSSS_RELIABILITY_SEED={seed})"

    reference = tmp_path / "reference"
    straight = torchrun(tmp_path, reference)
    assert straight.wait(300) == 0, straight.output()

    run = tmp_path / "interrupted"
    child = torchrun(tmp_path, run, slow_disk=0.02)
    probe = CheckpointProbe(run / "checkpoint.pt")
    child.kill_when(lambda: probe(kill_at), timeout=300)
    assert child.process.returncode == -9, why
    stopped_at = int(load_checkpoint(run / "checkpoint.pt")["iteration"])
    assert kill_at <= stopped_at < ITERATIONS, why
    assert not (run / "model.pt").exists(), why

    resumed = torchrun(tmp_path, run, "--resume")
    assert resumed.wait(300) == 0, resumed.output()
    assert_identical(load_checkpoint(run / "checkpoint.pt"),
                     load_checkpoint(reference / "checkpoint.pt"), f"checkpoint {why}")
    assert_identical(load_checkpoint(run / "model.pt"), load_checkpoint(reference / "model.pt"),
                     f"model.pt {why}")
    assert (run / "metrics.jsonl").read_text() == (reference / "metrics.jsonl").read_text(), why
