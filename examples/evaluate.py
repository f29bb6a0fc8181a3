"""Evaluate a segmentation network: per-class IoU table and mIoU (optional dense CRF).

Embedded synthetic data:   python examples/evaluate.py
After train_deeplab.py:    python examples/evaluate.py --checkpoint runs/train_deeplab/model.pt \\
                               --crf

The data, backbone and normalisation are read from the config.json of the run that wrote
--checkpoint; flags given again must agree with it.
"""

from __future__ import annotations

import argparse

from wsss.data.protocol import describe_dataset
from wsss.engine import cli, evaluate, init_distributed, load_trained


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", default="runs/train_deeplab/model.pt")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0],
                        help="test scales (VGG: 1.0; ResNet: 0.5 0.75 1.0 1.25 1.5)")
    parser.add_argument("--flip", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--crf", action=argparse.BooleanOptionalAction, default=False,
                        help="dense CRF post-processing (needs the wsss[crf] extra)")
    parser.add_argument("--save-predictions", action=argparse.BooleanOptionalAction,
                        default=False, help="write predicted label PNGs")
    cli.add_data_args(parser)
    cli.add_model_args(parser)
    cli.add_runtime_args(parser, "runs/evaluate", skip_bad=False)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    cli.set_threads(args.threads)
    prior = cli.prior_run(args.checkpoint)
    data = cli.data_config(args, prior)
    model_cfg = cli.model_config(args, "deeplab_largefov", data, "deeplab", prior)
    dataset = cli.check_data(data, "val", masks=True)
    cli.check_checkpoint(args.checkpoint, model_cfg, dataset, prior)
    ctx = init_distributed(cli.device_arg(args))
    model = load_trained(model_cfg, cli.resolve(args.checkpoint),
                         len(dataset.class_names)).to(ctx.device)
    run = cli.open_run(args, {"data": data, "dataset": describe_dataset(dataset),
                              "model": model_cfg}, ctx.is_main)
    scores = evaluate(model, dataset, normalizer=model_cfg.normalizer, scales=args.scales,
                      flip=args.flip, crf=args.crf,
                      save_dir=run.path / "predictions" if args.save_predictions else None,
                      ctx=ctx, progress=args.progress)
    if ctx.is_main:
        run.write_json("scores.json", scores.to_dict())
        run.write_text("iou_table.md", scores.to_table() + "\n")
        print(scores.to_table())
        print(f"mIoU {scores.miou:.2%}")
    ctx.close()


if __name__ == "__main__":
    cli.run(main)
