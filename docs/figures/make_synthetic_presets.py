"""Draw one image of every synthetic preset, for the "Synthetic benchmark" page.

Run from the repository root (a few seconds, no download, no training)::

    python docs/figures/make_synthetic_presets.py

For each name of :data:`wsss.data.synthetic.SYNTHETIC_PRESETS` it builds the preset's dataset
(:func:`wsss.data.synthetic.synthetic_dataset`, 88 px, seed 0) and tiles its first training
image, ground truth and saliency map with :func:`wsss.data.synthetic.render_preview`, under the
preset's name; the tiles go into ``docs/_static/figures/synthetic_presets.png`` in two columns.
Everything shown is drawn by the library; this script only arranges and labels it (numpy and
Pillow).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run from a checkout, installed or not

from wsss.data.synthetic import SYNTHETIC_PRESETS, render_preview, synthetic_dataset  # noqa: E402
from wsss.io import atomic_write  # noqa: E402

OUT = ROOT / "docs" / "_static" / "figures"
WHITE = (255, 255, 255)
INK = (30, 30, 30)


def preset_tiles(image_size: int, seed: int) -> dict[str, np.ndarray]:
    """``image | ground truth | saliency`` of each preset's first image, by preset name."""
    return {
        name: render_preview(synthetic_dataset(name, 1, image_size=image_size, seed=seed), 1)
        for name in SYNTHETIC_PRESETS
    }


def arrange(tiles: dict[str, np.ndarray], columns: int, gap: int = 8, caption: int = 18) -> Image:
    """The tiles in ``columns`` columns, each under its name, on white."""
    height, width = next(iter(tiles.values())).shape[:2]
    rows = -(-len(tiles) // columns)
    canvas = Image.new(
        "RGB",
        (columns * width + (columns + 1) * gap, rows * (height + caption + gap) + gap),
        WHITE,
    )
    draw = ImageDraw.Draw(canvas)
    typeface = ImageFont.load_default(size=14)
    for k, (name, tile) in enumerate(tiles.items()):
        x = gap + (k % columns) * (width + gap)
        y = gap + (k // columns) * (height + caption + gap)
        draw.text((x, y), f'"{name}"', fill=INK, font=typeface)
        canvas.paste(Image.fromarray(tile), (x, y + caption))
    return canvas


def save_png(name: str, image: Image.Image) -> None:
    """Write ``docs/_static/figures/<name>`` atomically (optimised PNG) and report its size."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    with atomic_write(OUT / name, "wb") as f:
        f.write(buffer.getvalue())
    print(f"wrote {(OUT / name).relative_to(ROOT)} ({image.width}x{image.height}, "
          f"{len(buffer.getvalue()) / 1024:.0f} KB)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=88, help="image side (px)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed")
    parser.add_argument("--columns", type=int, default=2, help="presets per figure row")
    args = parser.parse_args(argv)
    tiles = preset_tiles(args.image_size, args.seed)
    save_png("synthetic_presets.png", arrange(tiles, args.columns))


if __name__ == "__main__":
    main()
