"""Fuse attention maps with saliency maps into proxy labels (Algorithm 1; optional CRF).

Embedded synthetic data:   python examples/make_pseudo_labels.py
PASCAL VOC 2012:           python examples/make_pseudo_labels.py --voc-root data \\
                               --sbd-root data/SBD --saliency-dir data/saliency_dss
Labels already written are skipped, so an interrupted run just continues.
"""

from __future__ import annotations

import argparse

from wsss.engine import cli, init_distributed, label_quality, load_dataset, make_pseudo_labels
from wsss.fusion import FUSION_PRESETS


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attention-dir", default="runs/attention/maps",
                        help=".npz maps from make_attention.py")
    parser.add_argument("--method", choices=sorted(FUSION_PRESETS), default="harmonic",
                        help="fusion rule set: the paper's (harmonic) or OAA's")
    parser.add_argument("--conflict-threshold", type=float,
                        help="ignore pixels where two classes exceed this attention")
    parser.add_argument("--min-foreground", type=float,
                        help="ignore a whole image whose foreground is below this fraction")
    parser.add_argument("--crf", action=argparse.BooleanOptionalAction, default=False,
                        help="refine with a dense CRF (needs the wsss[crf] extra)")
    parser.add_argument("--score", action=argparse.BooleanOptionalAction, default=None,
                        help="score the labels against the ground truth (default: on "
                             "synthetic data)")
    cli.add_data_args(parser)
    cli.add_runtime_args(parser, "runs/pseudo_labels")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    cli.set_threads(args.threads)
    ctx = init_distributed(cli.device_arg(args))
    data = cli.data_config(args)
    dataset = load_dataset(data, "train")
    overrides = {k: v for k, v in (("conflict_threshold", args.conflict_threshold),
                                   ("min_foreground", args.min_foreground)) if v is not None}
    run = cli.open_run(args, {"data": data, "method": args.method, "fusion": overrides},
                       ctx.is_main)
    report = make_pseudo_labels(dataset, cli.resolve(args.attention_dir), run.path,
                                method=args.method, fusion_kwargs=overrides,
                                refine="crf" if args.crf else "none",
                                ctx=ctx, skip_bad=args.skip_bad, progress=args.progress)
    cli.write_bad_inputs(run, report.failed)
    print(f"rank {ctx.rank}: wrote {len(report.written)}, skipped {len(report.skipped)} "
          f"existing, {len(report.failed)} bad; labels in {run.path}")
    ctx.barrier()
    if ctx.is_main and (args.score if args.score is not None else data.synthetic):
        quality = label_quality(dataset, run.path)
        run.write_json("quality.json", {"miou": quality.scores.miou, "ignored": quality.ignored,
                                        "per_class": quality.scores.to_dict()})
        print(f"proxy labels: mIoU {quality.scores.miou:.1%} on the {1 - quality.ignored:.1%} "
              "of pixels they label")
    ctx.close()


if __name__ == "__main__":
    main()
