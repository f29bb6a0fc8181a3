"""Image-level labels: XML, masks and the field's cls_labels.npy (loaded without running code)."""

from __future__ import annotations

import io
import os
import pickle
import re

import numpy as np
import pytest

from wsss.data.images import CorruptFileError
from wsss.data.labels import (
    labels_from_mask,
    labels_from_xml,
    load_cls_labels,
    normalize_image_name,
)
from wsss.data.sample import VOC_CLASSES


def names_of(vector: np.ndarray) -> list[str]:
    return [VOC_CLASSES[c] for c in np.flatnonzero(vector)]


# -- XML ------------------------------------------------------------------------------------------


def test_xml_labels_from_mini_tree(mini_voc):
    labels = labels_from_xml(mini_voc.voc / "Annotations" / "2007_000032.xml")
    assert labels.dtype == np.float32 and labels.shape == (20,)
    # the difficult chair counts; the person's <part><name>hand</name> is not a class
    assert names_of(labels) == ["aeroplane", "chair", "person"]
    assert labels.sum() == 3


def test_xml_unknown_class_names_file_and_name(tmp_path):
    path = tmp_path / "odd.xml"
    path.write_text("<annotation><object><name>unicorn</name></object></annotation>")
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: unknown class name 'unicorn'"):
        labels_from_xml(path)


def test_xml_broken_and_missing(tmp_path):
    broken = tmp_path / "broken.xml"
    broken.write_text("<annotation><object><name>dog</name>")
    with pytest.raises(CorruptFileError, match=re.escape(str(broken))):
        labels_from_xml(broken)
    nameless = tmp_path / "nameless.xml"
    nameless.write_text("<annotation><object><pose>Left</pose></object></annotation>")
    with pytest.raises(CorruptFileError, match=re.escape(str(nameless))):
        labels_from_xml(nameless)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "none.xml"))):
        labels_from_xml(tmp_path / "none.xml")


def test_xml_without_objects_is_all_zero(tmp_path):
    path = tmp_path / "empty.xml"
    path.write_text("<annotation><filename>x.jpg</filename></annotation>")
    assert labels_from_xml(path).tolist() == [0.0] * 20


# -- masks ----------------------------------------------------------------------------------------


def test_labels_from_mask_hand_values():
    mask = np.array([[0, 255, 1], [15, 15, 20]], dtype=np.uint8)
    labels = labels_from_mask(mask, 20)
    assert labels.dtype == np.float32
    assert np.flatnonzero(labels).tolist() == [0, 14, 19]
    assert labels_from_mask(np.array([[0, 255]], np.uint8), 20).sum() == 0


def test_labels_from_mask_rejects_bad_values():
    with pytest.raises(ValueError, match=r"label: .* found \[21\]"):
        labels_from_mask(np.array([[0, 21]], np.uint8), 20)
    with pytest.raises(TypeError, match="label"):
        labels_from_mask(np.zeros((2, 2), np.float32), 20)


# -- cls_labels.npy -------------------------------------------------------------------------------


def one_hot(*classes: int) -> np.ndarray:
    vector = np.zeros(20, np.float32)
    vector[list(classes)] = 1
    return vector


EXPECTED = {"2007_000032": one_hot(0, 14), "2008_000002": one_hot(11)}


@pytest.mark.parametrize(
    "keys",
    [
        {"2007_000032": "2007_000032", "2008_000002": "2008_000002"},  # str keys
        {"2007_000032": 2007000032, "2008_000002": 2008000002},  # int keys
        {"2007_000032": np.int64(2007000032), "2008_000002": np.int32(2008000002)},
    ],
    ids=["str", "int", "numpy-int"],
)
def test_cls_labels_int_and_str_keys(tmp_path, keys):
    path = tmp_path / "cls_labels.npy"
    np.save(path, {keys[name]: vector for name, vector in EXPECTED.items()})
    loaded = load_cls_labels(path, 20)
    assert sorted(loaded) == sorted(EXPECTED)
    for name, vector in EXPECTED.items():
        assert loaded[name].dtype == np.float32
        np.testing.assert_array_equal(loaded[name], vector)


def write_npy_payload(path, payload: bytes) -> None:
    """A .npy file with an object-array header followed by ``payload`` (a pickle)."""
    buffer = io.BytesIO()  # the header writer writes the magic string too
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "|O", "fortran_order": False, "shape": ()}
    )
    path.write_bytes(buffer.getvalue() + payload)


def pickled_dict(protocol: int) -> bytes:
    array = np.empty((), dtype=object)
    array[()] = {2007000032: one_hot(0, 14), "2008_000002": one_hot(11)}
    return pickle.dumps(array, protocol=protocol)


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_cls_labels_pickle_protocols(tmp_path, protocol):
    path = tmp_path / "cls_labels.npy"
    write_npy_payload(path, pickled_dict(protocol))
    loaded = load_cls_labels(path, 20)
    np.testing.assert_array_equal(loaded["2007_000032"], EXPECTED["2007_000032"])
    np.testing.assert_array_equal(loaded["2008_000002"], EXPECTED["2008_000002"])


def test_cls_labels_written_by_numpy_1(tmp_path):
    """Files from numpy 1.x name ``numpy.core.multiarray``; they load without that module."""
    payload = pickled_dict(3).replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    assert b"numpy.core.multiarray" in payload
    path = tmp_path / "old.npy"
    write_npy_payload(path, payload)
    assert sorted(load_cls_labels(path, 20)) == ["2007_000032", "2008_000002"]


class _MakeDir:
    """Unpickling this calls os.mkdir(marker): a stand-in for arbitrary code."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


class _Exec:
    """Unpickling this runs Python source that writes a marker file."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('pwned')",))


@pytest.mark.parametrize("payload_class", [_MakeDir, _Exec], ids=["os.mkdir", "exec"])
def test_malicious_pickle_is_refused_without_running(tmp_path, payload_class):
    marker = tmp_path / "marker"
    evil = np.empty((), dtype=object)
    evil[()] = {"2007_000032": payload_class(str(marker))}
    path = tmp_path / "cls_labels.npy"
    np.save(path, evil, allow_pickle=True)

    with pytest.raises(CorruptFileError, match=rf"{re.escape(str(path))}: refused to load"):
        load_cls_labels(path, 20)
    assert not marker.exists(), "the pickled code ran"

    # the file really is malicious: numpy's own pickle loading runs the payload
    np.load(path, allow_pickle=True)
    assert marker.exists()


def test_cls_labels_plain_array_is_refused(tmp_path):
    path = tmp_path / "plain.npy"
    np.save(path, np.zeros((3, 20), np.float32))
    with pytest.raises(CorruptFileError, match=rf"{re.escape(str(path))}: expected a pickled dict"):
        load_cls_labels(path, 20)


def test_cls_labels_not_npy_and_truncated(tmp_path):
    text = tmp_path / "text.npy"
    text.write_text("hello")
    with pytest.raises(CorruptFileError, match=re.escape(str(text))):
        load_cls_labels(text, 20)
    cut = tmp_path / "cut.npy"
    np.save(cut, dict(EXPECTED))
    cut.write_bytes(cut.read_bytes()[:-30])
    with pytest.raises(CorruptFileError, match=re.escape(str(cut))):
        load_cls_labels(cut, 20)
    with pytest.raises(FileNotFoundError, match=re.escape(str(tmp_path / "none.npy"))):
        load_cls_labels(tmp_path / "none.npy", 20)


@pytest.mark.parametrize(
    ("stored", "message"),
    [
        ({"2007_000032": np.ones(19, np.float32)}, "shape"),
        ({"2007_000032": np.full(20, 0.5, np.float32)}, "only 0 and 1"),
        ({12345: one_hot(1)}, "10 digits"),
        ({"../2007_000032": one_hot(1)}, "bad image name"),
        ({2007000032: one_hot(1), "2007_000032": one_hot(1)}, "twice"),
    ],
)
def test_cls_labels_bad_content_names_file(tmp_path, stored, message):
    path = tmp_path / "cls_labels.npy"
    np.save(path, stored)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: .*{message}"):
        load_cls_labels(path, 20)


def test_normalize_image_name():
    assert normalize_image_name(2007000032) == "2007_000032"
    assert normalize_image_name(np.int64(2011003276)) == "2011_003276"
    assert normalize_image_name(b"2007_000032") == "2007_000032"
    with pytest.raises(TypeError, match="key"):
        normalize_image_name(2007.0)
