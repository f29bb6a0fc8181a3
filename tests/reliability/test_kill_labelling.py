"""SIGKILL attention or pseudo-label generation partway: no partial file, and a rerun completes
only what is missing.

The child writes on a simulated slow disk (``_driver.py``): each file takes four paced chunks,
so the kill almost surely interrupts a write, and a writer that wrote straight to the final name
would be seen with a partial file by the watcher, which reads every new output while the child
runs.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from _reliability import Child, OutputWatcher, run_script, stats, synthetic

from wsss.data.images import read_label
from wsss.engine.labelling import load_attention

IMAGES = 24  # 3 batches of 8 for the attention stage
KILL_AFTER = 3  # output files seen before the kill


def report(text: str) -> tuple[int, int]:
    """``(written, skipped)`` from the scripts' ``rank 0: wrote W, skipped S existing`` line."""
    match = re.search(r"wrote (\d+), skipped (\d+) existing, 0 bad", text)
    assert match, text
    return int(match[1]), int(match[2])


@pytest.fixture(scope="module")
def seenet_weights(tmp_path_factory):
    run = tmp_path_factory.mktemp("seenet")
    run_script("train_seenet", [*synthetic(8), "--iterations", "1", "--batch-size", "4",
                                "--run-dir", str(run)])
    return run / "model.pt"


def attention_args(weights, run):
    return [*synthetic(IMAGES), "--checkpoint", str(weights), "--scales", "1.0",
            "--run-dir", str(run)]


@pytest.fixture(scope="module")
def attention_dir(tmp_path_factory, seenet_weights):
    run = tmp_path_factory.mktemp("attention")
    run_script("make_attention", attention_args(seenet_weights, run))
    return run / "maps"


def kill_partway_then_rerun(tmp_path, capsys, script, argv, folder, suffix, load):
    """Kill the child after ``KILL_AFTER`` outputs, check them, rerun; return the stats."""
    child = Child(script, argv, tmp_path / "child.log", slow_disk=0.02)
    watcher = OutputWatcher(folder, suffix, load)
    child.kill_when(lambda: watcher() >= KILL_AFTER)
    watcher()  # whatever the kill left under a final name is whole
    before = stats(folder, suffix)
    assert KILL_AFTER <= len(before) < IMAGES, "the kill should interrupt the run"

    capsys.readouterr()
    run_script(script, argv)
    written, skipped = report(capsys.readouterr().out)
    after = stats(folder, suffix)
    assert len(after) == IMAGES
    assert (written, skipped) == (IMAGES - len(before), len(before))
    assert {name: after[name] for name in before} == before  # finished files untouched
    assert watcher() == IMAGES
    return before


def test_sigkill_make_attention_then_rerun(tmp_path, capsys, seenet_weights, attention_dir):
    run = tmp_path / "attention"
    before = kill_partway_then_rerun(tmp_path, capsys, "make_attention",
                                     attention_args(seenet_weights, run), run / "maps", ".npz",
                                     load_attention)
    # the rerun wrote the missing maps, and they equal an uninterrupted run's (up to float16
    # storage and batching)
    for name in set(stats(run / "maps", ".npz")) - set(before):
        np.testing.assert_allclose(load_attention(run / "maps" / name).fused,
                                   load_attention(attention_dir / name).fused, atol=2e-3)


def test_sigkill_make_pseudo_labels_then_rerun(tmp_path, capsys, attention_dir):
    run = tmp_path / "labels"
    argv = [*synthetic(IMAGES), "--attention-dir", str(attention_dir), "--run-dir", str(run)]
    kill_partway_then_rerun(tmp_path, capsys, "make_pseudo_labels", argv, run, ".png",
                            read_label)
    reference = tmp_path / "reference"
    run_script("make_pseudo_labels", [*argv[:-1], str(reference)])
    for path in sorted(reference.glob("*.png")):
        np.testing.assert_array_equal(read_label(run / path.name), read_label(path))
