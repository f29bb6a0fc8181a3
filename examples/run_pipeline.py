"""Run the whole SeeNet pipeline and write report.md: from image labels to a segmentation mIoU.

    python examples/run_pipeline.py                  # embedded synthetic data, a few minutes
    python examples/run_pipeline.py --resume         # continue an interrupted run
    python examples/run_pipeline.py --dataset voc --data-root data \\
        --sbd-root data/benchmark_RELEASE --saliency-dir data/saliency_dss \\
        --weights vgg16-imagenet.pth                  # PASCAL VOC 2012
    python examples/run_pipeline.py --dataset folder --data-root DIR   # your own images
    python examples/run_pipeline.py --dataset coco --data-root DIR --proxy threshold

Stages (wsss.engine.run_pipeline): [pretrain a backbone on the image labels, synthetic data
only]; train SeeNet and a plain CAM baseline; attention maps, scored on the ground truth; proxy
labels; DeepLab-LargeFOV on SeeNet's proxies, on the CAM's, on the ground truth; evaluation.
Every input is checked before the first stage starts (the training images need pixel labels,
to score the attention and train the upper bound; --proxy saliency needs a saliency map for
every training image with a class).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from wsss.balance import CLASS_WEIGHTINGS
from wsss.engine import PipelineConfig, PipelineResult, cli, init_distributed, run_pipeline


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pretrain-iterations", type=int,
                        help="steps of the synthetic recipe's backbone pretraining")
    parser.add_argument("--classifier-iterations", type=int, help="SeeNet / CAM steps")
    parser.add_argument("--deeplab-iterations", type=int, help="DeepLab steps")
    parser.add_argument("--deeplab-class-weighting", choices=CLASS_WEIGHTINGS,
                        help="DeepLab's pixel-loss class weights (default: the recipe's, none)")
    parser.add_argument("--batch-size", type=int, help="effective batch of every training")
    parser.add_argument("--micro-batch", type=int, help="images per forward pass (accumulation)")
    parser.add_argument("--seed", type=int, help="training seed of every network")
    parser.add_argument("--figures", type=int, default=4, help="images in the figure")
    parser.add_argument("--baseline-deeplab", action=argparse.BooleanOptionalAction,
                        default=True, help="also train DeepLab on the plain CAM's proxy labels")
    parser.add_argument("--proxy", choices=("saliency", "threshold"), default="saliency",
                        help="proxy labels: attention fused with saliency maps (needs "
                             "--saliency-dir), or thresholded attention alone")
    parser.add_argument("--refine", choices=("none", "crf", "pamr"), default="none",
                        help="refine the proxy labels: dense CRF (wsss[crf] extra) or PAMR")
    parser.add_argument("--crf", action=argparse.BooleanOptionalAction, default=False,
                        help="dense CRF on DeepLab's predictions at evaluation (wsss[crf])")
    parser.add_argument("--diagnostics", action=argparse.BooleanOptionalAction, default=False,
                        help="also run the research diagnostics (wsss.diagnostics; slower)")
    parser.add_argument("--overwrite", action=argparse.BooleanOptionalAction, default=False,
                        help="delete an earlier run in --run-dir and start again")
    cli.add_data_args(parser)
    cli.add_model_args(parser)
    cli.add_runtime_args(parser, "runs/pipeline")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> PipelineResult:
    args = parse(argv)
    cli.set_threads(args.threads)
    data = cli.data_config(args)
    cli.check_weights(args.weights)
    cli.check_data(data, "train", masks=True, saliency=args.proxy == "saliency",
                   skip_bad=args.skip_bad)
    cli.check_data(data, "val", masks=True)
    root = Path(args.run_dir)
    if root.exists() and any(root.iterdir()) and not args.resume:
        if not args.overwrite:
            raise SystemExit(f"--run-dir: {root} is not empty; --resume it or --overwrite it")
        if not (root / "config.json").exists():
            raise SystemExit(f"--overwrite: {root} is not a wsss run; not deleting it")
        shutil.rmtree(root)
    config = PipelineConfig(
        data=data, backbone=args.backbone, weights=args.weights,
        weights_format=args.weights_format,
        iterations={k: v for k, v in (("pretrain", args.pretrain_iterations),
                                      ("classifier", args.classifier_iterations),
                                      ("deeplab", args.deeplab_iterations)) if v is not None},
        batch_size=args.batch_size, micro_batch=args.micro_batch, seed=args.seed,
        deeplab_class_weighting=args.deeplab_class_weighting,
        baseline_deeplab=args.baseline_deeplab, proxy=args.proxy, refine=args.refine,
        crf=args.crf, figures=args.figures,
        diagnostics=args.diagnostics, skip_bad=args.skip_bad,
    )
    recipe = config.resolved_recipe()
    for train_config in (recipe.pretrain_train, recipe.classifier_train, recipe.deeplab_train):
        if train_config is not None:
            cli.check_batch(train_config, 1)
    cli.scratch_warning(data, args.weights)
    ctx = init_distributed(cli.device_arg(args))  # a single process: picks the device
    return run_pipeline(config, root, resume=args.resume, ctx=ctx, progress=args.progress)


if __name__ == "__main__":
    cli.run(main)
