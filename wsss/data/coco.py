"""MS COCO 2014 for weakly supervised segmentation: image labels, masks, 80 classes.

Layout read (the official archives, unpacked)::

    <root>/
        train2014/COCO_train2014_<id:012d>.jpg
        val2014/COCO_val2014_<id:012d>.jpg
        annotations/instances_train2014.json, instances_val2014.json
        <mask_dir>/<name>.png          optional: pre-rendered label PNGs

Class mapping
    The categories of ``instances_<split>.json`` get the labels ``1 ... K`` in the order the
    file lists them (``K = 80``; the official files list them by increasing id, so ``person``
    (id 1) is label 1 and ``toothbrush`` (id 90) label 80; the ids' gaps disappear).
    ``class_names`` are the categories' ``name`` fields in that order.

Image-level labels
    Read with the standard ``json`` module (no pycocotools): class ``c`` is present when the
    image has at least one annotation of it, crowd annotations included (a crowd of people
    shows people). An image without any annotation has no class (an all-zero vector; see
    :mod:`wsss.data.subset` for how the pipeline treats it).

Masks
    Rendered from the instance annotations with ``pycocotools`` (``pip install wsss[coco]``),
    polygons and RLE, compressed or not, or read from ``mask_dir`` (PNGs with the same
    labels, 0 background, 255 ignore), which many WSSS code bases ship. The rendering is:

    1. start from background (0);
    2. mark crowd regions (``iscrowd = 1``) 255, "ignore": a crowd annotation outlines a group
       of objects without separating them from the background between them, so its pixels
       are neither reliably the class nor reliably background;
    3. paint the other instances from the largest to the smallest (pixel count; equal counts
       in file order), so where two overlap **the smaller one wins**. An instance that
       overlaps a larger one is most often in front of it (a cup on a table, a person on a
       sofa), and this order keeps small objects from vanishing under large ones. Instances
       overwrite crowd pixels.

    The same image can be read again with a different policy only by rendering it yourself
    with :func:`render_coco_mask`.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wsss._validation import MAX_SIDE, check_int, check_path
from wsss.data.images import (
    IGNORE_INDEX,
    CorruptFileError,
    check_label_values,
    check_stem,
    read_image,
    read_label,
    stem_path,
)
from wsss.data.saliency import SaliencyFolder
from wsss.data.sample import Sample

__all__ = ["COCO_SPLITS", "COCOAnnotation", "COCOSegmentation", "decode_segmentation",
           "render_coco_mask"]  # fmt: skip

PathLike = str | os.PathLike

#: Splits understood by :class:`COCOSegmentation`.
COCO_SPLITS: tuple[str, ...] = ("train2014", "val2014")


def _pycocotools_mask() -> Any:
    try:
        from pycocotools import mask
    except ImportError as exc:  # pragma: no cover - exercised by the install without the extra
        raise ImportError(
            "rendering COCO masks from instance annotations needs pycocotools: "
            "pip install 'wsss[coco]' (or pass mask_dir= a folder of label PNGs, or "
            "masks=False for image-level labels only)"
        ) from exc
    return mask


@dataclass(frozen=True)
class COCOAnnotation:
    """One instance annotation, reduced to what a label mask needs.

    Attributes
    ----------
    id
        The annotation's ``id`` (for error messages).
    label
        Contiguous label ``1 ... K`` of its category.
    iscrowd
        ``True`` for a crowd region.
    segmentation
        The COCO ``segmentation`` field: a list of polygons ``[x1, y1, x2, y2, ...]`` or an RLE
        ``{"size": [h, w], "counts": [...] or "..."}``.

    Examples
    --------
    >>> COCOAnnotation(7, 1, False, [[0, 0, 2, 0, 2, 2]]).label
    1
    """

    id: int
    label: int
    iscrowd: bool
    segmentation: Any


def decode_segmentation(segmentation: Any, height: int, width: int) -> np.ndarray:
    """Rasterise a COCO ``segmentation`` field (needs ``pycocotools``).

    Polygon coordinates are in pixels with the image's top-left corner at ``(0, 0)``, so pixel
    ``(i, j)`` is the square ``[j, j + 1) x [i, i + 1)``: a polygon that runs along pixel
    edges covers exactly the pixels it encloses (other edges follow pycocotools' rasteriser).
    An RLE lists run lengths of 0s and 1s in column-major order, starting with 0s, as a list
    ("uncompressed") or in COCO's string code ("compressed").

    Returns
    -------
    numpy.ndarray
        ``bool`` of shape ``(height, width)``.

    Raises
    ------
    ImportError
        Without pycocotools (the message says how to install it).
    ValueError
        If the field is malformed or an RLE's size is not ``(height, width)``.

    Examples
    --------
    >>> import pytest; _ = pytest.importorskip("pycocotools")
    >>> decode_segmentation([[1, 0, 4, 0, 4, 1, 2, 1, 2, 3, 1, 3]], 3, 5).astype(int)  # an L
    array([[0, 1, 1, 1, 0],
           [0, 1, 0, 0, 0],
           [0, 1, 0, 0, 0]])
    >>> decode_segmentation({"size": [2, 3], "counts": [1, 3, 2]}, 2, 3).astype(int)
    array([[0, 1, 0],
           [1, 1, 0]])
    """
    height = check_int("height", height, minimum=1, maximum=MAX_SIDE)
    width = check_int("width", width, minimum=1, maximum=MAX_SIDE)
    mask_api = _pycocotools_mask()
    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if isinstance(p, list)]
        if len(polygons) != len(segmentation) or not polygons:
            raise ValueError("segmentation: expected a non-empty list of polygons")
        for polygon in polygons:
            if (
                len(polygon) < 6
                or len(polygon) % 2
                or not all(isinstance(v, (int, float)) and np.isfinite(v) for v in polygon)
            ):
                raise ValueError(
                    "segmentation: a polygon needs an even number (>= 6) of finite coordinates"
                )
        rle = mask_api.merge(mask_api.frPyObjects(polygons, height, width))
    elif isinstance(segmentation, dict) and {"size", "counts"} <= set(segmentation):
        size = segmentation["size"]
        if list(size) != [height, width]:
            raise ValueError(
                f"segmentation: RLE size {list(size)} differs from the image's [{height}, {width}]"
            )
        counts = segmentation["counts"]
        if isinstance(counts, list):
            if sum(counts) != height * width or any(c < 0 for c in counts):
                raise ValueError(
                    f"segmentation: RLE counts add up to {sum(counts)}, expected {height * width}"
                )
            rle = mask_api.frPyObjects(segmentation, height, width)
        elif isinstance(counts, (str, bytes)):
            rle = {"size": [height, width], "counts": counts}
        else:
            raise ValueError(f"segmentation: RLE counts must be a list or a string, got {counts!r}")
    else:
        raise ValueError(
            "segmentation: expected a list of polygons or an RLE dict with 'size' and 'counts'"
        )
    with warnings.catch_warnings():  # pycocotools' numpy 2 copy-keyword notice, not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        return np.asarray(mask_api.decode(rle), dtype=bool)


def render_coco_mask(annotations: Sequence[COCOAnnotation], height: int, width: int) -> np.ndarray:
    """Render an image's instance annotations into a label map (policy: module docstring).

    ``0`` background; crowd regions ``255``; then instances from largest to smallest, so the
    smaller of two overlapping instances wins.

    Returns
    -------
    numpy.ndarray
        ``uint8`` of shape ``(height, width)``.

    Raises
    ------
    ValueError
        If an annotation cannot be decoded (the message names its id).

    Examples
    --------
    >>> import pytest; _ = pytest.importorskip("pycocotools")
    >>> big = COCOAnnotation(1, 1, False, [[0, 0, 4, 0, 4, 2, 0, 2]])   # 4x2 box
    >>> small = COCOAnnotation(2, 2, False, [[1, 0, 2, 0, 2, 1, 1, 1]])  # one pixel
    >>> render_coco_mask([small, big], 2, 5)
    array([[1, 2, 1, 1, 0],
           [1, 1, 1, 1, 0]], dtype=uint8)
    """
    height = check_int("height", height, minimum=1, maximum=MAX_SIDE)
    width = check_int("width", width, minimum=1, maximum=MAX_SIDE)
    if isinstance(annotations, (str, bytes)) or not isinstance(annotations, Sequence) or not all(
        isinstance(a, COCOAnnotation) for a in annotations
    ):
        raise TypeError("annotations: expected a sequence of COCOAnnotation")
    label = np.zeros((height, width), dtype=np.uint8)
    instances = []
    for position, annotation in enumerate(annotations):
        try:
            region = decode_segmentation(annotation.segmentation, height, width)
        except ValueError as exc:
            raise ValueError(f"annotation {annotation.id}: {exc}") from exc
        if annotation.iscrowd:
            label[region] = IGNORE_INDEX
        else:
            instances.append((-int(region.sum()), position, annotation.label, region))
    for _, _, value, region in sorted(instances, key=lambda item: (item[0], item[1])):
        label[region] = value
    return label


def _field(record: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(record, dict) or key not in record:
        raise ValueError(f"{where}: missing field {key!r}")
    value = record[key]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{where}: field {key!r} has the wrong type ({type(value).__name__})")
    return value


class COCOSegmentation:
    """MS COCO 2014 as a :class:`~wsss.data.protocol.SegmentationDataset` (80 classes).

    Parameters
    ----------
    root
        The folder holding ``train2014/``, ``val2014/`` and ``annotations/``.
    split
        ``"train2014"`` or ``"val2014"``.
    annotations
        The instances file; default ``<root>/annotations/instances_<split>.json``.
    image_dir
        The image folder; default ``<root>/<split>``.
    masks
        Render pixel labels from the instances (needs pycocotools). ``False``: no pixel labels.
    mask_dir
        A folder of ``<name>.png`` label maps to read instead of rendering (labels ``1 ... K``
        in ``class_names`` order).
    saliency_dir
        A folder of ``<name>.png`` saliency maps, or ``None``.

    Notes
    -----
    Image names are the file stems (``COCO_val2014_000000000042``), in the order of the file's
    ``images`` list. The annotation file is read once, when the dataset is built; images and
    masks are read by ``__getitem__``, and each error names the image.

    Examples
    --------
    >>> import tempfile
    >>> from PIL import Image
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "annotations").mkdir(); (root / "val2014").mkdir()
    >>> Image.new("RGB", (4, 3)).save(root / "val2014" / "COCO_val2014_000000000042.jpg")
    >>> _ = (root / "annotations" / "instances_val2014.json").write_text(json.dumps({
    ...     "images": [{"id": 42, "file_name": "COCO_val2014_000000000042.jpg",
    ...                 "height": 3, "width": 4}],
    ...     "annotations": [{"id": 1, "image_id": 42, "category_id": 18, "iscrowd": 0,
    ...                      "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]}],
    ...     "categories": [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}]}))
    >>> data = COCOSegmentation(root, "val2014", masks=False)
    >>> data.class_names, data.names, data[0].classes.tolist()
    (('person', 'dog'), ('COCO_val2014_000000000042',), [0.0, 1.0])
    """

    def __init__(
        self,
        root: PathLike,
        split: str,
        *,
        annotations: PathLike | None = None,
        image_dir: PathLike | None = None,
        masks: bool = True,
        mask_dir: PathLike | None = None,
        saliency_dir: PathLike | None = None,
    ) -> None:
        self._arguments: dict[str, object] = {
            "root": root,
            "split": split,
            "annotations": annotations,
            "image_dir": image_dir,
            "masks": masks,
            "mask_dir": mask_dir,
            "saliency_dir": saliency_dir,
        }
        root = check_path("root", root)
        for name, value in (("annotations", annotations), ("image_dir", image_dir),
                            ("mask_dir", mask_dir), ("saliency_dir", saliency_dir)):
            if value is not None:
                check_path(name, value)
        if not isinstance(split, str) or split not in COCO_SPLITS:
            raise ValueError(f"split: expected one of {COCO_SPLITS}, got {split!r}")
        if not isinstance(masks, bool):
            raise TypeError(f"masks: expected a bool, got {type(masks).__name__}")
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"{self.root}: COCO folder not found")
        self.split = split
        self.annotations_path = (
            self.root / "annotations" / f"instances_{split}.json"
            if annotations is None
            else Path(annotations)
        )
        self.image_dir = self.root / split if image_dir is None else Path(image_dir)
        if not self.image_dir.is_dir():
            raise FileNotFoundError(f"{self.image_dir}: image folder not found")
        self.mask_dir = None if mask_dir is None else Path(mask_dir)
        if self.mask_dir is not None and not self.mask_dir.is_dir():
            raise FileNotFoundError(f"{self.mask_dir}: mask folder not found")
        self.render = masks and self.mask_dir is None
        if self.render:
            _pycocotools_mask()  # fail now, with the install hint, not in a worker later
        self.saliency = None if saliency_dir is None else SaliencyFolder(saliency_dir)
        self._load_annotations()

    def _load_annotations(self) -> None:
        path = self.annotations_path
        if not path.is_file():
            raise FileNotFoundError(f"{path}: COCO annotation file not found")
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
        except json.JSONDecodeError as exc:
            raise CorruptFileError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})") from exc
        for key in ("images", "annotations", "categories"):
            _field(data, key, list, str(path))
        labels: dict[int, int] = {}
        names: list[str] = []
        for k, category in enumerate(data["categories"]):
            where = f"{path}: categories[{k}]"
            category_id = _field(category, "id", int, where)
            name = _field(category, "name", str, where)
            if category_id in labels:
                raise ValueError(f"{where}: category id {category_id} appears twice")
            if not name or name in names:
                raise ValueError(f"{where}: category name {name!r} is empty or repeated")
            labels[category_id] = len(names) + 1
            names.append(name)
        if not names:
            raise ValueError(f"{path}: the file lists no category")
        if len(names) >= IGNORE_INDEX:
            raise ValueError(f"{path}: {len(names)} categories; at most 254 fit in a label PNG")
        self.class_names: tuple[str, ...] = tuple(names)
        self.num_classes: int = len(names)
        self.category_labels: dict[int, int] = labels
        records: dict[int, tuple[str, int, int]] = {}
        order: list[int] = []
        seen_names: set[str] = set()
        for k, image in enumerate(data["images"]):
            where = f"{path}: images[{k}]"
            image_id = _field(image, "id", int, where)
            file_name = _field(image, "file_name", str, where)
            height = _field(image, "height", int, where)
            width = _field(image, "width", int, where)
            name = Path(check_stem(file_name, f"{where} file_name")).stem
            if image_id in records or name in seen_names:
                raise ValueError(f"{where}: image id {image_id} or name {name!r} appears twice")
            if height < 1 or width < 1:
                raise ValueError(f"{where}: image size {height}x{width} is empty")
            records[image_id] = (file_name, height, width)
            seen_names.add(name)
            order.append(image_id)
        per_image: dict[int, list[COCOAnnotation]] = {i: [] for i in order}
        for k, annotation in enumerate(data["annotations"]):
            where = f"{path}: annotations[{k}]"
            annotation_id = _field(annotation, "id", int, where)
            where = f"{path}: annotation id {annotation_id}"
            image_id = _field(annotation, "image_id", int, where)
            category_id = _field(annotation, "category_id", int, where)
            if image_id not in per_image:
                raise ValueError(f"{where}: image_id {image_id} is not in 'images'")
            if category_id not in labels:
                raise ValueError(f"{where}: category_id {category_id} is not in 'categories'")
            iscrowd = annotation.get("iscrowd", 0)
            if iscrowd not in (0, 1):
                raise ValueError(f"{where}: iscrowd must be 0 or 1, got {iscrowd!r}")
            per_image[image_id].append(
                COCOAnnotation(
                    annotation_id,
                    labels[category_id],
                    bool(iscrowd),
                    annotation.get("segmentation"),
                )
            )
        self._ids = tuple(order)
        self._records = records
        self._annotations = per_image
        self._names = tuple(Path(records[i][0]).stem for i in order)

    # -- protocol -------------------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The image names (file stems), in the file's ``images`` order."""
        return self._names

    def describe(self) -> dict[str, object]:
        """The constructor arguments (see :func:`wsss.data.protocol.describe_dataset`).

        Examples
        --------
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "annotations").mkdir(); (root / "train2014").mkdir()
        >>> _ = (root / "annotations" / "instances_train2014.json").write_text(
        ...     '{"images": [], "annotations": [], "categories": [{"id": 1, "name": "person"}]}')
        >>> COCOSegmentation(root, "train2014", masks=False).describe()["split"]
        'train2014'
        """
        return dict(self._arguments)

    def image_labels(self) -> np.ndarray:
        """Every image's ``classes`` vector, ``float32`` ``(N, K)``, from the annotations.

        Examples
        --------
        >>> import tempfile
        >>> root = Path(tempfile.mkdtemp())
        >>> (root / "annotations").mkdir(); (root / "val2014").mkdir()
        >>> _ = (root / "annotations" / "instances_val2014.json").write_text(json.dumps({
        ...     "images": [{"id": 1, "file_name": "a.jpg", "height": 2, "width": 2}],
        ...     "annotations": [], "categories": [{"id": 5, "name": "airplane"}]}))
        >>> COCOSegmentation(root, "val2014", masks=False).image_labels().tolist()
        [[0.0]]
        """
        table = np.zeros((len(self._ids), self.num_classes), dtype=np.float32)
        for i, image_id in enumerate(self._ids):
            for annotation in self._annotations[image_id]:
                table[i, annotation.label - 1] = 1.0
        return table

    def __len__(self) -> int:
        return len(self._ids)

    def __getitem__(self, index: int) -> Sample:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index: expected an int, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index: {index} is out of range for {len(self)} images")
        return self._load(int(index) % len(self))

    def _load(self, position: int) -> Sample:
        image_id = self._ids[position]
        name = self._names[position]
        file_name, height, width = self._records[image_id]
        image_path = self.image_dir / file_name
        image = read_image(image_path)
        if image.shape[:2] != (height, width):
            raise ValueError(
                f"{image_path}: image is {image.shape[0]}x{image.shape[1]} (HxW) but "
                f"{self.annotations_path} says {height}x{width}"
            )
        annotations = self._annotations[image_id]
        classes = np.zeros(self.num_classes, dtype=np.float32)
        for annotation in annotations:
            classes[annotation.label - 1] = 1.0
        label = None
        if self.mask_dir is not None:
            mask_path = stem_path(self.mask_dir, name, ".png")
            label = read_label(mask_path, validate=False)
            check_label_values(f"{mask_path} (image {name!r})", label, self.num_classes)
            if label.shape != (height, width):
                raise ValueError(
                    f"{mask_path}: mask is {label.shape[0]}x{label.shape[1]} (HxW) but the "
                    f"image {image_path} is {height}x{width}"
                )
        elif self.render:
            try:
                label = render_coco_mask(annotations, height, width)
            except ValueError as exc:
                raise ValueError(f"{self.annotations_path}: image {name!r}: {exc}") from exc
        saliency = None
        if self.saliency is not None:
            saliency = self.saliency.read(name, expected_size=(height, width))
        return Sample(name=name, image=image, classes=classes, label=label, saliency=saliency)

    def __repr__(self) -> str:
        source = "rendered" if self.render else (str(self.mask_dir) if self.mask_dir else "none")
        return (
            f"COCOSegmentation(split={self.split!r}, images={len(self)}, "
            f"classes={self.num_classes}, masks={source!r})"
        )
