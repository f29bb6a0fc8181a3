"""Checkpoints that would run code are refused, everywhere one is loaded; damaged ones give a
clear :class:`~wsss.io.CheckpointError` naming the file.

Every refusal test ends with a control: the same file loaded *without* ``weights_only`` does
create the marker, so the marker's absence before proves that the refusal protected us.
"""

from __future__ import annotations

import pickle

import pytest
import torch
from _reliability import run_script, synthetic
from hypothesis import given, settings
from hypothesis import strategies as st

from wsss.io import CheckpointError, load_checkpoint, save_checkpoint


class Exploit:
    """Unpickling this runs ``exec``: it creates ``marker``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


def evil_checkpoint(path, marker):
    """A file shaped like a training checkpoint (and a state dict) with one poisoned entry."""
    torch.save({"model": {"weight": torch.ones(1)}, "iteration": 1, "payload": Exploit(marker),
                "weight": torch.ones(1)}, path)
    return path


def entry_points(path, tmp_path):
    """Every way to make the scripts load a checkpoint: name -> (call, the file it reads)."""
    out = str(tmp_path / "out")
    tiny = [*synthetic(4), "--run-dir", out]
    resume_dir = tmp_path / "resume"

    def resume():
        resume_dir.mkdir(exist_ok=True)
        (resume_dir / "checkpoint.pt").write_bytes(path.read_bytes())
        run_script("train_seenet", [*synthetic(4), "--iterations", "2", "--batch-size", "4",
                                    "--resume", "--run-dir", str(resume_dir)])

    return {
        "load_checkpoint": (lambda: load_checkpoint(path), path),
        "make_attention --checkpoint": (lambda: run_script(
            "make_attention", [*tiny, "--checkpoint", str(path), "--scales", "1.0"]), path),
        "evaluate --checkpoint": (lambda: run_script(
            "evaluate", [*tiny, "--checkpoint", str(path)]), path),
        "train_seenet --resume": (resume, resume_dir / "checkpoint.pt"),
        "train_seenet --weights": (lambda: run_script(
            "train_seenet", [*tiny, "--iterations", "1", "--batch-size", "4", "--weights",
                             str(path)]), path),
        "train_deeplab --weights (caffe)": (lambda: run_script(
            "train_deeplab", [*tiny, "--iterations", "1", "--batch-size", "4", "--ground-truth",
                              "--weights", str(path), "--weights-format", "caffe"]), path),
    }


ENTRY_POINTS = [
    "load_checkpoint", "make_attention --checkpoint", "evaluate --checkpoint",
    "train_seenet --resume", "train_seenet --weights", "train_deeplab --weights (caffe)",
]


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_code_executing_checkpoint_is_refused_without_running(tmp_path, entry):
    marker = tmp_path / "pwned"
    call, read = entry_points(evil_checkpoint(tmp_path / "evil.pt", marker), tmp_path)[entry]
    with pytest.raises(CheckpointError, match="refused") as error:
        call()
    assert str(read) in str(error.value)
    assert not marker.exists(), "the checkpoint's code ran"
    torch.load(read, weights_only=False)  # control: without the protection the code runs
    assert marker.exists()


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_truncated_checkpoint_is_a_checkpoint_error_naming_the_file(tmp_path, entry):
    path = tmp_path / "cut.pt"
    save_checkpoint({"model": {"weight": torch.randn(300)}, "iteration": 1}, path)
    path.write_bytes(path.read_bytes()[:700])
    call, read = entry_points(path, tmp_path)[entry]
    with pytest.raises(CheckpointError, match="truncated or corrupt") as error:
        call()
    assert str(read) in str(error.value)


NOT_CHECKPOINTS = {
    "empty file": b"",
    "text": b"this is not a checkpoint\n" * 8,  # torch's legacy reader fails with a KeyError
    "plain pickle": pickle.dumps({"w": [1.0, 2.0]}, protocol=4),
    "one byte of a checkpoint": None,
}


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("kind", list(NOT_CHECKPOINTS))
def test_a_file_that_is_not_a_checkpoint_is_reported_as_such(tmp_path, kind):
    path = tmp_path / "c.pt"
    if NOT_CHECKPOINTS[kind] is None:
        save_checkpoint({"w": torch.ones(3)}, path)
        path.write_bytes(path.read_bytes()[:1])
    else:
        path.write_bytes(NOT_CHECKPOINTS[kind])
    with pytest.raises(CheckpointError, match="truncated or corrupt") as error:
        load_checkpoint(path)
    assert str(path) in str(error.value) and "could run code" not in str(error.value)


@settings(max_examples=25, deadline=None)
@given(cut=st.floats(0.0, 1.0, exclude_max=True), junk=st.binary(max_size=64))
def test_any_damaged_checkpoint_is_a_checkpoint_error(tmp_path_factory, cut, junk):
    """A prefix of a checkpoint, or one with garbage after its prefix, never escapes as a raw
    torch / pickle / zip error."""
    path = tmp_path_factory.mktemp("damaged") / "c.pt"
    save_checkpoint({"w": torch.arange(50.0), "step": 3}, path)
    data = path.read_bytes()
    path.write_bytes(data[: int(cut * len(data))] + junk)
    try:
        load_checkpoint(path)
    except CheckpointError as error:
        assert str(path) in str(error)
