"""PASCAL VOC 2012 with the SBD masks: image lists, pixel labels and image-level labels.

Layout read (the official archives, unpacked)::

    <root>/VOCdevkit/VOC2012/            (``root`` may also be this folder itself)
        JPEGImages/<name>.jpg
        SegmentationClass/<name>.png     palette PNGs, 1,464 train + 1,449 val
        SegmentationClassAug/<name>.png  optional: the field's 10,582 merged masks
        Annotations/<name>.xml
        ImageSets/Segmentation/{train,val,trainval}.txt
        ImageSets/Segmentation/train_aug.txt   optional: the field's train_aug list
    <sbd_root>/dataset/                  (``sbd_root`` may also be this folder itself)
        cls/<name>.mat                   MATLAB struct GTcls with field Segmentation
        train.txt, val.txt

Splits: ``"train"``, ``"val"``, ``"trainval"`` are the VOC segmentation lists; ``"train_aug"`` is
the usual augmented training set

    train_aug = (VOC train | SBD train | SBD val) - VOC val

(10,582 images on the real data), sorted and without duplicates. Where SBD is not at hand, the
field's ``train_aug.txt`` list and ``SegmentationClassAug`` masks serve instead (``image_list=``
and ``label_source="aug"``). Every list entry must be a plain
file stem: a line holding a path (``/``, ``..``, an absolute path) is refused with the list file
and line number, so no entry can read outside the data root.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import scipy.io

from wsss._validation import check_choice, check_path
from wsss.data.images import (
    CorruptFileError,
    check_label_values,
    check_stem,
    read_image,
    read_label,
    stem_path,
)
from wsss.data.labels import labels_from_mask, labels_from_xml, load_cls_labels
from wsss.data.saliency import SaliencyFolder
from wsss.data.sample import NUM_CLASSES, VOC_CLASSES, Sample

__all__ = [
    "SPLITS",
    "VOCSegmentation",
    "read_image_list",
]

PathLike = str | os.PathLike

#: Split names understood by :class:`VOCSegmentation`.
SPLITS: tuple[str, ...] = ("train", "val", "trainval", "train_aug")
#: Keywords for ``label_source`` (a :class:`pathlib.Path` to a folder of PNGs is also accepted).
LABEL_SOURCES: tuple[str, ...] = ("auto", "voc", "aug", "sbd", "none")
#: Keywords for ``class_source`` (a ``cls_labels.npy`` path or a dict is also accepted).
CLASS_SOURCES: tuple[str, ...] = ("xml", "mask")


def find_voc_root(root: PathLike) -> Path:
    """Return the ``VOC2012`` folder from ``root`` (its parent of ``VOCdevkit``, or itself).

    Raises
    ------
    FileNotFoundError
        If neither ``root/VOCdevkit/VOC2012`` nor ``root`` holds ``JPEGImages`` and
        ``ImageSets`` (the message names the path).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for folder in ("JPEGImages", "ImageSets"):
    ...     (root / "VOCdevkit" / "VOC2012" / folder).mkdir(parents=True)
    >>> find_voc_root(root) == find_voc_root(root / "VOCdevkit" / "VOC2012")
    True
    """
    root = check_path("root", root)
    for candidate in (root / "VOCdevkit" / "VOC2012", root):
        if (candidate / "JPEGImages").is_dir() and (candidate / "ImageSets").is_dir():
            return candidate
    raise FileNotFoundError(
        f"{root}: no PASCAL VOC 2012 found: expected {root / 'VOCdevkit' / 'VOC2012'} or {root} "
        "to hold JPEGImages/ and ImageSets/"
    )


def find_sbd_root(sbd_root: PathLike) -> Path:
    """Return SBD's ``dataset`` folder from ``sbd_root`` (its parent, or itself).

    Raises
    ------
    FileNotFoundError
        If neither ``sbd_root/dataset`` nor ``sbd_root`` holds ``cls/`` (the message names the
        path).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> sbd = pathlib.Path(tempfile.mkdtemp())
    >>> (sbd / "dataset" / "cls").mkdir(parents=True)
    >>> find_sbd_root(sbd).name
    'dataset'
    """
    sbd_root = check_path("sbd_root", sbd_root)
    for candidate in (sbd_root / "dataset", sbd_root):
        if (candidate / "cls").is_dir():
            return candidate
    raise FileNotFoundError(
        f"{sbd_root}: no SBD found: expected {sbd_root / 'dataset'} or {sbd_root} to hold cls/"
    )


def read_image_list(path: PathLike) -> tuple[str, ...]:
    """Read an image list: one file stem per line, blank lines skipped.

    Raises
    ------
    FileNotFoundError
        If the list does not exist.
    ValueError
        If a line is not a plain file stem (a path, ``..``, several words); the message gives
        the list file and line number.
    CorruptFileError
        If a line is not UTF-8 text (a :class:`ValueError`; the message gives file and line).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "train.txt"
    >>> _ = p.write_text("2007_000032\\n\\n2007_000039\\n")
    >>> read_image_list(p)
    ('2007_000032', '2007_000039')
    """
    path = check_path("path", path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: image list not found")
    names = []
    for line_number, raw in enumerate(path.read_bytes().splitlines(), start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CorruptFileError(
                f"{path}:{line_number}: not UTF-8 text ({exc.reason} at byte {exc.start}); "
                "an image list holds one file stem per line"
            ) from None
        entry = line.strip()
        if entry:
            names.append(check_stem(entry, f"{path}:{line_number}"))
    return tuple(names)


def voc_split_names(
    voc_root: PathLike, split: str, sbd_root: PathLike | None = None
) -> tuple[str, ...]:
    """The image names of a split.

    ``"train"``, ``"val"``, ``"trainval"``: ``ImageSets/Segmentation/<split>.txt`` in file order.
    ``"train_aug"``: ``sorted((VOC train | SBD train | SBD val) - VOC val)``; needs ``sbd_root``.

    Parameters
    ----------
    voc_root
        The ``VOC2012`` folder (see :func:`find_voc_root`).
    split
        One of :data:`SPLITS`.
    sbd_root
        SBD's ``dataset`` folder (see :func:`find_sbd_root`), for ``"train_aug"``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> voc, sbd = pathlib.Path(tempfile.mkdtemp()), pathlib.Path(tempfile.mkdtemp())
    >>> (voc / "ImageSets" / "Segmentation").mkdir(parents=True)
    >>> _ = (voc / "ImageSets" / "Segmentation" / "train.txt").write_text("b\\na\\n")
    >>> _ = (voc / "ImageSets" / "Segmentation" / "val.txt").write_text("c\\n")
    >>> _ = (sbd / "train.txt").write_text("a\\nc\\nd\\n")
    >>> _ = (sbd / "val.txt").write_text("e\\n")
    >>> voc_split_names(voc, "train"), voc_split_names(voc, "train_aug", sbd)
    (('b', 'a'), ('a', 'b', 'd', 'e'))
    """
    if split not in SPLITS:
        raise ValueError(f"split: expected one of {SPLITS}, got {split!r}")
    lists = Path(voc_root) / "ImageSets" / "Segmentation"
    if split != "train_aug":
        return read_image_list(lists / f"{split}.txt")
    if sbd_root is None:
        raise ValueError("sbd_root: the 'train_aug' split needs the SBD folder (sbd_root=...)")
    sbd_root = Path(sbd_root)
    merged = set(read_image_list(lists / "train.txt"))
    merged |= set(read_image_list(sbd_root / "train.txt"))
    merged |= set(read_image_list(sbd_root / "val.txt"))
    merged -= set(read_image_list(lists / "val.txt"))
    return tuple(sorted(merged))


def read_sbd_mask(
    path: PathLike, *, validate: bool = True, num_classes: int = NUM_CLASSES
) -> np.ndarray:
    """Read an SBD class mask (``dataset/cls/<name>.mat``, struct ``GTcls.Segmentation``).

    Parameters
    ----------
    path
        The ``.mat`` file.
    validate
        Check that values lie in ``{0, ..., num_classes, 255}``.
    num_classes
        Number of foreground classes.

    Returns
    -------
    numpy.ndarray
        ``uint8`` of shape ``(H, W)``: 0 background, ``c + 1`` class ``c`` (SBD has no 255).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CorruptFileError
        If the file is not a MATLAB file or lacks ``GTcls.Segmentation``.
    ValueError
        If a value is not a label (with ``validate``).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "2008_000002.mat"
    >>> seg = np.array([[0, 15], [15, 0]], dtype=np.uint8)
    >>> scipy.io.savemat(p, {"GTcls": {"Segmentation": seg}})
    >>> read_sbd_mask(p).tolist()
    [[0, 15], [15, 0]]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: SBD mask file not found")
    try:
        contents = scipy.io.loadmat(path, variable_names=["GTcls"])
    except Exception as exc:  # scipy raises many types (MatReadError, ValueError, ...)
        raise CorruptFileError(f"{path}: not a readable MATLAB file ({exc})") from exc
    gtcls = contents.get("GTcls")
    if gtcls is None or gtcls.dtype.names is None or "Segmentation" not in gtcls.dtype.names:
        raise CorruptFileError(f"{path}: expected a struct GTcls with a field Segmentation")
    segmentation = np.asarray(gtcls["Segmentation"].flat[0])
    if segmentation.ndim != 2 or segmentation.dtype.kind not in "iuf":
        raise CorruptFileError(
            f"{path}: GTcls.Segmentation must be a 2-D numeric array, got "
            f"{segmentation.dtype} {segmentation.shape}"
        )
    if segmentation.size and (
        segmentation.min() < 0
        or segmentation.max() > 255
        or not np.array_equal(segmentation, np.round(segmentation))
    ):
        raise ValueError(f"{path}: GTcls.Segmentation holds values that are not labels in [0, 255]")
    label = segmentation.astype(np.uint8)
    if validate:
        check_label_values(str(path), label, num_classes)
    return label


class VOCSegmentation:
    """PASCAL VOC 2012 (+ SBD) as a sequence of :class:`~wsss.data.sample.Sample`.

    Parameters
    ----------
    root
        The folder holding ``VOCdevkit/VOC2012``, or the ``VOC2012`` folder itself.
    split
        ``"train"``, ``"val"``, ``"trainval"`` or ``"train_aug"`` (needs ``sbd_root``).
    sbd_root
        SBD's ``benchmark_RELEASE`` folder (holding ``dataset/``) or its ``dataset`` folder.
    label_source
        Where pixel labels come from:

        - ``"auto"`` (default): ``SegmentationClass/<name>.png`` when it exists, else SBD's
          ``cls/<name>.mat``; an image with neither is an error naming both paths;
        - ``"voc"``: ``SegmentationClass`` only; ``"aug"``: ``SegmentationClassAug`` only;
          ``"sbd"``: SBD's ``.mat`` files only;
        - ``"none"``: no pixel labels (``Sample.label`` is ``None``);
        - a :class:`pathlib.Path` (or other ``os.PathLike``): a folder of ``<name>.png`` label
          PNGs, e.g. proxy labels made by the pipeline.
    class_source
        Where image-level labels come from:

        - ``"xml"`` (default): the ``<object><name>`` tags of ``Annotations/<name>.xml``. This is
          the weak annotation itself, exists for every VOC 2012 image and needs no mask;
        - ``"mask"``: the classes present in the pixel labels (needs a ``label_source``);
        - the field's ``cls_labels.npy`` (a path, read with :func:`load_cls_labels`) or a dict
          ``name -> (20,) vector``; every image of the split must have an entry.
    saliency_dir
        A folder of ``<name>.png`` saliency maps (:class:`~wsss.data.saliency.SaliencyFolder`), or
        ``None``.
    image_list
        An image list file (one name per line, e.g. the field's ``train_aug.txt``) that replaces
        the split's lists; ``split`` then only names the set. ``None`` reads the split's lists.

    Notes
    -----
    Only the lists (and a ``cls_labels`` file) are read when the dataset is built; images and
    masks are read by ``__getitem__``, and each failure names its file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from wsss.data.images import write_label
    >>> voc = pathlib.Path(tempfile.mkdtemp()) / "VOCdevkit" / "VOC2012"
    >>> for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
    ...     (voc / folder).mkdir(parents=True)
    >>> Image.new("RGB", (5, 4)).save(voc / "JPEGImages" / "2007_000032.jpg")
    >>> write_label(voc / "SegmentationClass" / "2007_000032.png", np.full((4, 5), 15, np.uint8))
    >>> _ = (voc / "ImageSets" / "Segmentation" / "train.txt").write_text("2007_000032\\n")
    >>> data = VOCSegmentation(voc.parent.parent, "train", class_source="mask")
    >>> sample = data[0]
    >>> len(data), sample.image.shape, np.flatnonzero(sample.classes).tolist()
    (1, (4, 5, 3), [14])
    """

    num_classes: int = NUM_CLASSES
    class_names: tuple[str, ...] = VOC_CLASSES

    def __init__(
        self,
        root: PathLike,
        split: str,
        *,
        sbd_root: PathLike | None = None,
        label_source: str | os.PathLike = "auto",
        class_source: str | os.PathLike | Mapping[str, np.ndarray] = "xml",
        saliency_dir: PathLike | None = None,
        image_list: PathLike | None = None,
    ) -> None:
        check_choice("split", split, SPLITS)
        if not isinstance(label_source, (str, os.PathLike)):
            raise TypeError(f"label_source: expected one of {LABEL_SOURCES} or a folder, got "
                            f"{type(label_source).__name__}")
        if not isinstance(class_source, (str, os.PathLike, Mapping)):
            raise TypeError(f"class_source: expected one of {CLASS_SOURCES}, a path to "
                            f"cls_labels.npy or a dict, got {type(class_source).__name__}")
        if saliency_dir is not None:
            check_path("saliency_dir", saliency_dir)
        if image_list is not None:
            check_path("image_list", image_list)
        self._arguments: dict[str, object] = {
            "root": root,
            "split": split,
            "sbd_root": sbd_root,
            "label_source": label_source,
            "class_source": (
                f"<{len(class_source)} image-level label vectors>"
                if isinstance(class_source, Mapping)
                else class_source
            ),
            "saliency_dir": saliency_dir,
            "image_list": image_list,
        }
        self.voc_root = find_voc_root(root)
        self.sbd_root = None if sbd_root is None else find_sbd_root(sbd_root)
        self.split = split
        self.label_source = self._check_label_source(label_source)
        self._label_dir = None if isinstance(self.label_source, str) else Path(self.label_source)
        if image_list is None:
            self._names = voc_split_names(self.voc_root, split, self.sbd_root)
        else:
            self._names = read_image_list(image_list)
        self.class_source, self._cls_labels = self._check_class_source(class_source)
        self.saliency = None if saliency_dir is None else SaliencyFolder(saliency_dir)

    # -- construction checks -------------------------------------------------------------------

    def _check_label_source(self, label_source: str | os.PathLike) -> str | Path:
        if isinstance(label_source, os.PathLike):
            folder = Path(label_source)
            if not folder.is_dir():
                raise FileNotFoundError(f"{folder}: label folder not found")
            return folder
        if label_source not in LABEL_SOURCES:
            raise ValueError(
                f"label_source: expected one of {LABEL_SOURCES} or a pathlib.Path to a folder of "
                f"label PNGs, got {label_source!r}"
            )
        if label_source == "sbd" and self.sbd_root is None:
            raise ValueError("label_source: 'sbd' needs sbd_root")
        folders = {"voc": "SegmentationClass", "aug": "SegmentationClassAug"}
        if label_source in folders and not (self.voc_root / folders[label_source]).is_dir():
            raise FileNotFoundError(
                f"{self.voc_root / folders[label_source]}: label folder not found "
                f"(label_source={label_source!r})"
            )
        return label_source

    def _check_class_source(
        self, class_source: str | os.PathLike | Mapping[str, np.ndarray]
    ) -> tuple[str, dict[str, np.ndarray] | None]:
        """Return the kind of class source and, for ``cls_labels``, the table."""
        if isinstance(class_source, str) and class_source in CLASS_SOURCES:
            if class_source == "mask" and self.label_source == "none":
                raise ValueError("class_source: 'mask' needs pixel labels, but label_source='none'")
            if class_source == "xml" and not (self.voc_root / "Annotations").is_dir():
                raise FileNotFoundError(f"{self.voc_root / 'Annotations'}: folder not found")
            return class_source, None
        if isinstance(class_source, os.PathLike):
            table = load_cls_labels(class_source, self.num_classes)
            origin = str(class_source)
        elif isinstance(class_source, Mapping):
            table = {}
            for name, vector in class_source.items():
                vector = np.asarray(vector, dtype=np.float32)
                if vector.shape != (self.num_classes,):
                    raise ValueError(
                        f"class_source: labels of {name!r} have shape {vector.shape}, "
                        f"expected ({self.num_classes},)"
                    )
                table[name] = vector
            origin = "class_source"
        else:
            raise ValueError(
                f"class_source: expected one of {CLASS_SOURCES}, a pathlib.Path to cls_labels.npy "
                f"or a dict, got {class_source!r}"
            )
        missing = [name for name in self._names if name not in table]
        if missing:
            raise ValueError(
                f"{origin}: no image-level labels for {len(missing)} image(s) of split "
                f"{self.split!r}, e.g. {missing[:5]}"
            )
        return "cls_labels", table

    def describe(self) -> dict[str, object]:
        """The constructor arguments (see :func:`wsss.data.protocol.describe_dataset`).

        A ``class_source`` dict is recorded by its size, not its contents.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> voc = pathlib.Path(tempfile.mkdtemp())
        >>> for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        ...     (voc / folder).mkdir(parents=True)
        >>> _ = (voc / "ImageSets" / "Segmentation" / "val.txt").write_text("a\\n")
        >>> VOCSegmentation(voc, "val", class_source="mask").describe()["split"]
        'val'
        """
        return dict(self._arguments)

    # -- paths ---------------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The image names of the split, in order."""
        return self._names

    def image_path(self, name: str) -> Path:
        """``JPEGImages/<name>.jpg``."""
        return stem_path(self.voc_root / "JPEGImages", name, ".jpg")

    def label_path(self, name: str) -> Path | None:
        """The file that holds the pixel labels of ``name`` (``None`` for ``label_source='none'``).

        Raises
        ------
        FileNotFoundError
            With ``label_source='auto'``, if neither the VOC PNG nor the SBD ``.mat`` exists.
        """
        if self._label_dir is not None:
            return stem_path(self._label_dir, name, ".png")
        source = self.label_source
        voc_png = stem_path(self.voc_root / "SegmentationClass", name, ".png")
        if source == "none":
            return None
        if source == "voc":
            return voc_png
        if source == "aug":
            return stem_path(self.voc_root / "SegmentationClassAug", name, ".png")
        sbd_mat = None if self.sbd_root is None else stem_path(self.sbd_root / "cls", name, ".mat")
        if source == "sbd":
            return sbd_mat
        if voc_png.is_file():
            return voc_png
        if sbd_mat is not None and sbd_mat.is_file():
            return sbd_mat
        tried = [str(voc_png)] + ([str(sbd_mat)] if sbd_mat is not None else [])
        raise FileNotFoundError(f"{name}: no pixel labels found; tried {tried}")

    # -- reading -------------------------------------------------------------------------------

    def read_label(self, name: str) -> np.ndarray | None:
        """The pixel labels of ``name``, ``uint8`` ``(H, W)``, or ``None`` without a source."""
        path = self.label_path(name)
        if path is None:
            return None
        if path.suffix == ".mat":
            return read_sbd_mask(path, num_classes=self.num_classes)
        return read_label(path, num_classes=self.num_classes)

    def read_classes(self, name: str, label: np.ndarray | None) -> np.ndarray:
        """The image-level labels of ``name``, ``float32`` ``(C,)``."""
        if self._cls_labels is not None:
            if name not in self._cls_labels:
                raise KeyError(f"{name}: no image-level labels in the cls_labels table")
            return self._cls_labels[name].copy()
        if self.class_source == "mask":
            assert label is not None  # guaranteed by the constructor's checks
            return labels_from_mask(label, self.num_classes)
        xml = stem_path(self.voc_root / "Annotations", name, ".xml")
        return labels_from_xml(xml, self.class_names)

    def load(self, name: str) -> Sample:
        """Read the sample of image ``name`` (which need not belong to the split)."""
        check_stem(name, "name")
        image_path = self.image_path(name)
        image = read_image(image_path)
        label = self.read_label(name)
        if label is not None and label.shape != image.shape[:2]:
            raise ValueError(
                f"{self.label_path(name)}: label is {label.shape[0]}x{label.shape[1]} (HxW) but "
                f"the image {image_path} is {image.shape[0]}x{image.shape[1]}"
            )
        classes = self.read_classes(name, label)
        saliency = None
        if self.saliency is not None:
            saliency = self.saliency.read(name, expected_size=image.shape[:2])
        return Sample(name=name, image=image, classes=classes, label=label, saliency=saliency)

    def __getitem__(self, index: int) -> Sample:
        if not isinstance(index, (int, np.integer)) or isinstance(index, bool):
            raise TypeError(f"index: expected an int, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index: {index} is out of range for {len(self)} images")
        return self.load(self._names[index])

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return (
            f"VOCSegmentation(split={self.split!r}, images={len(self)}, "
            f"label_source={str(self.label_source)!r}, class_source={self.class_source!r})"
        )
