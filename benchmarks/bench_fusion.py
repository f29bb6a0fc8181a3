"""Row 5: proxy-label fusion (``wsss.fuse_saliency``) in images/s at 500x375, 3 classes, one core.

Inputs as the labelling stage passes them: NumPy float32 attention for all 20 classes
``(20, 375, 500)`` (3 of them present), saliency ``(375, 500)`` and the image's multi-hot
classes. Side by side, in the same run: the same rule written the usual way in NumPy (stack
the scores of all classes, ``argmax``, ignore masks), whose labels must be identical.

    python benchmarks/bench_fusion.py                 # ~5 s
    python benchmarks/bench_fusion.py --calls 500 --repeats 5
"""

from __future__ import annotations

import argparse

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

from wsss import fuse_saliency

TARGET = 300.0


def smooth_maps(rng: np.random.Generator, count: int, height: int, width: int) -> np.ndarray:
    """``count`` smooth random maps in [0, 1] (upsampled coarse noise), float32."""
    coarse = torch.from_numpy(rng.random((1, count, 12, 16), dtype=np.float32))
    maps = F.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    return maps[0].numpy() ** 2


def numpy_fusion(attention: np.ndarray, saliency: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Algorithm 1 with the ``harmonic`` preset's ignore rules, written the usual way."""
    eps = 1e-5
    present = np.flatnonzero(classes)
    att = attention[present]
    fg = 2 * att * saliency / (att + saliency + eps)
    scores = np.concatenate([(1 - saliency)[None], fg])
    label = np.concatenate([[0], present + 1]).astype(np.uint8)[scores.argmax(axis=0)]
    ignore = (att > 0.7).sum(axis=0) >= 2
    ignore |= (label == 0) & (saliency >= 32 / 255)
    label[ignore] = 255
    return label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--width", type=int, default=500)
    parser.add_argument("--num-classes", type=int, default=20, help="attention channels (20)")
    parser.add_argument("--present", type=int, default=3, help="classes in each image (3)")
    parser.add_argument("--calls", type=int, default=200, help="images per timed repeat")
    add_common_args(parser, repeats=3, warmup=1)
    args = parser.parse_args()
    setup(args, f"Row 5: fuse_saliency at {args.width}x{args.height}, {args.present} of "
          f"{args.num_classes} classes present, numpy inputs")

    rng = np.random.default_rng(0)
    inputs = []
    for _ in range(4):  # a few distinct images, cycled
        attention = smooth_maps(rng, args.num_classes, args.height, args.width)
        saliency = smooth_maps(rng, 1, args.height, args.width)[0]
        classes = np.zeros(args.num_classes, np.float32)
        classes[rng.choice(args.num_classes, args.present, replace=False)] = 1.0
        inputs.append((attention, saliency, classes))
    for item in inputs:
        if not np.array_equal(fuse_saliency(*item), numpy_fusion(*item)):
            raise SystemExit("fuse_saliency and the NumPy version disagree")

    def run(fn) -> None:
        for i in range(args.calls):
            fn(*inputs[i % len(inputs)])

    cases = {"wsss.fuse_saliency": lambda: run(fuse_saliency),
             "numpy stack + argmax": lambda: run(numpy_fusion)}
    times = interleaved_times(cases, args.repeats, args.warmup)
    rows = [(name, f"{args.calls / best(t.wall):.0f}", f"{args.calls / median(t.wall):.0f}",
             f"{args.calls / best(t.cpu):.0f}", f"{best(t.cpu) / args.calls * 1e3:.2f}")
            for name, t in times.items()]
    print_table(("implementation", "img/s (best wall)", "img/s (median wall)",
                 "img/s (best cpu)", "cpu ms/img"), rows)
    ours, numpy_version = times["wsss.fuse_saliency"], times["numpy stack + argmax"]
    print(f"   labels identical: True; speed-up over the NumPy version: "
          f"{best(numpy_version.wall) / best(ours.wall):.2f}x (wall), "
          f"{best(numpy_version.cpu) / best(ours.cpu):.2f}x (cpu)")
    threads = torch.get_num_threads()
    print_result("5", f"fuse_saliency images/s, wall clock, {threads} thread(s)",
                 args.calls / best(ours.wall), f">= {TARGET:.0f}",
                 args.calls / best(ours.wall) >= TARGET)
    if threads == 1:  # one thread: CPU time is the time on one core, whatever the load
        rate = args.calls / best(ours.cpu)
        print_result("5", "fuse_saliency images/s, CPU time of the one thread", rate,
                     f">= {TARGET:.0f}", rate >= TARGET)
    print_load()


if __name__ == "__main__":
    main()
