"""Turn attention maps into proxy labels: fused with saliency (Algorithm 1) or thresholded.

Embedded synthetic data:   python examples/make_pseudo_labels.py
After make_attention.py:   python examples/make_pseudo_labels.py \\
                               --attention-dir runs/attention/maps \\
                               --saliency-dir data/saliency_dss
Without saliency maps:     python examples/make_pseudo_labels.py --proxy threshold

The data is read from the config.json of the run that wrote --attention-dir; --saliency-dir is
needed only with --proxy saliency (the default). Labels already written are skipped, so an
interrupted run just continues.
"""

from __future__ import annotations

import argparse

from wsss.data.protocol import describe_dataset
from wsss.engine import cli, init_distributed, label_quality, make_pseudo_labels
from wsss.fusion import FUSION_PRESETS


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--attention-dir", default="runs/attention/maps",
                        help=".npz maps from make_attention.py")
    parser.add_argument("--proxy", choices=("saliency", "threshold"), default="saliency",
                        help="fuse the attention with saliency maps (needs --saliency-dir), "
                             "or threshold the attention alone (no saliency)")
    parser.add_argument("--refine", choices=("none", "crf", "pamr"), default="none",
                        help="refine the labels: dense CRF (wsss[crf] extra) or PAMR")
    parser.add_argument("--crf", dest="refine", action="store_const", const="crf",
                        help="same as --refine crf")
    parser.add_argument("--method", choices=sorted(FUSION_PRESETS), default="harmonic",
                        help="fusion rule set (--proxy saliency): the paper's (harmonic) or OAA's")
    parser.add_argument("--conflict-threshold", type=float,
                        help="ignore pixels where two classes exceed this attention")
    parser.add_argument("--min-foreground", type=float,
                        help="ignore a whole image whose foreground is below this fraction")
    parser.add_argument("--score", action=argparse.BooleanOptionalAction, default=None,
                        help="score the labels against the ground truth (default: on "
                             "synthetic data)")
    cli.add_data_args(parser)
    cli.add_runtime_args(parser, "runs/pseudo_labels")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    cli.set_threads(args.threads)
    prior = cli.prior_run(args.attention_dir)
    data = cli.data_config(args, prior)
    score = args.score if args.score is not None else data.synthetic
    dataset = cli.check_data(data, "train", masks=score, saliency=args.proxy == "saliency",
                             skip_bad=args.skip_bad)
    if not args.skip_bad:  # with --skip-bad, images without a map are skipped and listed
        cli.check_outputs(args.attention_dir, dataset, argument="attention_dir",
                          what="attention map", suffix=".npz")
    ctx = init_distributed(cli.device_arg(args))
    overrides = {k: v for k, v in (("conflict_threshold", args.conflict_threshold),
                                   ("min_foreground", args.min_foreground)) if v is not None}
    run = cli.open_run(args, {"data": data, "dataset": describe_dataset(dataset),
                              "proxy": args.proxy, "refine": args.refine,
                              "method": args.method, "fusion": overrides}, ctx.is_main)
    report = make_pseudo_labels(dataset, cli.resolve(args.attention_dir), run.path,
                                proxy=args.proxy, method=args.method, fusion_kwargs=overrides,
                                refine=args.refine, ctx=ctx, skip_bad=args.skip_bad,
                                progress=args.progress)
    cli.write_bad_inputs(run, report.failed)
    print(f"rank {ctx.rank}: wrote {len(report.written)}, skipped {len(report.skipped)} "
          f"existing, {len(report.failed)} bad; labels in {run.path}")
    ctx.barrier()
    if ctx.is_main and score:
        quality = label_quality(dataset, run.path)
        run.write_json("quality.json", {"miou": quality.scores.miou, "ignored": quality.ignored,
                                        "per_class": quality.scores.to_dict()})
        print(f"proxy labels: mIoU {quality.scores.miou:.1%} on the {1 - quality.ignored:.1%} "
              "of pixels they label")
    ctx.close()


if __name__ == "__main__":
    cli.run(main)
