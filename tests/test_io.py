"""Atomic writes and safe checkpoint loading."""

from __future__ import annotations

import os

import pytest
import torch

from wsss.io import CheckpointError, atomic_write, load_checkpoint, save_checkpoint


def test_atomic_write_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with pytest.raises(RuntimeError), atomic_write(path, "w") as f:
        f.write("partial")
        raise RuntimeError("interrupted")
    assert path.read_text() == "old"
    assert os.listdir(tmp_path) == ["out.txt"]  # no temporary file left behind


def test_checkpoint_round_trip(tmp_path):
    state = {"w": torch.arange(4.0), "step": 3, "name": "x", "nested": [torch.ones(2)]}
    save_checkpoint(state, tmp_path / "c.pt")
    back = load_checkpoint(tmp_path / "c.pt")
    assert torch.equal(back["w"], state["w"]) and back["step"] == 3


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    path = tmp_path / "c.pt"
    save_checkpoint({"w": torch.randn(1000)}, path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match=r"c\.pt.*truncated or corrupt"):
        load_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope\.pt"):
        load_checkpoint(tmp_path / "nope.pt")


class Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_code_executing_pickle_is_refused_and_not_run(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"w": torch.ones(1), "x": Payload(str(marker))}, path, pickle_protocol=2)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()
    # Control: without weights_only the same file does run its code, so the refusal above is
    # what protected us.
    torch.load(path, weights_only=False)
    assert marker.exists()
