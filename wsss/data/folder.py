"""Your own dataset: a folder of images with a labels file, any classes, any image sizes.

Layout read (only ``images/`` and one labels file are required)::

    <root>/
        images/<name>.jpg|.jpeg|.png   any size, any mode (converted to RGB)
        labels.csv  or  labels.json    image-level labels (see wsss.data.labelfile)
        classes.txt                    optional: the classes in label order, one per line
        masks/<name>.png               optional: pixel labels, palette or grey PNG,
                                       0 background, c + 1 class c, 255 ignore
        saliency/<name>.png            optional: 8-bit grey saliency maps
        splits/<split>.txt             optional: image lists, one name per line

Classes
    ``classes.txt`` fixes the classes and their order. Without it the classes are the sorted set
    of the class names the labels file uses. Entry ``c`` of ``Sample.classes`` and pixel label
    ``c + 1`` are ``class_names[c]``.

Images
    The dataset holds the images the labels file names (in its order), or those of a split list
    (in the list's order; each must be in the labels file). Image files that no labels file row
    names are not read. Images may differ in size; batching them needs a transform that crops
    to a fixed size or the padding collate :func:`wsss.data.loader.pad_collate`.

Images without a class
    A row with an empty classes field (CSV) or an empty list (JSON) is an image that shows none
    of the classes. It stays in the dataset with an all-zero ``classes`` vector; the pipeline
    leaves it out of classifier training and proxy-label making and lists it
    (:func:`wsss.data.subset.split_by_labels`), and uses it as an all-background image where
    pixel labels are used.

Masks and saliency
    ``mask_dir="auto"`` (default) uses ``<root>/masks`` when it holds a mask for every image of
    the dataset and reads no masks otherwise (so a folder with masks for the validation images
    only serves a training split without them); an explicit folder must cover every image.
    ``saliency_dir`` works the same way with ``<root>/saliency``.

Every error names the file, and the line where there is one: an unknown class or a repeated
image in the labels file, a missing image, a mask of the wrong size, a mask value outside the
classes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from wsss._validation import check_path
from wsss.data.images import check_label_values, check_stem, read_image, read_label, stem_path
from wsss.data.labelfile import LabelEntry, read_class_list, read_labels_file
from wsss.data.saliency import SaliencyFolder
from wsss.data.sample import Sample
from wsss.data.voc import read_image_list

__all__ = ["FolderDataset"]

PathLike = str | os.PathLike

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_LABEL_FILES = ("labels.csv", "labels.json")


def _list_images(folder: Path) -> dict[str, Path]:
    """``stem -> path`` of the images in ``folder``; two files with one stem are an error."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: image folder not found")
    found: dict[str, Path] = {}
    for entry in sorted(folder.iterdir()):
        if entry.suffix.lower() not in _IMAGE_SUFFIXES or not entry.is_file():
            continue
        if entry.stem in found:
            raise ValueError(
                f"{entry}: two images are named {entry.stem!r} ({found[entry.stem].name} and "
                f"{entry.name}); keep one"
            )
        found[entry.stem] = entry
    return found


def _stems(folder: Path, suffix: str) -> set[str]:
    return {p.name[: -len(suffix)] for p in folder.iterdir() if p.name.endswith(suffix)}


class FolderDataset:
    """A folder of images with image-level labels: a :class:`~wsss.data.SegmentationDataset`.

    Parameters
    ----------
    root
        The dataset folder (see the module docstring for the layout).
    labels
        The labels file (``.csv`` or ``.json``); default: ``<root>/labels.csv`` or
        ``<root>/labels.json``, whichever exists (both is an error).
    classes
        The classes in label order: a class list file, a sequence of names, or ``None`` for
        ``<root>/classes.txt`` if it exists and else the sorted class names of the labels file.
    split
        ``None`` for every image of the labels file; a name (``"train"``) for
        ``<root>/splits/<name>.txt``; or a :class:`pathlib.Path` to an image list.
    image_dir
        The image folder; default ``<root>/images``.
    mask_dir
        ``"auto"`` (default), ``None`` (no masks) or a folder of ``<name>.png`` pixel labels.
    saliency_dir
        ``"auto"`` (default), ``None`` or a folder of ``<name>.png`` saliency maps.

    Raises
    ------
    FileNotFoundError
        If the root, labels file, image folder, split list, or an image is missing (an image is
        reported with the labels file line that names it).
    ValueError
        If the labels file or class list is malformed, names an unknown class or an image twice,
        or an explicit mask or saliency folder lacks a file (the message names file and line).

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "images").mkdir()
    >>> Image.new("RGB", (6, 4)).save(root / "images" / "a.png")
    >>> Image.new("L", (3, 5)).save(root / "images" / "b.jpg")
    >>> _ = (root / "labels.csv").write_text("name,classes\\na,dog;cat\\nb,\\n")
    >>> data = FolderDataset(root)
    >>> data.class_names, data.names, len(data)
    (('cat', 'dog'), ('a', 'b'), 2)
    >>> data[0].classes.tolist(), data[1].classes.tolist(), data[1].image.shape
    ([1.0, 1.0], [0.0, 0.0], (5, 3, 3))
    """

    def __init__(
        self,
        root: PathLike,
        *,
        labels: PathLike | None = None,
        classes: PathLike | Sequence[str] | None = None,
        split: str | os.PathLike | None = None,
        image_dir: PathLike | None = None,
        mask_dir: PathLike | None = "auto",
        saliency_dir: PathLike | None = "auto",
    ) -> None:
        self._arguments: dict[str, object] = {
            "root": root,
            "labels": labels,
            "classes": classes
            if not isinstance(classes, Sequence) or isinstance(classes, str)
            else tuple(classes),
            "split": split,
            "image_dir": image_dir,
            "mask_dir": mask_dir,
            "saliency_dir": saliency_dir,
        }
        self.root = check_path("root", root)
        for name, value in (("labels", labels), ("split", split), ("image_dir", image_dir),
                            ("mask_dir", mask_dir), ("saliency_dir", saliency_dir)):
            if value is not None:
                check_path(name, value)
        if classes is not None and (isinstance(classes, (str, os.PathLike)) or not isinstance(
                classes, Sequence)):
            check_path("classes", classes)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: dataset folder not found")
        self.labels_path = self._find_labels(labels)
        self.class_names: tuple[str, ...]
        self.class_names, entries = self._load_classes(classes)
        self.num_classes: int = len(self.class_names)
        index = {name: c for c, name in enumerate(self.class_names)}
        self._table = {}
        lines = {}
        for entry in entries:
            vector = np.zeros(self.num_classes, dtype=np.float32)
            vector[[index[c] for c in entry.classes]] = 1.0
            self._table[entry.name] = vector
            lines[entry.name] = (
                f"{self.labels_path}:{entry.line}" if entry.line else str(self.labels_path)
            )
        self.split_path = self._find_split(split)
        if self.split_path is None:
            self._names: tuple[str, ...] = tuple(e.name for e in entries)
        else:
            self._names = self._split_names(self.split_path)
        self.image_dir = self.root / "images" if image_dir is None else Path(image_dir)
        images = _list_images(self.image_dir)
        for name in self._names:
            if name not in images:
                raise FileNotFoundError(
                    f"{lines[name]}: no image for {name!r} in {self.image_dir} (looked for "
                    f"{name}.jpg, .jpeg, .png)"
                )
        self._images = {name: images[name] for name in self._names}
        self.mask_dir = self._optional_folder(mask_dir, "masks", "mask")
        saliency_folder = self._optional_folder(saliency_dir, "saliency", "saliency map")
        self.saliency = None if saliency_folder is None else SaliencyFolder(saliency_folder)

    # -- construction ----------------------------------------------------------------------

    def _find_labels(self, labels: PathLike | None) -> Path:
        if labels is not None:
            path = Path(labels)
            if not path.is_file():
                raise FileNotFoundError(f"{path}: labels file not found")
            return path
        found = [self.root / f for f in _LABEL_FILES if (self.root / f).is_file()]
        if not found:
            raise FileNotFoundError(
                f"{self.root}: no labels file: expected {self.root / 'labels.csv'} or "
                f"{self.root / 'labels.json'} (or pass labels=...)"
            )
        if len(found) > 1:
            raise ValueError(
                f"{self.root}: both labels.csv and labels.json exist; pass labels=... to choose"
            )
        return found[0]

    def _load_classes(
        self, classes: PathLike | Sequence[str] | None
    ) -> tuple[tuple[str, ...], tuple[LabelEntry, ...]]:
        """The class names and the labels file's entries (checked against them)."""
        default = self.root / "classes.txt"
        if classes is None and not default.is_file():
            entries = read_labels_file(self.labels_path)
            used = {c for entry in entries for c in entry.classes}
            if not used:
                raise ValueError(
                    f"{self.labels_path}: no image has a class, so the classes cannot be "
                    f"derived; add {default} (one class per line)"
                )
            return tuple(sorted(used)), entries
        if classes is None or isinstance(classes, (str, os.PathLike)):
            names = read_class_list(default if classes is None else classes)
        else:
            names = tuple(classes)
            if not names or not all(isinstance(c, str) and c for c in names):
                raise ValueError(f"classes: expected non-empty class names, got {names!r}")
            if len(set(names)) != len(names):
                raise ValueError(f"classes: repeated class names in {names!r}")
        return names, read_labels_file(self.labels_path, names)

    def _find_split(self, split: str | os.PathLike | None) -> Path | None:
        if split is None:
            return None
        if isinstance(split, os.PathLike):
            path = Path(split)
        elif isinstance(split, str):
            path = self.root / "splits" / f"{check_stem(split, 'split')}.txt"
        else:
            raise TypeError(
                f"split: expected None, a split name or a pathlib.Path, got {type(split).__name__}"
            )
        if not path.is_file():
            raise FileNotFoundError(f"{path}: split list not found (split={split!r})")
        return path

    def _split_names(self, path: Path) -> tuple[str, ...]:
        names = read_image_list(path)
        seen: set[str] = set()
        with open(path, encoding="utf-8") as f:
            numbered = [(n, line.strip()) for n, line in enumerate(f, start=1) if line.strip()]
        for (line_number, _), name in zip(numbered, names):
            if name in seen:
                raise ValueError(f"{path}:{line_number}: image {name!r} is listed twice")
            seen.add(name)
            if name not in self._table:
                raise ValueError(
                    f"{path}:{line_number}: image {name!r} is not in the labels file "
                    f"{self.labels_path}"
                )
        return names

    def _optional_folder(self, folder: PathLike | None, default: str, kind: str) -> Path | None:
        if folder is None:
            return None
        auto = isinstance(folder, str) and folder == "auto"
        path = self.root / default if auto else Path(folder)
        if not path.is_dir():
            if auto:
                return None
            raise FileNotFoundError(f"{path}: {kind} folder not found")
        have = _stems(path, ".png")
        missing = [name for name in self._names if name not in have]
        if missing:
            if auto:
                return None
            raise FileNotFoundError(
                f"{path}: no {kind} for {len(missing)} of {len(self._names)} images, e.g. "
                f"{path / (missing[0] + '.png')}"
            )
        return path

    # -- protocol -------------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The image names, in dataset order."""
        return self._names

    def describe(self) -> dict[str, object]:
        """The constructor arguments (see :func:`wsss.data.protocol.describe_dataset`).

        Examples
        --------
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "images").mkdir()
        >>> Image.new("RGB", (2, 2)).save(root / "images" / "a.png")
        >>> _ = (root / "labels.json").write_text('{"a": ["cat"]}')
        >>> FolderDataset(root, split=None).describe()["mask_dir"]
        'auto'
        """
        return dict(self._arguments)

    def image_labels(self) -> np.ndarray:
        """Every image's ``classes`` vector, ``float32`` ``(N, C)``, read from the labels file.

        Examples
        --------
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "images").mkdir()
        >>> for name in "ab":
        ...     Image.new("RGB", (2, 2)).save(root / "images" / f"{name}.png")
        >>> _ = (root / "labels.json").write_text('{"a": ["cat"], "b": []}')
        >>> FolderDataset(root).image_labels().tolist()
        [[1.0], [0.0]]
        """
        table = np.zeros((len(self._names), self.num_classes), dtype=np.float32)
        for i, name in enumerate(self._names):
            table[i] = self._table[name]
        return table

    def __len__(self) -> int:
        return len(self._names)

    def __getitem__(self, index: int) -> Sample:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index: expected an int, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index: {index} is out of range for {len(self)} images")
        return self.load(self._names[index])

    def load(self, name: str) -> Sample:
        """Read the sample of image ``name`` (one of :attr:`names`).

        Examples
        --------
        >>> import tempfile
        >>> from PIL import Image
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "images").mkdir()
        >>> Image.new("RGB", (2, 2)).save(root / "images" / "a.png")
        >>> _ = (root / "labels.json").write_text('{"a": ["cat"]}')
        >>> FolderDataset(root).load("a").name
        'a'
        """
        if name not in self._images:
            raise KeyError(f"name: {name!r} is not an image of this dataset")
        image = read_image(self._images[name])
        label = None
        if self.mask_dir is not None:
            path = stem_path(self.mask_dir, name, ".png")
            label = read_label(path, validate=False)
            check_label_values(f"{path} (image {name!r})", label, self.num_classes)
            if label.shape != image.shape[:2]:
                raise ValueError(
                    f"{path}: mask is {label.shape[0]}x{label.shape[1]} (HxW) but the image "
                    f"{self._images[name]} is {image.shape[0]}x{image.shape[1]}"
                )
        saliency = None
        if self.saliency is not None:
            saliency = self.saliency.read(name, expected_size=image.shape[:2])
        return Sample(
            name=name,
            image=image,
            classes=self._table[name].copy(),
            label=label,
            saliency=saliency,
        )

    def __repr__(self) -> str:
        return (
            f"FolderDataset({str(self.root)!r}, images={len(self)}, classes={self.num_classes}, "
            f"masks={self.mask_dir is not None}, saliency={self.saliency is not None})"
        )
