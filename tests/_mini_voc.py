"""A miniature PASCAL VOC 2012 + SBD tree for the data tests (built by the ``mini_voc`` fixture).

Seven images of odd sizes. Lists and expected set algebra::

    VOC seg train: 2007_000032, 2008_000003
    VOC seg val:   2007_000039, 2010_000005, 2011_000010
    SBD train:     2008_000002, 2008_000003, 2011_000010
    SBD val:       2009_000001, 2010_000005
    train_aug = (VOC train | SBD train | SBD val) - VOC val
              = 2007_000032, 2008_000002, 2008_000003, 2009_000001

``2008_000003`` has both a VOC PNG (bicycle) and an SBD mask (car), so label priority is visible.
The XML of ``2007_000032`` names a difficult chair that its mask lacks, and a person with a
``<part><name>hand</name></part>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import scipy.sparse
from PIL import Image

from wsss.data.images import write_label
from wsss.data.sample import VOC_CLASSES

VOC_TRAIN = ("2007_000032", "2008_000003")
VOC_VAL = ("2007_000039", "2010_000005", "2011_000010")
SBD_TRAIN = ("2008_000002", "2008_000003", "2011_000010")
SBD_VAL = ("2009_000001", "2010_000005")
TRAIN_AUG = ("2007_000032", "2008_000002", "2008_000003", "2009_000001")

#: name -> (height, width)
SIZES = {
    "2007_000032": (37, 53),
    "2007_000039": (41, 29),
    "2008_000002": (30, 45),
    "2008_000003": (33, 34),
    "2009_000001": (29, 31),
    "2010_000005": (35, 27),
    "2011_000010": (27, 39),
}
#: name -> classes (1-based labels) drawn in the VOC PNG
VOC_MASK_CLASSES = {
    "2007_000032": (1, 15),
    "2008_000003": (2,),
    "2007_000039": (20,),
    "2010_000005": (3,),
    "2011_000010": (4,),
}
#: name -> classes drawn in the SBD .mat
SBD_MASK_CLASSES = {
    "2008_000002": (12,),
    "2008_000003": (7,),
    "2011_000010": (4,),
    "2009_000001": (8, 15),
    "2010_000005": (3,),
}
#: name -> extra XML objects (difficult ones missing from the masks)
XML_EXTRA = {"2007_000032": ("chair",)}


@dataclass(frozen=True)
class MiniVOC:
    """Paths of the miniature tree and the ground truth written into it."""

    root: Path  # holds VOCdevkit/VOC2012
    voc: Path  # the VOC2012 folder
    sbd: Path  # benchmark_RELEASE (holds dataset/)
    images: dict[str, np.ndarray]  # as decoded from the JPEGs
    voc_labels: dict[str, np.ndarray]
    sbd_labels: dict[str, np.ndarray]
    xml_classes: dict[str, tuple[str, ...]]


def smooth_image(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth colourful uint8 image (JPEG keeps it close)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = [
        127 + 100 * np.sin(x / (3 + c) + rng.uniform(0, 6)) * np.cos(y / (4 + c)) for c in range(3)
    ]
    return np.clip(np.stack(channels, axis=-1), 0, 255).astype(np.uint8)


def block_label(
    height: int, width: int, classes: tuple[int, ...], ignore_border: bool
) -> np.ndarray:
    """Background with one rectangle per class (side by side), optionally ringed with 255."""
    label = np.zeros((height, width), dtype=np.uint8)
    step = width // (len(classes) + 1)
    for k, cls in enumerate(classes):
        top, bottom = height // 4, 3 * height // 4
        left, right = step * k + 2, step * (k + 1) + 1
        if ignore_border:
            label[top - 1 : bottom + 1, left - 1 : right + 1] = 255
        label[top:bottom, left:right] = cls
    return label


def write_sbd_mat(path: Path, segmentation: np.ndarray) -> None:
    """Write a ``GTcls`` struct as SBD does (Segmentation, Boundaries, CategoriesPresent)."""
    boundaries = np.empty((len(VOC_CLASSES), 1), dtype=object)
    for c in range(len(VOC_CLASSES)):
        boundaries[c, 0] = scipy.sparse.csc_matrix(segmentation.shape, dtype=bool)
    present = np.unique(segmentation)
    gtcls = {
        "Segmentation": segmentation,
        "Boundaries": boundaries,
        "CategoriesPresent": present[present > 0].astype(np.uint8).reshape(-1, 1),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"GTcls": gtcls})


def write_xml(path: Path, name: str, objects: tuple[str, ...], difficult: tuple[str, ...]) -> None:
    parts = [f"<annotation><folder>VOC2012</folder><filename>{name}.jpg</filename>"]
    for obj in objects:
        part = "<part><name>hand</name></part>" if obj == "person" else ""
        parts.append(f"<object><name>{obj}</name><difficult>0</difficult>{part}</object>")
    for obj in difficult:
        parts.append(f"<object><name>{obj}</name><difficult>1</difficult></object>")
    parts.append("</annotation>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(parts))


def write_list(path: Path, names: tuple[str, ...]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{n}\n" for n in names))


def build_mini_voc(base: Path) -> MiniVOC:
    """Write the miniature VOC + SBD tree under ``base`` and return its ground truth."""
    root = base / "data"
    voc = root / "VOCdevkit" / "VOC2012"
    sbd = base / "benchmark_RELEASE"
    images, voc_labels, sbd_labels, xml_classes = {}, {}, {}, {}
    for seed, (name, (height, width)) in enumerate(sorted(SIZES.items())):
        jpeg = voc / "JPEGImages" / f"{name}.jpg"
        jpeg.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth_image(height, width, seed)).save(jpeg, quality=95)
        with Image.open(jpeg) as img:
            images[name] = np.asarray(img.convert("RGB")).copy()
        drawn = set()
        if name in VOC_MASK_CLASSES:
            voc_labels[name] = block_label(height, width, VOC_MASK_CLASSES[name], True)
            write_label(voc / "SegmentationClass" / f"{name}.png", voc_labels[name])
            drawn |= set(VOC_MASK_CLASSES[name])
        if name in SBD_MASK_CLASSES:
            sbd_labels[name] = block_label(height, width, SBD_MASK_CLASSES[name], False)
            write_sbd_mat(sbd / "dataset" / "cls" / f"{name}.mat", sbd_labels[name])
            if name not in VOC_MASK_CLASSES:
                drawn |= set(SBD_MASK_CLASSES[name])
        objects = tuple(VOC_CLASSES[c - 1] for c in sorted(drawn))
        extra = XML_EXTRA.get(name, ())
        write_xml(voc / "Annotations" / f"{name}.xml", name, objects, extra)
        xml_classes[name] = tuple(sorted(objects + extra))
    for name in TRAIN_AUG:  # the field's merged masks: VOC when present, else SBD
        merged = voc_labels.get(name, sbd_labels.get(name))
        write_label(voc / "SegmentationClassAug" / f"{name}.png", merged)
    lists = voc / "ImageSets" / "Segmentation"
    write_list(lists / "train.txt", VOC_TRAIN)
    write_list(lists / "val.txt", VOC_VAL)
    write_list(lists / "trainval.txt", VOC_TRAIN + VOC_VAL)
    write_list(sbd / "dataset" / "train.txt", SBD_TRAIN)
    write_list(sbd / "dataset" / "val.txt", SBD_VAL)
    return MiniVOC(root, voc, sbd, images, voc_labels, sbd_labels, xml_classes)
