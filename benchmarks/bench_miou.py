"""Row 4: mIoU accumulation, ``wsss.metrics.ConfusionMatrix`` / torchmetrics ``JaccardIndex``.

The same predictions and targets (21 classes, 255 = ignore, 500x375 like PASCAL VOC), one
``update`` per image, then ``compute``; the confusion matrices and the mIoU must be identical.
Each implementation gets the input it is made for: torchmetrics int64 tensors (as a PyTorch
evaluation loop has them), ``ConfusionMatrix`` the same tensors and, in a third line, the
uint8 NumPy arrays that label PNGs load as. torchmetrics runs with its defaults
(``validate_args=True``) and, in a fourth line, with ``validate_args=False``.

    python benchmarks/bench_miou.py                   # ~10 s
    python benchmarks/bench_miou.py --images 500 --repeats 5
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
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
from torchmetrics.classification import MulticlassJaccardIndex

from wsss.metrics import ConfusionMatrix

TARGET = 5.0
NUM_CLASSES = 21


def label_maps(count: int, height: int, width: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Blocky ground truth with 255 borders, and predictions that are right ~70 % of the time."""
    rng = np.random.default_rng(0)
    targets, predictions = [], []
    for _ in range(count):
        coarse = rng.integers(0, NUM_CLASSES, size=(height // 25 + 1, width // 25 + 1))
        target = np.kron(coarse, np.ones((25, 25), np.int64))[:height, :width].astype(np.uint8)
        target[:, ::40] = 255
        noise = rng.integers(0, NUM_CLASSES, size=(height, width))
        prediction = np.where(rng.random((height, width)) < 0.7, target, noise)
        prediction = np.where(prediction == 255, 0, prediction).astype(np.uint8)
        targets.append(target)
        predictions.append(prediction)
    return predictions, targets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=100, help="images per pass (default 100)")
    parser.add_argument("--height", type=int, default=375)
    parser.add_argument("--width", type=int, default=500)
    add_common_args(parser, repeats=3, warmup=1)
    args = parser.parse_args()
    setup(args, f"Row 4: mIoU over {args.images} images of {args.width}x{args.height}, "
          f"{NUM_CLASSES} classes")

    predictions, targets = label_maps(args.images, args.height, args.width)
    pred_t = [torch.from_numpy(p).long() for p in predictions]
    target_t = [torch.from_numpy(t).long() for t in targets]
    answers: dict[str, tuple[np.ndarray, float]] = {}

    def ours(preds: list, tgts: list, key: str) -> None:
        cm = ConfusionMatrix(NUM_CLASSES, ignore_index=255)
        for p, t in zip(preds, tgts):
            cm.update(p, t)
        answers[key] = (cm.matrix, cm.compute().miou)

    def theirs(validate: bool, key: str) -> None:
        metric = MulticlassJaccardIndex(NUM_CLASSES, ignore_index=255, validate_args=validate)
        for p, t in zip(pred_t, target_t):
            metric.update(p, t)
        answers[key] = (metric.confmat.numpy(), float(metric.compute()))

    cases = {
        "wsss ConfusionMatrix, int64 tensors": lambda: ours(pred_t, target_t, "ours"),
        "wsss ConfusionMatrix, uint8 numpy": lambda: ours(predictions, targets, "ours numpy"),
        "torchmetrics MulticlassJaccardIndex": lambda: theirs(True, "theirs"),
        "torchmetrics, validate_args=False": lambda: theirs(False, "theirs fast"),
    }
    times = interleaved_times(cases, args.repeats, args.warmup)
    reference_matrix, reference_miou = answers["theirs"]
    identical = all(
        np.array_equal(matrix, reference_matrix) and abs(miou - reference_miou) < 1e-6
        for matrix, miou in answers.values()
    )
    base = best(times["torchmetrics MulticlassJaccardIndex"].wall)
    rows = [(name, best(t.wall), median(t.wall), f"{base / best(t.wall):.2f}x")
            for name, t in times.items()]
    print_table(("implementation", "best s", "median s", "speed vs torchmetrics"), rows)
    print(f"   mIoU {reference_miou:.6f} (torchmetrics, float32) vs {answers['ours'][1]:.6f} "
          f"(wsss, float64); confusion matrices and mIoU identical: {identical}")
    speedup = base / best(times["wsss ConfusionMatrix, int64 tensors"].wall)
    print_result("4", "torchmetrics time / ConfusionMatrix time (same int64 tensors)", speedup,
                 f">= {TARGET:.0f}x and identical answer", speedup >= TARGET and identical)
    print_load()


if __name__ == "__main__":
    main()
