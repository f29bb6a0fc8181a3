"""Write attention maps (SeeNet's max(S_A, S_B), or a plain CAM) for every training image.

Embedded synthetic data:   python examples/make_attention.py
PASCAL VOC 2012:           python examples/make_attention.py --voc-root data --sbd-root data/SBD \\
                               --checkpoint runs/train_seenet/model.pt
Several processes:         torchrun --nproc_per_node=2 examples/make_attention.py ...
Images whose .npz already exists are skipped, so an interrupted run just continues.
"""

from __future__ import annotations

import argparse

from wsss.engine import (
    class_names,
    cli,
    init_distributed,
    load_dataset,
    load_trained,
    make_attention,
    recipe_for,
)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("seenet", "cam_classifier"), default="seenet")
    parser.add_argument("--checkpoint", default="runs/train_seenet/model.pt",
                        help="weights from train_seenet.py")
    parser.add_argument("--split", choices=("train", "val"), default="train")
    parser.add_argument("--scales", type=float, nargs="+",
                        help="test-time scales (default: the preset's)")
    parser.add_argument("--flip", action=argparse.BooleanOptionalAction, default=True,
                        help="also run horizontally flipped images (fused by max)")
    cli.add_data_args(parser)
    cli.add_model_args(parser)
    cli.add_runtime_args(parser, "runs/attention")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    cli.set_threads(args.threads)
    ctx = init_distributed(cli.device_arg(args))
    data = cli.data_config(args)
    model_cfg = cli.model_config(args, args.model, data, "classifier")
    scales = tuple(args.scales or recipe_for(data).attention_scales)
    dataset = load_dataset(data, args.split)
    model = load_trained(model_cfg, args.checkpoint, len(class_names(dataset))).to(ctx.device)
    run = cli.open_run(args, {"data": data, "model": model_cfg, "scales": scales}, ctx.is_main)
    report = make_attention(model, dataset, run.path / "maps", normalizer=model_cfg.normalizer,
                            scales=scales, flip=args.flip, ctx=ctx, skip_bad=args.skip_bad,
                            progress=args.progress)
    cli.write_bad_inputs(run, report.failed)
    print(f"rank {ctx.rank}: wrote {len(report.written)}, skipped {len(report.skipped)} "
          f"existing, {len(report.failed)} bad; maps in {run.path / 'maps'}")
    ctx.close()


if __name__ == "__main__":
    main()
