"""Row 2: achieved GFLOP/s of the SeeNet and DeepLab-LargeFOV training steps / fp32 matmul peak.

The peak is the best of square fp32 matrix products (``--matmul-size``) timed in the same
process, at the same thread count, before and after the steps. The FLOPs of a step are counted
by :class:`torch.utils.flop_counter.FlopCounterMode` (convolutions and matrix products, forward
and backward) on its warm-up run. A bf16 product of the same size is timed
for reference (whether bf16 pays on a CPU depends on its AVX-512 BF16 / AMX support).

    python benchmarks/bench_flops.py                  # ~1 min at one thread
    python benchmarks/bench_flops.py --seenet-batch 8 --deeplab-batch 2 --repeats 3
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import (
    add_common_args,
    add_layout_arg,
    best,
    count_flops,
    gflops,
    interleaved_times,
    median,
    print_load,
    print_result,
    print_table,
    setup,
    training_step,
)

TARGET = 0.8


def matmul_peak(n: int, dtype: torch.dtype, calls: int) -> float:
    """Best GFLOP/s of ``calls`` products of two ``n x n`` matrices (after one warm-up)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(n, n, generator=gen).to(dtype)
    b = torch.randn(n, n, generator=gen).to(dtype)
    out = torch.empty(n, n, dtype=dtype)
    torch.matmul(a, b, out=out)
    fastest = float("inf")
    for _ in range(calls):
        start = time.perf_counter()
        torch.matmul(a, b, out=out)
        fastest = min(fastest, time.perf_counter() - start)
    return gflops(2 * n**3, fastest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seenet-batch", type=int, default=8, help="at 224^2 (default 8)")
    parser.add_argument("--deeplab-batch", type=int, default=2, help="at 321^2 (default 2)")
    parser.add_argument("--matmul-size", type=int, default=2048, help="n of the n x n product")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                        help="also time a bf16 product of the same size (default on)")
    add_layout_arg(parser)
    add_common_args(parser, repeats=2, warmup=0)
    args = parser.parse_args()
    layout = "channels-last" if args.channels_last else "NCHW"
    setup(args, f"Row 2: achieved GFLOP/s of training steps ({layout}) / fp32 matmul peak")

    peak_before = matmul_peak(args.matmul_size, torch.float32, calls=10)
    steps = {
        f"seenet 224^2 x{args.seenet_batch}": training_step(
            "seenet", args.seenet_batch, 224, args.channels_last
        ),
        f"deeplab_largefov 321^2 x{args.deeplab_batch}": training_step(
            "deeplab_largefov", args.deeplab_batch, 321, args.channels_last
        ),
    }
    flops = {name: count_flops(step) for name, step in steps.items()}  # also the warm-up
    times = interleaved_times(steps, args.repeats, args.warmup)
    peak_after = matmul_peak(args.matmul_size, torch.float32, calls=10)
    peak = max(peak_before, peak_after)

    rows: list[tuple[object, ...]] = [
        (f"fp32 matmul {args.matmul_size}^2 (before / after)",
         f"{peak_before:.1f} / {peak_after:.1f}", "-", "1.000")
    ]
    ratios = {}
    for name in steps:
        wall = times[name].wall
        achieved = gflops(flops[name], best(wall))
        ratios[name] = achieved / peak
        rows.append((f"{name} step, {flops[name] / 1e9:.0f} GFLOP",
                     f"{achieved:.1f}", f"{best(wall):.2f} / {median(wall):.2f}",
                     f"{ratios[name]:.3f}"))
    if args.bf16:
        bf16 = matmul_peak(args.matmul_size, torch.bfloat16, calls=3)
        rows.append((f"bf16 matmul {args.matmul_size}^2 (reference only)", f"{bf16:.1f}", "-",
                     f"{bf16 / peak:.3f}"))
    print_table(("workload", "GFLOP/s", "best / median s", "/ peak"), rows)
    worst = min(ratios.values())
    print_result("2", "min over the steps of achieved / matmul peak", worst, f">= {TARGET:.2f}",
                 worst >= TARGET)
    print_load()


if __name__ == "__main__":
    main()
