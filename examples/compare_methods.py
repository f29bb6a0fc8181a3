"""Compare SeeNet with the plain CAM, ACoL, adversarial erasing and SeeNet's ablations.

    python examples/compare_methods.py                         # embedded synthetic data, 3 seeds
    python examples/compare_methods.py --seeds 1 --methods cam seenet   # a quicker look
    python examples/compare_methods.py --resume                # continue, or add seeds/methods
    python examples/compare_methods.py --methods cam seenet --deeplab --deeplab-seeds 1 \
        --ground-truth --synthetic-preset texture   # one preset: margin, proxies, DeepLab / GT

Every method trains from the same backbone with the same schedule and attention scales
(wsss.engine.compare.compare_methods); the report gives attention mIoU, attention on objects
and on the background, proxy-label mIoU (and, with --deeplab, DeepLab's mIoU) as mean +- sd
over the seeds, with figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from wsss.balance import CLASS_WEIGHTINGS
from wsss.engine import cli, init_distributed
from wsss.engine.compare import METHODS, CompareConfig, CompareResult, compare_methods


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", nargs="*", choices=tuple(METHODS), default=list(METHODS),
                        help="methods to compare, in the report's order (none: with "
                             "--ground-truth, only the backbone and DeepLab on the ground truth)")
    parser.add_argument("--seeds", type=int, default=3,
                        help="number of training seeds, 0 .. N-1 (the backbone is shared)")
    parser.add_argument("--ae-steps", type=int, default=3, help="adversarial erasing steps")
    parser.add_argument("--ae-threshold", type=float, default=0.7,
                        help="adversarial erasing threshold on normalised attention")
    parser.add_argument("--deeplab", action=argparse.BooleanOptionalAction, default=False,
                        help="also train and score DeepLab-LargeFOV on each method's proxies")
    parser.add_argument("--ground-truth", action=argparse.BooleanOptionalAction, default=False,
                        help="also train DeepLab-LargeFOV on the ground truth (the upper bound)")
    parser.add_argument("--deeplab-seeds", type=int,
                        help="train DeepLab for the first N seeds only (default: every seed)")
    parser.add_argument("--pretrain-iterations", type=int,
                        help="steps of the synthetic recipe's backbone pretraining")
    parser.add_argument("--classifier-iterations", type=int, help="steps of every classifier")
    parser.add_argument("--deeplab-iterations", type=int, help="DeepLab steps")
    parser.add_argument("--deeplab-class-weighting", choices=CLASS_WEIGHTINGS,
                        help="DeepLab's pixel-loss class weights (default: the recipe's, none)")
    parser.add_argument("--batch-size", type=int, help="effective batch of every training")
    parser.add_argument("--figures", type=int, default=4, help="images in the figures")
    cli.add_data_args(parser)
    cli.add_model_args(parser)
    cli.add_runtime_args(parser, "runs/compare", skip_bad=False)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> CompareResult:
    args = parse(argv)
    cli.set_threads(args.threads)
    iterations = {k: v for k, v in (("pretrain", args.pretrain_iterations),
                                    ("classifier", args.classifier_iterations),
                                    ("deeplab", args.deeplab_iterations)) if v is not None}
    try:
        config = CompareConfig(
            data=cli.data_config(args), backbone=args.backbone, weights=args.weights,
            weights_format=args.weights_format, methods=tuple(args.methods),
            seeds=tuple(range(args.seeds)), ae_steps=args.ae_steps, ae_threshold=args.ae_threshold,
            iterations=iterations, batch_size=args.batch_size, deeplab=args.deeplab,
            figures=args.figures, ground_truth=args.ground_truth,
            deeplab_seeds=args.deeplab_seeds, deeplab_class_weighting=args.deeplab_class_weighting)
    except ValueError as exc:
        raise SystemExit(f"error: {exc}") from exc
    ctx = init_distributed(cli.device_arg(args))
    return compare_methods(config, Path(args.run_dir).expanduser(), resume=args.resume, ctx=ctx,
                           progress=args.progress)


if __name__ == "__main__":
    main()
