"""Atomic writes and safe checkpoint loading."""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

import pytest
import torch

from wsss.io import (
    CheckpointError,
    _umask,
    atomic_write,
    load_checkpoint,
    load_latest_checkpoint,
    previous_path,
    save_checkpoint,
)


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


@pytest.fixture
def umask():
    """Set the process umask for one test, and put the old one back."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize(("mask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_atomic_writes_get_the_umask_permissions(tmp_path, umask, mask, expected):
    umask(mask)
    with open(tmp_path / "plain.txt", "w") as f:  # what open() gives: the reference
        f.write("x")
    with atomic_write(tmp_path / "a.txt", "w") as f:
        f.write("x")
    save_checkpoint({"w": torch.ones(2)}, tmp_path / "c.pt")
    assert (tmp_path / "plain.txt").stat().st_mode & 0o777 == expected
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == expected
    assert (tmp_path / "c.pt").stat().st_mode & 0o777 == expected


def test_umask_is_read_without_changing_it(umask):
    umask(0o027)
    assert _umask() == 0o027 and os.umask(0o027) == 0o027


def _torch_bytes(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_the_checksum_is_the_sha256_of_torch_save_bytes_in_the_zip_comment(tmp_path):
    """The format, checked against a file assembled by hand from torch.save's own bytes."""
    obj = {"w": torch.arange(5.0), "step": 7}
    raw = _torch_bytes(obj)
    assert raw[-22:-18] == b"PK\x05\x06" and raw[-2:] == b"\x00\x00"  # empty zip comment
    comment = b"wsss-sha256:" + hashlib.sha256(raw).hexdigest().encode()
    by_hand = raw[:-2] + len(comment).to_bytes(2, "little") + comment
    save_checkpoint(obj, tmp_path / "ours.pt")
    assert (tmp_path / "ours.pt").read_bytes() == by_hand
    assert zipfile.ZipFile(tmp_path / "ours.pt").comment == comment
    (tmp_path / "hand.pt").write_bytes(by_hand)
    assert load_checkpoint(tmp_path / "hand.pt")["step"] == 7
    # a wrong digest in a hand-written file is caught
    wrong = by_hand[:-64] + hashlib.sha256(b"other").hexdigest().encode()
    (tmp_path / "wrong.pt").write_bytes(wrong)
    with pytest.raises(CheckpointError, match=r"wrong\.pt: checksum mismatch"):
        load_checkpoint(tmp_path / "wrong.pt")
    # a plain torch.save file (no checksum) still loads: checked only by torch
    (tmp_path / "plain.pt").write_bytes(raw)
    assert load_checkpoint(tmp_path / "plain.pt")["step"] == 7


@pytest.mark.parametrize("where", [0.3, 0.5, 0.7, 0.9])
def test_a_flipped_bit_anywhere_is_a_checksum_mismatch(tmp_path, where):
    path = tmp_path / "c.pt"
    save_checkpoint({"w": torch.randn(2000), "step": 3}, path)
    data = bytearray(path.read_bytes())
    data[int(where * len(data))] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"c\.pt: checksum mismatch") as error:
        load_checkpoint(path)
    assert not error.value.refused
    # control: torch alone loads these bytes without complaint at 0.5 (inside the tensor data)
    if where == 0.5:
        assert torch.load(path, weights_only=True)["step"] == 3


def test_keep_previous_rotates_and_the_latest_falls_back(tmp_path):
    path = tmp_path / "checkpoint.pt"
    for step in (1, 2, 3):
        save_checkpoint({"step": step, "w": torch.full((100,), float(step))}, path,
                        keep_previous=True)
    assert previous_path(path) == tmp_path / "checkpoint.prev.pt"
    assert load_checkpoint(previous_path(path))["step"] == 2
    state, used = load_latest_checkpoint(path)
    assert (state["step"], used) == (3, path)

    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.warns(RuntimeWarning, match=r"checkpoint\.pt: checksum mismatch.*previous "
                      r"checkpoint .*checkpoint\.prev\.pt"):
        state, used = load_latest_checkpoint(path)
    assert (state["step"], used) == (2, previous_path(path))

    path.unlink()  # a kill between moving the old one aside and moving the new one in
    with pytest.warns(RuntimeWarning, match=r"checkpoint\.pt: missing"):
        assert load_latest_checkpoint(path)[0]["step"] == 2

    previous_path(path).write_bytes(b"junk")
    with pytest.raises(CheckpointError, match=r"checkpoint\.pt: missing; and the previous "
                       r"checkpoint: .*checkpoint\.prev\.pt: cannot read"):
        load_latest_checkpoint(path)
    previous_path(path).unlink()
    with pytest.raises(FileNotFoundError, match=r"checkpoint\.pt"):
        load_latest_checkpoint(path)


def test_a_refused_latest_checkpoint_is_not_skipped(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"step": 1}, path)
    save_checkpoint({"step": 2}, path, keep_previous=True)
    torch.save({"x": Payload(str(marker))}, path)
    with pytest.raises(CheckpointError, match="refused") as error:
        load_latest_checkpoint(path)
    assert error.value.refused and not marker.exists()


def test_keep_previous_keeps_a_good_file_through_a_failed_save(tmp_path):
    path = tmp_path / "checkpoint.pt"
    save_checkpoint({"step": 1}, path, keep_previous=True)
    save_checkpoint({"step": 2}, path, keep_previous=True)

    class Unsaveable:
        pass

    with pytest.raises(AttributeError, match="pickle"):  # a local class cannot be pickled
        save_checkpoint({"step": 3, "bad": Unsaveable()}, path, keep_previous=True)
    assert load_checkpoint(path)["step"] == 2
    assert load_checkpoint(previous_path(path))["step"] == 1
    assert sorted(os.listdir(tmp_path)) == ["checkpoint.prev.pt", "checkpoint.pt"]
