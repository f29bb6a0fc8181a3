"""A miniature "your own dataset" folder (FolderDataset layout) for tests.

Four images of different sizes and modes, three classes listed in ``classes.txt`` in an order
that is *not* sorted (so label order visibly comes from the list)::

    classes.txt:  cat, dog, bird        -> labels 1, 2, 3
    labels.csv / labels.json (hand-written text below):
        cat_1    cat           20x30 RGB JPEG (listed as "cat_1.jpg")
        pair     cat;dog       16x24 grey PNG
        nothing  (no class)    12x12 RGBA PNG
        bird_2   bird          18x14 palette PNG
    splits/train.txt: cat_1, pair, nothing      splits/val.txt: bird_2

Masks (``masks/<name>.png``) are rectangles, exactly known (see :data:`MASK_BOXES`), with a
255 border on ``pair``. Saliency maps (``saliency/<name>.png``) are constant ``(i + 1) * 50``.
``build_mini_folder(root)`` writes the tree and returns a :class:`MiniFolder`; pipeline tests can
point ``--dataset folder --data-root`` at it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES_TXT = "cat\ndog\nbird\n"
CLASS_NAMES = ("cat", "dog", "bird")

LABELS_CSV = """name,classes
cat_1.jpg,cat
pair,cat;dog

nothing,
bird_2,bird
"""

LABELS_JSON = """{
  "cat_1.jpg": ["cat"],
  "pair": ["cat", "dog"],
  "nothing": [],
  "bird_2": ["bird"]
}
"""

NAMES = ("cat_1", "pair", "nothing", "bird_2")
#: name -> (H, W)
SIZES = {"cat_1": (20, 30), "pair": (16, 24), "nothing": (12, 12), "bird_2": (18, 14)}
#: name -> multi-hot vector over CLASS_NAMES
CLASSES = {
    "cat_1": (1.0, 0.0, 0.0),
    "pair": (1.0, 1.0, 0.0),
    "nothing": (0.0, 0.0, 0.0),
    "bird_2": (0.0, 0.0, 1.0),
}
#: name -> [(label, top, left, bottom, right)] rectangles drawn in order on a 0 background
MASK_BOXES = {
    "cat_1": [(1, 2, 3, 10, 20)],
    "pair": [(1, 0, 0, 8, 10), (2, 8, 12, 16, 24)],
    "nothing": [],
    "bird_2": [(3, 5, 5, 15, 10)],
}
SPLITS = {"train": ("cat_1", "pair", "nothing"), "val": ("bird_2",)}
FILES = {"cat_1": "cat_1.jpg", "pair": "pair.png", "nothing": "nothing.png", "bird_2": "bird_2.png"}


def expected_mask(name: str) -> np.ndarray:
    """The mask of ``name`` built from :data:`MASK_BOXES` (``pair`` has a 255 row at row 8)."""
    mask = np.zeros(SIZES[name], dtype=np.uint8)
    for label, top, left, bottom, right in MASK_BOXES[name]:
        mask[top:bottom, left:right] = label
    if name == "pair":
        mask[8, :] = 255
    return mask


def expected_image(name: str) -> np.ndarray:
    """The RGB pixels of the PNG images (the JPEG one is lossy and not compared)."""
    h, w = SIZES[name]
    ramp = (np.arange(h * w, dtype=np.int64).reshape(h, w) * 7 % 256).astype(np.uint8)
    if name == "pair":
        return np.repeat(ramp[..., None], 3, axis=2)
    if name == "nothing":
        return np.stack([ramp, 255 - ramp, np.full_like(ramp, 9)], axis=2)
    if name == "bird_2":
        return np.stack([ramp % 4 * 60, ramp % 4 * 60, ramp % 4 * 60], axis=2).astype(np.uint8)
    return np.stack([ramp, ramp, ramp], axis=2)


@dataclass(frozen=True)
class MiniFolder:
    root: Path
    names: tuple[str, ...] = NAMES
    class_names: tuple[str, ...] = CLASS_NAMES


def build_mini_folder(
    root: Path, *, labels: str = "csv", masks: bool = True, saliency: bool = True
) -> MiniFolder:
    """Write the miniature tree under ``root`` (``labels`` is ``"csv"`` or ``"json"``)."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "splits").mkdir(exist_ok=True)
    (root / "classes.txt").write_text(CLASSES_TXT)
    if labels == "csv":
        (root / "labels.csv").write_text(LABELS_CSV)
    else:
        (root / "labels.json").write_text(LABELS_JSON)
    for split, names in SPLITS.items():
        (root / "splits" / f"{split}.txt").write_text("".join(n + "\n" for n in names))
    for i, name in enumerate(NAMES):
        pixels = expected_image(name)
        path = root / "images" / FILES[name]
        if name == "cat_1":
            Image.fromarray(pixels).save(path, quality=95)
        elif name == "pair":
            Image.fromarray(pixels[..., 0]).save(path)  # mode "L"
        elif name == "nothing":
            alpha = np.full(SIZES[name], 200, np.uint8)
            Image.fromarray(np.dstack([pixels, alpha])).save(path)  # mode "RGBA"
        else:
            grey = Image.fromarray(pixels[..., 0])
            grey.putpalette([v for g in range(256) for v in (g, g, g)])
            grey.save(path)  # mode "P" with a grey palette
        if masks:
            (root / "masks").mkdir(exist_ok=True)
            mask = Image.fromarray(expected_mask(name))
            if name != "cat_1":  # cat_1 stays a grey "L" PNG, the others palette PNGs
                mask.putpalette([v for g in range(256) for v in (g, 0, 255 - g)])
            mask.save(root / "masks" / f"{name}.png")
        if saliency:
            (root / "saliency").mkdir(exist_ok=True)
            value = np.full(SIZES[name], (i + 1) * 50, np.uint8)
            Image.fromarray(value).save(root / "saliency" / f"{name}.png")
    return MiniFolder(root)
