"""A miniature COCO 2014 tree (``val2014`` + ``annotations/instances_val2014.json``) for tests.

The instances file is written as literal JSON text (:data:`INSTANCES_JSON`). Categories have
the ids 1, 3, 90 (gaps, as in COCO), so the contiguous labels are person 1, car 2,
toothbrush 3. Three images of different sizes::

    COCO_val2014_000000000009  4x6  car polygon (15 px), person uncompressed RLE (2 px),
                                    toothbrush crowd, compressed RLE "`08" (columns 4-5)
    COCO_val2014_000000000025  3x5  no annotation (no class, all background)
    COCO_val2014_000000000030  5x3  person: two polygons (2 px), car polygon (6 px)

:data:`EXPECTED_MASKS` holds the label maps worked out by hand from the module docstring's
policy (crowd 255, then instances from largest to smallest: the smaller one wins).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

INSTANCES_JSON = """{
  "info": {"description": "miniature COCO for tests"},
  "images": [
    {"id": 9, "file_name": "COCO_val2014_000000000009.jpg", "height": 4, "width": 6},
    {"id": 25, "file_name": "COCO_val2014_000000000025.jpg", "height": 3, "width": 5},
    {"id": 30, "file_name": "COCO_val2014_000000000030.jpg", "height": 5, "width": 3}
  ],
  "annotations": [
    {"id": 101, "image_id": 9, "category_id": 3, "iscrowd": 0,
     "segmentation": [[0, 0, 5, 0, 5, 3, 0, 3]]},
    {"id": 102, "image_id": 9, "category_id": 1, "iscrowd": 0,
     "segmentation": {"size": [4, 6], "counts": [9, 2, 13]}},
    {"id": 103, "image_id": 9, "category_id": 90, "iscrowd": 1,
     "segmentation": {"size": [4, 6], "counts": "`08"}},
    {"id": 104, "image_id": 30, "category_id": 1, "iscrowd": 0,
     "segmentation": [[0, 0, 1, 0, 1, 1, 0, 1], [2, 4, 3, 4, 3, 5, 2, 5]]},
    {"id": 105, "image_id": 30, "category_id": 3, "iscrowd": 0,
     "segmentation": [[0, 0, 3, 0, 3, 2, 0, 2]]}
  ],
  "categories": [
    {"supercategory": "person", "id": 1, "name": "person"},
    {"supercategory": "vehicle", "id": 3, "name": "car"},
    {"supercategory": "indoor", "id": 90, "name": "toothbrush"}
  ]
}
"""

NAMES = ("COCO_val2014_000000000009", "COCO_val2014_000000000025", "COCO_val2014_000000000030")
CLASS_NAMES = ("person", "car", "toothbrush")
SIZES = {NAMES[0]: (4, 6), NAMES[1]: (3, 5), NAMES[2]: (5, 3)}
CLASSES = {NAMES[0]: (1.0, 1.0, 1.0), NAMES[1]: (0.0, 0.0, 0.0), NAMES[2]: (1.0, 1.0, 0.0)}

# Polygons run along pixel edges: pixel (i, j) is the square [j, j+1) x [i, i+1).
# Image 9: car = the box x 0-5, y 0-3 -> rows 0-2, cols 0-4 (15 px);
# person RLE [9, 2, 13], column-major -> flat 9, 10 = (row 1, col 2), (row 2, col 2);
# crowd "`08" = counts [16, 8] -> columns 4-5, all rows, 255 where no instance covers it.
# Image 30: person polygons -> (0, 0) and (4, 2); car -> rows 0-1 (6 px); person is smaller.
EXPECTED_MASKS = {
    NAMES[0]: np.array(
        [
            [2, 2, 2, 2, 2, 255],
            [2, 2, 1, 2, 2, 255],
            [2, 2, 1, 2, 2, 255],
            [0, 0, 0, 0, 255, 255],
        ],
        dtype=np.uint8,
    ),
    NAMES[1]: np.zeros((3, 5), dtype=np.uint8),
    NAMES[2]: np.array(
        [[1, 2, 2], [2, 2, 2], [0, 0, 0], [0, 0, 0], [0, 0, 1]],
        dtype=np.uint8,
    ),
}


def build_mini_coco(root: Path, *, split: str = "val2014") -> Path:
    """Write the miniature tree under ``root`` and return ``root``.

    ``split="train2014"`` writes the same images and annotations under the train names.
    """
    root = Path(root)
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / split).mkdir(exist_ok=True)
    text = INSTANCES_JSON.replace("val2014", split)
    (root / "annotations" / f"instances_{split}.json").write_text(text)
    for k, name in enumerate(NAMES):
        h, w = SIZES[name]
        rng = np.random.default_rng(k)
        pixels = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / split / f"{name.replace('val2014', split)}.jpg")
    return root
