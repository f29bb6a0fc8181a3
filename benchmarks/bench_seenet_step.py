"""Row 1: a SeeNet training step against a plain CAM classifier step (VGG16, 224^2, batch 8).

SeeNet adds branches S_B and S_C (S_C shares S_B's weights and runs on the background
features, so S_B's layers see a double batch) to the CAM classifier's S_A: about 11 % more
FLOPs, which is the floor of the ratio. Both steps are the full recipe: zero_grad, forward, loss
(``wsss.engine.steps.seenet_step`` / ``classifier_step``), backward, SGD with momentum.

    python benchmarks/bench_seenet_step.py            # ~1.5 min at one thread
    python benchmarks/bench_seenet_step.py --threads 2 --repeats 5
"""

from __future__ import annotations

import argparse

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

TARGET = 1.15


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch", type=int, default=8, help="images per step (default 8)")
    parser.add_argument("--size", type=int, default=224, help="crop size (default 224)")
    add_layout_arg(parser)
    add_common_args(parser, repeats=3, warmup=0)
    args = parser.parse_args()
    layout = "channels-last" if args.channels_last else "NCHW"
    setup(args, f"Row 1: SeeNet step / CAM classifier step, VGG16, {args.size}^2, "
          f"batch {args.batch}, {layout}")

    steps = {name: training_step(name, args.batch, args.size, args.channels_last)
             for name in ("cam_classifier", "seenet")}
    # The FLOP count is the warm-up run of each step.
    flops = {name: count_flops(step) for name, step in steps.items()}
    times = interleaved_times(steps, args.repeats, args.warmup)

    rows = [
        (name, f"{flops[name] / 1e9:.0f}", best(times[name].wall), median(times[name].wall),
         best(times[name].cpu), f"{gflops(flops[name], best(times[name].wall)):.1f}")
        for name in steps
    ]
    print_table(("step", "GFLOP/step", "best s", "median s", "best cpu s", "GFLOP/s"), rows)
    flop_ratio = flops["seenet"] / flops["cam_classifier"]
    seenet, cam = times["seenet"], times["cam_classifier"]
    ratio = best(seenet.wall) / best(cam.wall)
    print(f"   FLOP ratio (the limit): {flop_ratio:.3f}; time ratio of medians: "
          f"{median(seenet.wall) / median(cam.wall):.3f}; of best CPU times: "
          f"{best(seenet.cpu) / best(cam.cpu):.3f}")
    print_result("1", "SeeNet step / CAM step (best of repeats)", ratio, f"<= {TARGET:.2f}",
                 ratio <= TARGET)
    print_load()


if __name__ == "__main__":
    main()
