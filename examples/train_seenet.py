"""Train SeeNet (or the plain CAM classifier baseline) from image-level labels.

Embedded synthetic data:   python examples/train_seenet.py
PASCAL VOC 2012:           python examples/train_seenet.py --voc-root data --sbd-root data/SBD \\
                               --weights vgg16-imagenet.pth
Several processes:         torchrun --nproc_per_node=2 examples/train_seenet.py
"""

from __future__ import annotations

import argparse

from wsss.engine import cli, init_distributed, load_dataset, recipe_for, train_model


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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
    ctx = init_distributed(cli.device_arg(args))
    data = cli.data_config(args)
    recipe = recipe_for(data)
    model_cfg = cli.model_config(args, args.model, data, "classifier")
    train_cfg = cli.train_config(args, recipe.classifier_train)
    dataset = load_dataset(data, "train")
    run = cli.open_run(args, {"data": data, "model": model_cfg, "train": train_cfg},
                       ctx.is_main)
    _, result = train_model(model_cfg, dataset, train_cfg, run, crop=args.crop or recipe.crop,
                            ctx=ctx, resume=args.resume, progress=args.progress)
    if ctx.is_main:
        print(f"{args.model}: {result.iteration} steps, last loss {result.last_loss:.4f}; "
              f"weights in {run.model_path}")
    ctx.close()


if __name__ == "__main__":
    main()
