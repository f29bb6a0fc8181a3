"""Train SeeNet (or the plain CAM classifier baseline) from image-level labels.

Embedded synthetic data:   python examples/train_seenet.py
PASCAL VOC 2012:           python examples/train_seenet.py --dataset voc --data-root data \\
                               --sbd-root data/benchmark_RELEASE --weights vgg16-imagenet.pth
Your own images:           python examples/train_seenet.py --dataset folder --data-root DIR
Several processes:         torchrun --nproc_per_node=2 examples/train_seenet.py

Only image-level labels are read (no pixel masks, no saliency). The inputs are checked before
training starts; config.json is written once they pass.
"""

from __future__ import annotations

import argparse

from wsss.data.protocol import describe_dataset
from wsss.engine import cli, init_distributed, recipe_for, train_model


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("seenet", "cam_classifier"), default="seenet",
                        help="SeeNet, or the plain CAM classifier (S_A alone) as a baseline")
    cli.add_data_args(parser)
    cli.add_model_args(parser)
    cli.add_train_args(parser)
    cli.add_runtime_args(parser, "runs/train_seenet", skip_bad=False)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    cli.set_threads(args.threads)
    data = cli.data_config(args)
    recipe = recipe_for(data)
    model_cfg = cli.model_config(args, args.model, data, "classifier")
    train_cfg = cli.train_config(args, recipe.classifier_train)
    cli.check_batch(train_cfg, cli.world_size())
    cli.check_weights(args.weights)
    dataset = cli.check_data(data, "train")  # image labels only
    warning = cli.scratch_warning(data, args.weights)
    ctx = init_distributed(cli.device_arg(args))
    run = cli.open_run(args, {"data": data, "dataset": describe_dataset(dataset),
                              "model": model_cfg, "train": train_cfg,
                              "warnings": [warning] if warning else []}, ctx.is_main)
    _, result = train_model(model_cfg, dataset, train_cfg, run, crop=args.crop or recipe.crop,
                            ctx=ctx, resume=args.resume, progress=args.progress)
    if ctx.is_main:
        print(f"{model_cfg.name}: {result.iteration} steps, last loss {result.last_loss:.4f}; "
              f"weights in {run.model_path}")
    ctx.close()


if __name__ == "__main__":
    cli.run(main)
