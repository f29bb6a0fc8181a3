"""Row 6: dense CRF over a folder, ``wsss.crf.refine_many`` with 2 processes / 1 process.

A temporary folder holds ``--images`` RGB images (PNG) and their class probabilities (``.npy``);
the workers receive only the file stems and load the inputs themselves (the ``loader``
argument), refine with the DeepLab v1 parameters and send back uint8 label maps (the
``postprocess`` argument). One process runs the same loop without a pool. Each CRF process
is single-threaded, so the ratio can only approach 2 on a machine with two idle cores: check
``uptime`` first and read the load printed at the start and the end.

    python benchmarks/bench_crf.py                    # ~10 s on an idle machine
    python benchmarks/bench_crf.py --images 12 --classes 4 --repeats 3
"""

from __future__ import annotations

import argparse
import functools
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _common import (
    add_common_args,
    best,
    interleaved_times,
    median,
    print_load,
    print_result,
    print_table,
    setup,
)
from PIL import Image

from wsss.crf import DEEPLAB_V1, refine_many

TARGET = 1.8


def load_item(folder: Path, stem: str) -> tuple[np.ndarray, np.ndarray]:
    """The image ``(H, W, 3)`` uint8 and probabilities ``(K, H, W)`` float32 of ``stem``."""
    image = np.array(Image.open(folder / f"{stem}.png").convert("RGB"))  # writable
    return image, np.load(folder / f"{stem}.npy")


def to_labels(probs: np.ndarray) -> np.ndarray:
    """Refined probabilities to a uint8 label map (what the workers send back)."""
    return probs.argmax(axis=0).astype(np.uint8)


def write_folder(folder: Path, count: int, height: int, width: int, classes: int) -> list[str]:
    """Write ``count`` smooth random images and softmax probabilities; return their stems."""
    gen = torch.Generator().manual_seed(0)
    stems = []
    for i in range(count):
        coarse = torch.rand(1, 3 + classes, 6, 8, generator=gen)
        smooth = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
        image = (smooth[0, :3].permute(1, 2, 0) * 255).to(torch.uint8).numpy()
        probs = torch.softmax(4 * smooth[0, 3:], dim=0).numpy().astype(np.float32)
        stem = f"img_{i:03d}"
        Image.fromarray(image).save(folder / f"{stem}.png")
        np.save(folder / f"{stem}.npy", probs)
        stems.append(stem)
    return stems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=6, help="images in the folder (default 6)")
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--classes", type=int, default=3,
                        help="K: background + the image's classes (default 3)")
    add_common_args(parser, repeats=2, warmup=0)
    args = parser.parse_args()
    setup(args, f"Row 6: dense CRF (DeepLab v1, 10 iterations) over {args.images} images of "
          f"{args.width}x{args.height}, K={args.classes}: 2 processes / 1 process")

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        stems = write_folder(folder, args.images, args.height, args.width, args.classes)
        loader = functools.partial(load_item, folder)
        outputs: dict[int, list[np.ndarray]] = {}

        def run(processes: int) -> None:
            outputs[processes] = list(refine_many(
                stems, DEEPLAB_V1, loader=loader, postprocess=to_labels,
                processes=processes, progress=False,
            ))

        cases = {"1 process": lambda: run(1), "2 processes (pool)": lambda: run(2)}
        times = interleaved_times(cases, args.repeats, args.warmup)
    same = all(np.array_equal(a, b) for a, b in zip(outputs[1], outputs[2]))
    one, two = times["1 process"].wall, times["2 processes (pool)"].wall
    rows = [(name, best(t.wall), median(t.wall), f"{args.images / best(t.wall):.2f}")
            for name, t in times.items()]
    print_table(("run", "best s", "median s", "images/s"), rows)
    print(f"   label maps identical: {same}")
    ratio = best(one) / best(two)
    print_result("6", "speed-up of 2 processes over 1", ratio, f">= {TARGET:.1f}",
                 ratio >= TARGET)
    print_load()


if __name__ == "__main__":
    main()
