"""Image-level labels files (CSV or JSON) and class lists, with errors that name file and line.

Labels file, CSV (``labels.csv``)::

    name,classes
    cat_001,cat
    street_07,car;person
    empty_lot,

A header row ``name,classes`` first, then one row per image: the image name (a file stem such
as ``cat_001``, or a file name such as ``cat_001.jpg``; the extension is dropped) and its
classes separated by ``;``. An empty classes field means the image shows none of the classes.
Blank lines are skipped; fields may be quoted the CSV way (``"a,b"``).

Labels file, JSON (``labels.json``)::

    {"cat_001": ["cat"], "street_07": ["car", "person"], "empty_lot": []}

Class list (``classes.txt``): one class name per line, in label order (pixel label ``c + 1`` is
line ``c + 1``'s class); blank lines are skipped. A class name may not contain ``;`` or
``,`` or start or end with a space.

Every error names the file and, where there is one, the line: ``labels.csv:4: unknown class
'dgo'``.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from wsss._validation import check_path
from wsss.data.images import CorruptFileError, check_stem

__all__ = ["LabelEntry", "read_class_list", "read_labels_file"]

PathLike = str | os.PathLike

#: File name endings dropped from a labels file's image names (compared case-insensitively).
IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class LabelEntry:
    """One image of a labels file.

    Attributes
    ----------
    name
        The image name (file stem).
    classes
        Its class names, in file order, without repeats; empty for an image without a class.
    line
        The line of the labels file it comes from (1-based), or 0 where it is not known.

    Examples
    --------
    >>> LabelEntry("cat_001", ("cat",), 2).classes
    ('cat',)
    """

    name: str
    classes: tuple[str, ...]
    line: int


def _where(path: Path, line: int) -> str:
    return f"{path}:{line}" if line else str(path)


def _check_class_name(name: str, where: str) -> str:
    if not name:
        raise ValueError(f"{where}: empty class name")
    if name != name.strip() or ";" in name or "," in name or not name.isprintable():
        raise ValueError(
            f"{where}: class name {name!r} may not contain ';' or ',', control characters, or "
            "start or end with a space"
        )
    return name


def _image_name(entry: str, where: str) -> str:
    for suffix in IMAGE_SUFFIXES:
        if entry.lower().endswith(suffix) and len(entry) > len(suffix):
            entry = entry[: -len(suffix)]
            break
    return check_stem(entry, where)


def read_class_list(path: PathLike) -> tuple[str, ...]:
    """Read a class list: one class name per line, in label order.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If a name is repeated or malformed, or the list is empty (the message names the file
        and line).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "classes.txt"
    >>> _ = p.write_text("cat\\ndog\\n\\nbird\\n")
    >>> read_class_list(p)
    ('cat', 'dog', 'bird')
    """
    path = check_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: class list not found")
    names: dict[str, int] = {}
    with open(path, encoding="utf-8-sig") as f:
        for line_number, line in enumerate(f, start=1):
            name = line.rstrip("\r\n").strip()
            if not name:
                continue
            _check_class_name(name, f"{path}:{line_number}")
            if name in names:
                raise ValueError(
                    f"{path}:{line_number}: class {name!r} is listed twice (first on line "
                    f"{names[name]})"
                )
            names[name] = line_number
    if not names:
        raise ValueError(f"{path}: the class list is empty")
    return tuple(names)


def _read_csv(path: Path) -> list[LabelEntry]:
    entries = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f)
        header = None
        try:
            for row in reader:
                line = reader.line_num
                if not row or all(not field.strip() for field in row):
                    continue
                if header is None:
                    header = [field.strip().lower() for field in row]
                    if header != ["name", "classes"]:
                        raise ValueError(
                            f"{path}:{line}: expected the header row 'name,classes', got "
                            f"{','.join(row)!r}"
                        )
                    continue
                if len(row) != 2:
                    raise ValueError(
                        f"{path}:{line}: expected 2 fields (name,classes), got {len(row)}: "
                        f"{row!r} (separate classes with ';', not ',')"
                    )
                where = f"{path}:{line}"
                name = _image_name(row[0].strip(), where)
                classes = []
                for piece in row[1].split(";"):
                    piece = piece.strip()
                    if piece and piece not in classes:
                        classes.append(_check_class_name(piece, where))
                entries.append(LabelEntry(name, tuple(classes), line))
        except csv.Error as exc:
            raise CorruptFileError(f"{path}:{reader.line_num}: not valid CSV ({exc})") from exc
    if header is None:
        raise ValueError(f"{path}: the labels file is empty (expected a header row 'name,classes')")
    return entries


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"(\s*:)?')


def _key_lines(text: str) -> list[int]:
    """The line of every object key in JSON ``text``, in order (one pass over the strings)."""
    lines = []
    line, position = 1, 0
    for match in _JSON_STRING.finditer(text):
        if match.group(1) is not None:
            line += text.count("\n", position, match.start())
            position = match.start()
            lines.append(line)
    return lines


def _read_json(path: Path) -> list[LabelEntry]:
    text = path.read_text(encoding="utf-8-sig")
    try:
        pairs = json.loads(text, object_pairs_hook=lambda items: items)
    except json.JSONDecodeError as exc:
        raise CorruptFileError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(pairs, list) or (pairs and not isinstance(pairs[0], tuple)):
        raise ValueError(
            f"{path}: expected an object {{name: [class, ...]}}, got a JSON {type(pairs).__name__}"
        )
    key_lines = _key_lines(text)
    if len(key_lines) != len(pairs):
        key_lines = [0] * len(pairs)  # nested objects: no reliable line numbers
    entries = []
    seen: dict[str, int] = {}
    for (key, value), line in zip(pairs, key_lines):
        where = _where(path, line)
        name = _image_name(key.strip(), where)
        if name in seen:
            raise ValueError(
                f"{where}: image {name!r} appears twice (first at {_where(path, seen[name])})"
            )
        seen[name] = line
        if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
            raise ValueError(
                f"{where}: the classes of {name!r} must be a list of strings, got {value!r}"
            )
        classes = []
        for piece in value:
            if piece not in classes:
                classes.append(_check_class_name(piece, where))
        entries.append(LabelEntry(name, tuple(classes), line))
    return entries


def read_labels_file(
    path: PathLike, class_names: Sequence[str] | None = None
) -> tuple[LabelEntry, ...]:
    """Read a labels file (``.csv`` or ``.json``, see the module docstring).

    Parameters
    ----------
    path
        The file; its suffix chooses the format.
    class_names
        The known classes, or ``None`` to accept any name.

    Returns
    -------
    tuple[LabelEntry, ...]
        One entry per image, in file order.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CorruptFileError
        If the file is not valid CSV or JSON (the message gives the line).
    ValueError
        If the header is wrong, a row has the wrong number of fields, an image name appears
        twice or is not a plain file name, a class is unknown (with ``class_names``), or the
        file names no image; the message names the file and line.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
    >>> _ = p.write_text("name,classes\\ncat_001.jpg,cat\\nstreet,car;person\\nlot,\\n")
    >>> [(e.name, e.classes, e.line) for e in read_labels_file(p)]
    [('cat_001', ('cat',), 2), ('street', ('car', 'person'), 3), ('lot', (), 4)]
    """
    path = check_path("path", path)
    if class_names is not None and (
        isinstance(class_names, str)
        or not isinstance(class_names, Sequence)
        or not all(isinstance(name, str) for name in class_names)
    ):
        raise TypeError("class_names: expected a sequence of str (or None)")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: labels file not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        entries = _read_csv(path)
    elif suffix == ".json":
        entries = _read_json(path)
    else:
        raise ValueError(f"{path}: a labels file must end in .csv or .json, got {suffix!r}")
    if not entries:
        raise ValueError(f"{path}: the labels file names no image")
    first_line: dict[str, int] = {}
    known = None if class_names is None else set(class_names)
    for entry in entries:
        where = _where(path, entry.line)
        if entry.name in first_line:
            raise ValueError(
                f"{where}: image {entry.name!r} appears twice (first at "
                f"{_where(path, first_line[entry.name])})"
            )
        first_line[entry.name] = entry.line
        if known is not None:
            for name in entry.classes:
                if name not in known:
                    raise ValueError(
                        f"{where}: unknown class {name!r} for image {entry.name!r}; the classes "
                        f"are {list(class_names)}"  # type: ignore[arg-type]
                    )
    return tuple(entries)
