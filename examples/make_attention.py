"""Write attention maps (SeeNet's max(S_A, S_B), or a plain CAM) for every training image.

Embedded synthetic data:   python examples/make_attention.py
After train_seenet.py:     python examples/make_attention.py --checkpoint runs/train_seenet/model.pt
Several processes:         torchrun --nproc_per_node=2 examples/make_attention.py ...

The data, the network, its backbone and its normalisation are read from the config.json of the
run that wrote --checkpoint; flags given again must agree with it. Images whose .npz already
exists are skipped, so an interrupted run just continues.
"""

from __future__ import annotations

import argparse

from wsss.data.protocol import describe_dataset
from wsss.engine import cli, init_distributed, load_trained, make_attention, recipe_for


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("seenet", "cam_classifier"),
                        help="the network of --checkpoint (default: its run's, else seenet)")
    parser.add_argument("--checkpoint", default="runs/train_seenet/model.pt",
                        help="weights from train_seenet.py (or a run_pipeline.py stage)")
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
    prior = cli.prior_run(args.checkpoint)
    data = cli.data_config(args, prior)
    model_cfg = cli.model_config(args, args.model, data, "classifier", prior)
    scales = tuple(args.scales or recipe_for(data).attention_scales)
    dataset = cli.check_data(data, args.split)
    cli.check_checkpoint(args.checkpoint, model_cfg, dataset, prior)
    ctx = init_distributed(cli.device_arg(args))
    model = load_trained(model_cfg, cli.resolve(args.checkpoint),
                         len(dataset.class_names)).to(ctx.device)
    run = cli.open_run(args, {"data": data, "dataset": describe_dataset(dataset),
                              "model": model_cfg, "scales": scales}, ctx.is_main)
    report = make_attention(model, dataset, run.path / "maps", normalizer=model_cfg.normalizer,
                            scales=scales, flip=args.flip, ctx=ctx, skip_bad=args.skip_bad,
                            progress=args.progress)
    cli.write_bad_inputs(run, report.failed)
    print(f"rank {ctx.rank}: wrote {len(report.written)}, skipped {len(report.skipped)} "
          f"existing, {len(report.failed)} bad; maps in {run.path / 'maps'}")
    ctx.close()


if __name__ == "__main__":
    cli.run(main)
