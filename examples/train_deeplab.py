"""Train DeepLab-LargeFOV on proxy labels (or, as an upper bound, on the ground truth).

Embedded synthetic data:   python examples/train_deeplab.py --labels-dir runs/pseudo_labels
Upper bound:               python examples/train_deeplab.py --ground-truth
PASCAL VOC 2012:           python examples/train_deeplab.py --voc-root data --sbd-root data/SBD \\
                               --labels-dir runs/pseudo_labels --weights init.pth \\
                               --weights-format caffe
Several processes:         torchrun --nproc_per_node=2 examples/train_deeplab.py ...
"""

from __future__ import annotations

import argparse

from wsss.engine import cli, init_distributed, load_dataset, recipe_for, train_model


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    labels = parser.add_mutually_exclusive_group()
    labels.add_argument("--labels-dir", default="runs/pseudo_labels",
                        help="proxy label PNGs from make_pseudo_labels.py")
    labels.add_argument("--ground-truth", action="store_true",
                        help="train on the dataset's own pixel labels (fully supervised)")
    cli.add_data_args(parser)
    cli.add_model_args(parser)
    cli.add_train_args(parser)
    cli.add_runtime_args(parser, "runs/train_deeplab", skip_bad=False)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    cli.set_threads(args.threads)
    ctx = init_distributed(cli.device_arg(args))
    data = cli.data_config(args)
    recipe = recipe_for(data)
    model_cfg = cli.model_config(args, "deeplab_largefov", data, "deeplab")
    train_cfg = cli.train_config(args, recipe.deeplab_train)
    labels_from = None if args.ground_truth else cli.resolve(args.labels_dir)
    dataset = load_dataset(data, "train")
    run = cli.open_run(args, {"data": data, "model": model_cfg, "train": train_cfg,
                              "labels_from": labels_from}, ctx.is_main)
    _, result = train_model(model_cfg, dataset, train_cfg, run, labels_from=labels_from,
                            crop=args.crop or recipe.crop, ctx=ctx, resume=args.resume,
                            progress=args.progress)
    if ctx.is_main:
        print(f"deeplab: {result.iteration} steps, last loss {result.last_loss:.4f}; "
              f"weights in {run.model_path}")
    ctx.close()


if __name__ == "__main__":
    main()
