"""Row 8: peak memory (RSS) of the training steps, one fresh process per configuration.

``resource.getrusage(RUSAGE_SELF).ru_maxrss`` is read in a new Python process for each
configuration, so every figure is the high-water mark of exactly one set-up (imports, model,
optimizer, batch, step); ``idle`` is the same process before its first step.

Configurations (VGG16 backbones, the recipe's SGD with momentum):

- ``seenet`` and ``cam_classifier`` at 224^2, batch 8: one training step in the steady state
  (SGD momentum buffers already allocated, gradients freed by ``zero_grad(set_to_none=True)``);
- ``deeplab_largefov`` at 321^2, micro-batches 1, 2 and 5 (``--micro``): one micro-step in
  the steady state of gradient accumulation to an effective batch of 10 (gradients and
  momentum buffers allocated, as in every micro-step after the first), which is the peak of
  the whole accumulation; ``--exact`` instead runs the real 10 / m micro-steps and the SGD step
  (ten images of compute per configuration);
- ``--direct 10`` adds DeepLab with the whole batch of 10 in one pass, for comparison (slow,
  and it needs the memory it measures).

The steady state is reached cheaply by a first step on a 33x33 crop (it allocates the
gradients and the momentum buffers, and costs nothing measurable).

    python benchmarks/bench_memory.py                 # ~1 min at one thread
    python benchmarks/bench_memory.py --exact --direct 10
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

import torch
from _common import (
    build_training,
    classification_batch,
    print_load,
    print_result,
    print_table,
    segmentation_batch,
    setup,
)

BUDGET_GIB = 8.0
EFFECTIVE_BATCH = 10


def max_rss_gib() -> float:
    """This process's peak resident set size in GiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def child(config: dict) -> dict:
    """Run one configuration in this (fresh) process; return its idle and peak RSS."""
    torch.set_num_threads(config["threads"])
    name, micro, size = config["model"], config["micro"], config["size"]
    accumulate = config["accumulate"]
    run = build_training(name, micro, size)
    tiny = (segmentation_batch(1, 33) if name == "deeplab_largefov"
            else classification_batch(1, 33))
    idle = max_rss_gib()
    run.optimizer.zero_grad(set_to_none=True)
    run.loss(tiny).backward()  # allocates .grad, then the momentum buffers
    run.optimizer.step()
    if config["exact"]:  # the real thing: accumulate / micro micro-steps from scratch
        run.optimizer.zero_grad(set_to_none=True)
        for _ in range(accumulate):
            (run.loss() / accumulate).backward()
        run.optimizer.step()
    elif accumulate > 1:  # a later micro-step: gradients allocated and kept
        run.optimizer.zero_grad(set_to_none=False)
        (run.loss() / accumulate).backward()
        run.optimizer.step()
    else:  # a steady-state step without accumulation
        run.step()
    return {"idle": idle, "peak": max_rss_gib()}


def measure(config: dict) -> dict:
    """Run :func:`child` for ``config`` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(config)],
        check=True, capture_output=True, text=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--micro", type=int, nargs="+", default=[1, 2, 5],
                        help="DeepLab micro-batches (default 1 2 5)")
    parser.add_argument("--exact", action="store_true",
                        help="run all 10 / m micro-steps instead of the steady-state one")
    parser.add_argument("--direct", type=int, nargs="*", default=[],
                        help="also DeepLab with these batches in one pass (e.g. 10)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="processes per configuration; the largest peak is kept")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return
    args.warmup = 0
    setup(args, "Row 8: peak RSS of the training steps, a fresh process per configuration")

    configs = [
        {"model": "cam_classifier", "micro": 8, "size": 224, "accumulate": 1},
        {"model": "seenet", "micro": 8, "size": 224, "accumulate": 1},
    ]
    for micro in args.micro:
        if EFFECTIVE_BATCH % micro:
            raise SystemExit(f"--micro {micro} does not divide the effective batch 10")
        configs.append({"model": "deeplab_largefov", "micro": micro, "size": 321,
                        "accumulate": EFFECTIVE_BATCH // micro})
    for batch in args.direct:
        configs.append({"model": "deeplab_largefov", "micro": batch, "size": 321,
                        "accumulate": 1})
    rows, fits = [], []
    for config in configs:
        config |= {"threads": args.threads, "exact": args.exact}
        runs = [measure(config) for _ in range(args.repeats)]
        idle = max(r["idle"] for r in runs)
        peak = max(r["peak"] for r in runs)
        accumulate = config["accumulate"]
        how = (f"{config['micro']} x {accumulate} accumulated" if accumulate > 1
               else f"{config['micro']}")
        if config["model"] == "deeplab_largefov" and accumulate > 1:
            how += " (all micro-steps)" if args.exact else " (steady-state micro-step)"
            fits.append(peak)
        rows.append((config["model"], f"{config['size']}^2", how, f"{idle:.2f}", f"{peak:.2f}"))
    print_table(("model", "crop", "batch", "idle GiB", "peak RSS GiB"), rows)
    if fits:
        worst = max(fits)
        print_result("8", "peak RSS of DeepLab-LargeFOV 321^2, effective batch 10 accumulated "
                     "(largest micro-batch), GiB", worst, f"<= {BUDGET_GIB:.0f} GiB",
                     worst <= BUDGET_GIB)
    print_load()


if __name__ == "__main__":
    main()
