"""Train DeepLab-LargeFOV on proxy labels (or, as an upper bound, on the ground truth).

Embedded synthetic data:   python examples/train_deeplab.py --labels-dir runs/pseudo_labels
Upper bound:               python examples/train_deeplab.py --ground-truth
PASCAL VOC 2012:           python examples/train_deeplab.py --labels-dir runs/pseudo_labels \\
                               --weights init.pth --weights-format caffe
Several processes:         torchrun --nproc_per_node=2 examples/train_deeplab.py ...

The data is read from the config.json of the run that wrote --labels-dir (flags given again
must agree with it); with --ground-truth the data flags say which images.
"""

from __future__ import annotations

import argparse

from wsss.data.protocol import describe_dataset
from wsss.engine import cli, init_distributed, recipe_for, train_model


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
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
    prior = None if args.ground_truth else cli.prior_run(args.labels_dir)
    data = cli.data_config(args, prior)
    recipe = recipe_for(data)
    model_cfg = cli.model_config(args, "deeplab_largefov", data, "deeplab")
    train_cfg = cli.train_config(args, recipe.deeplab_train)
    cli.check_batch(train_cfg, cli.world_size())
    cli.check_weights(args.weights)
    labels_from = None if args.ground_truth else cli.resolve(args.labels_dir)
    dataset = cli.check_data(data, "train", masks=args.ground_truth)
    if labels_from is not None:
        cli.check_outputs(labels_from, dataset, argument="labels_dir", what="proxy label",
                          suffix=".png")
    warning = cli.scratch_warning(data, args.weights)
    ctx = init_distributed(cli.device_arg(args))
    run = cli.open_run(args, {"data": data, "dataset": describe_dataset(dataset),
                              "model": model_cfg, "train": train_cfg,
                              "labels_from": labels_from,
                              "warnings": [warning] if warning else []}, ctx.is_main)
    _, result = train_model(model_cfg, dataset, train_cfg, run, labels_from=labels_from,
                            crop=args.crop or recipe.crop, ctx=ctx, resume=args.resume,
                            progress=args.progress)
    if ctx.is_main:
        print(f"deeplab: {result.iteration} steps, last loss {result.last_loss:.4f}; "
              f"weights in {run.model_path}")
    ctx.close()


if __name__ == "__main__":
    cli.run(main)
