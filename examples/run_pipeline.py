"""Run the whole SeeNet pipeline and write report.md: from image labels to a segmentation mIoU.

    python examples/run_pipeline.py                  # embedded synthetic data, a few minutes
    python examples/run_pipeline.py --resume         # continue an interrupted run
    python examples/run_pipeline.py --voc-root data --sbd-root data/SBD \\
        --saliency-dir data/saliency_dss --weights vgg16-imagenet.pth   # PASCAL VOC 2012

Stages: on the synthetic data only, pretrain a backbone on the image labels of images where half
of the objects hide their discriminative part (the stand-in for ImageNet weights, which every
later network starts from); train SeeNet and, as a baseline, a plain CAM classifier; write
attention maps; score them as pseudo labels (plain CAM, SeeNet S_A, SeeNet max(S_A, S_B)); fuse
SeeNet's attention with saliency into proxy labels; train DeepLab-LargeFOV on the proxy labels
and, as an upper bound, on the ground truth; evaluate both; draw figures.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np
import torch

from wsss.data.images import read_label
from wsss.data.transforms import to_tensor
from wsss.engine import cli
from wsss.engine.distributed import init_distributed
from wsss.engine.labelling import load_attention, predict_segmentation
from wsss.engine.rundir import RunDir
from wsss.engine.stages import (
    ERASING_ZONES,
    ModelConfig,
    attention_profiles,
    attention_quality,
    attention_zones,
    erasing_ablation,
    evaluate,
    label_quality,
    load_dataset,
    load_trained,
    make_attention,
    make_pseudo_labels,
    preset,
    pretrain_backbone,
    set_threads,
    train_model,
    with_changes,
)
from wsss.metrics import PROFILE_REGIONS, ZONES
from wsss.viz import image_grid, overlay, save_png


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain-iterations", type=int,
                        help="steps of the synthetic recipe's backbone pretraining")
    parser.add_argument("--pretrain-part-prob", type=float,
                        help="share of objects that show their part in the pretraining images")
    parser.add_argument("--classifier-iterations", type=int, help="SeeNet / CAM steps")
    parser.add_argument("--deeplab-iterations", type=int, help="DeepLab steps")
    parser.add_argument("--batch-size", type=int, help="effective batch of every training")
    parser.add_argument("--micro-batch", type=int, help="images per forward pass (accumulation)")
    parser.add_argument("--figures", type=int, default=4, help="images in the figure")
    parser.add_argument("--crf", action=argparse.BooleanOptionalAction, default=False,
                        help="dense CRF on the proxy labels and at evaluation")
    cli.add_data_args(parser)
    cli.add_model_args(parser)
    cli.add_runtime_args(parser, "runs/pipeline")
    return parser.parse_args(argv)


class Timer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def __call__(self, name: str):
        timer = self

        class _Span:
            def __enter__(self) -> None:
                self.start = time.perf_counter()
                print(f"[pipeline] {name} ...", flush=True)

            def __exit__(self, *exc: object) -> None:
                timer.seconds[name] = time.perf_counter() - self.start
                print(f"[pipeline] {name}: {timer.seconds[name]:.0f} s", flush=True)

        return _Span()


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    set_threads(args.threads)
    root = Path(args.run_dir)
    if root.exists() and not args.resume:
        if not (root / "config.json").exists():
            raise SystemExit(f"--run-dir {root} exists and is not a wsss run; choose another")
        shutil.rmtree(root)
    run = RunDir(root)
    data = cli.data_config(args)
    recipe = preset(data)
    ctx = init_distributed(cli.device_arg(args))  # a single process: picks the device
    common = {"batch_size": args.batch_size, "micro_batch": args.micro_batch}
    cls_train = with_changes(recipe["classifier_train"], iterations=args.classifier_iterations,
                             **common)
    seg_train = with_changes(recipe["deeplab_train"], iterations=args.deeplab_iterations,
                             **common)
    seenet_cfg = cli.model_config(args, "seenet", data, "classifier")
    cam_cfg = cli.model_config(args, "cam_classifier", data, "classifier")
    deeplab_cfg = cli.model_config(args, "deeplab_largefov", data, "deeplab")
    pretrain_cfg = pretrain_train = pretrain_data = None
    backbone = root / "pretrain" / "backbone.pt"  # the synthetic recipe's pretrained backbone
    if recipe["pretrain"] is not None and args.weights is None:
        pretrain_cfg = ModelConfig("cam_classifier",
                                   args.backbone or recipe["pretrain"]["backbone"],
                                   kwargs=dict(recipe["pretrain"]["kwargs"]))
        pretrain_train = with_changes(recipe["pretrain_train"],
                                      iterations=args.pretrain_iterations, **common)
        part_prob = args.pretrain_part_prob
        pretrain_data = dataclasses.replace(data, synthetic_part_prob=(
            recipe["pretrain_part_prob"] if part_prob is None else part_prob))
        seenet_cfg, cam_cfg, deeplab_cfg = (
            dataclasses.replace(cfg, weights=str(backbone), weights_format="backbone")
            for cfg in (seenet_cfg, cam_cfg, deeplab_cfg)
        )
    run.write_config({"args": vars(args), "data": data, "pretrain": pretrain_cfg,
                      "pretrain_data": pretrain_data, "pretrain_train": pretrain_train,
                      "classifier_train": cls_train, "deeplab_train": seg_train,
                      "seenet": seenet_cfg, "cam": cam_cfg, "deeplab": deeplab_cfg})
    timer = Timer()
    started = time.perf_counter()
    if pretrain_cfg is not None and not backbone.exists():  # else a resumed run's file
        with timer("pretrain backbone"):
            pretrain_backbone(pretrain_cfg, pretrain_data, pretrain_train,
                              RunDir(root / "pretrain"), ctx=ctx, resume=args.resume,
                              progress=args.progress)

    def trained(cfg: ModelConfig, name: str, train_cfg, **kw) -> torch.nn.Module:
        stage = RunDir(root / name)
        if args.resume and stage.model_path.exists():
            return load_trained(cfg, stage.model_path).to(ctx.device)
        with timer(f"train {name}"):
            model, _ = train_model(cfg, data, train_cfg, stage, ctx=ctx, resume=args.resume,
                                   progress=args.progress, **kw)
        return model

    seenet = trained(seenet_cfg, "seenet", cls_train)
    cam = trained(cam_cfg, "cam", cls_train)
    scales = recipe["attention_scales"]
    with timer("attention"):
        for model, cfg, name in ((seenet, seenet_cfg, "seenet"), (cam, cam_cfg, "cam")):
            done = make_attention(model, cfg, data, root / f"attention_{name}",
                                    scales=scales, flip=True, ctx=ctx, skip_bad=args.skip_bad,
                                    progress=args.progress)
            cli.write_bad_inputs(RunDir(root / f"attention_{name}"), done.failed)
    with timer("score attention"):
        curves = {
            "plain CAM": attention_quality(data, root / "attention_cam"),
            "SeeNet S_A": attention_quality(data, root / "attention_seenet", branch="a"),
            "SeeNet max(S_A, S_B)": attention_quality(data, root / "attention_seenet"),
        }
        zones = attention_zones(data, root / "attention_seenet", branch="a")
        profiles = attention_profiles(data, {
            "plain CAM": (root / "attention_cam", None),
            "SeeNet S_A": (root / "attention_seenet", "a"),
            "SeeNet S_B": (root / "attention_seenet", "b"),
            "SeeNet max(S_A, S_B)": (root / "attention_seenet", None),
        }) if data.synthetic else {}
        ablation = (erasing_ablation(seenet, seenet_cfg, data, progress=args.progress)
                    if data.synthetic else {})
    with timer("pseudo labels"):
        done = make_pseudo_labels(data, root / "attention_seenet", root / "pseudo_labels",
                                    crf=args.crf, ctx=ctx, skip_bad=args.skip_bad,
                                    progress=args.progress)
        cli.write_bad_inputs(RunDir(root / "pseudo_labels"), done.failed)
        proxy = label_quality(data, root / "pseudo_labels")
    deeplab_proxy = trained(deeplab_cfg, "deeplab_proxy", seg_train,
                            labels_from=root / "pseudo_labels")
    deeplab_gt = trained(deeplab_cfg, "deeplab_gt", seg_train)
    with timer("evaluate"):
        scores = {
            "proxy": evaluate(deeplab_proxy, deeplab_cfg, data, crf=args.crf, ctx=ctx,
                              progress=args.progress),
            "gt": evaluate(deeplab_gt, deeplab_cfg, data, crf=args.crf, ctx=ctx,
                           progress=args.progress),
        }
    with timer("figures"):
        figure = draw_figure(data, root, deeplab_proxy, deeplab_cfg, args.figures)
        save_png(run.figures / "pipeline.png", figure)
    total = time.perf_counter() - started
    results = {
        "attention_miou": {k: c.best_miou for k, c in curves.items()},
        "attention_threshold": {k: c.best_threshold for k, c in curves.items()},
        "seenet_zone_counts": zones.counts.tolist(),
        "attention_profile": {k: p.as_dict() for k, p in profiles.items()},
        "erasing_ablation": {k: {"miou": a.curve.best_miou, **a.profile.as_dict()}
                             for k, a in ablation.items()},
        "proxy_label_miou": proxy.scores.miou,
        "proxy_label_ignored": proxy.ignored,
        "deeplab_proxy_miou": scores["proxy"].miou,
        "deeplab_gt_miou": scores["gt"].miou,
        "ratio": scores["proxy"].miou / scores["gt"].miou,
        "seconds": timer.seconds,
        "total_seconds": total,
    }
    run.write_json("results.json", results)
    run.write_text("report.md", report(data, results, curves, proxy, scores, zones,
                                           profiles, ablation))
    print(f"[pipeline] done in {total:.0f} s; report: {root / 'report.md'}")
    return results


def draw_figure(data, root: Path, model, cfg: ModelConfig, n: int) -> np.ndarray:
    """Rows: image | ground truth | plain CAM | SeeNet attention | proxy label | DeepLab."""
    rows = []
    dataset = load_dataset(data, "train")
    for i in range(min(n, len(dataset))):
        sample = dataset[i]
        cls = np.flatnonzero(sample.classes)
        cam = load_attention(root / "attention_cam" / f"{sample.name}.npz").fused[cls].max(0)
        see = load_attention(root / "attention_seenet" / f"{sample.name}.npz").fused[cls].max(0)
        proxy = read_label(root / "pseudo_labels" / f"{sample.name}.png")
        image = to_tensor(sample.image, cfg.normalizer)[None].to(next(model.parameters()).device)
        pred = predict_segmentation(model, image)[0].argmax(0).cpu().numpy().astype(np.uint8)
        rows.append([sample.image, sample.label, overlay(sample.image, cam),
                     overlay(sample.image, see), proxy, pred])
    return image_grid(rows)


def report(data, results: dict, curves: dict, proxy, scores: dict, zones,
           profiles: dict, ablation: dict) -> str:
    source = "the embedded synthetic dataset" if data.synthetic else f"VOC ({data.voc_root})"
    lines = [
        "# wsss pipeline report",
        "",
        f"Data: {source}. Pseudo-label numbers are on the training images, DeepLab numbers on "
        "the validation images. Every number below was measured by this run.",
        "",
        "## Attention maps as pseudo labels (train)",
        "",
        "Each map is turned into labels with a background threshold; the threshold is **tuned "
        "on ground truth** (an oracle, as is customary for CAM evaluation), so these numbers "
        "compare the maps, not a deployable method.",
        "",
        "| attention | mIoU | best background threshold |",
        "|---|---|---|",
    ]
    for name, curve in curves.items():
        lines.append(f"| {name} | {curve.best_miou:.1%} | {curve.best_threshold:.2f} |")
    gain = (results["attention_miou"]["SeeNet max(S_A, S_B)"]
            - results["attention_miou"]["plain CAM"]) * 100
    lines += [
        "",
        f"SeeNet max(S_A, S_B) - plain CAM: **{gain:+.1f} mIoU points**.",
        "",
        "### Where SeeNet erases (diagnostic)",
        "",
        "The ternary mask of S_A's maps (delta_h 0.7, delta_l 0.05) against the ground truth: "
        "S_B learns to classify from the potential zone, and S_C teaches it that the "
        "background zone holds no class. Erasing can extend the attention over the objects "
        "only when the potential zone is mostly object.",
        "",
        "| zone | share of object pixels | share of background pixels | object share of the zone |",
        "|---|---|---|---|",
        *[f"| {name} | {o:.1%} | {b:.1%} | {z:.1%} |" for name, o, b, z in zip(
            ZONES, zones.object_in_zones, zones.background_in_zones, zones.object_share)],
        "",
        *profile_section(profiles),
        *ablation_section(ablation),
        "## Proxy labels (SeeNet attention fused with saliency, train)",
        "",
        "| mIoU on labelled pixels | ignored (255) |",
        "|---|---|",
        f"| {proxy.scores.miou:.1%} | {proxy.ignored:.1%} |",
        "",
        "## DeepLab-LargeFOV (val)",
        "",
        "| trained on | mIoU |",
        "|---|---|",
        f"| proxy labels | {scores['proxy'].miou:.1%} |",
        f"| ground truth (upper bound) | {scores['gt'].miou:.1%} |",
        f"| ratio | **{results['ratio']:.1%}** |",
        "",
        "### Per-class IoU, DeepLab on proxy labels",
        "",
        scores["proxy"].to_table(),
        "",
        "## Figures",
        "",
        "Rows: image, ground truth, plain CAM, SeeNet attention, proxy label, DeepLab "
        "prediction.",
        "",
        "![pipeline](figures/pipeline.png)",
        "",
        "## Time",
        "",
        "| stage | seconds |",
        "|---|---|",
        *[f"| {k} | {v:.0f} |" for k, v in results["seconds"].items()],
        f"| **total** | **{results['total_seconds']:.0f}** |",
        "",
    ]
    return "\n".join(lines)


def profile_section(profiles: dict) -> list[str]:
    """The attention-profile table (synthetic data only: it needs the parts' positions)."""
    if not profiles:
        return []
    radius = next(iter(profiles.values())).radius
    return [
        "### Where the attention lies (diagnostic, synthetic data)",
        "",
        "Mean attention of each object's class on its discriminative part, on the rest of its "
        f"body, on the background within {radius} px of it and on the background farther from "
        "every object. The dataset's premise is a plain CAM that is high on the part and low on "
        "the body; SeeNet should raise the body without raising the near background.",
        "",
        "| attention | " + " | ".join(PROFILE_REGIONS) + " |",
        "|---|" + "---:|" * len(PROFILE_REGIONS),
        *[f"| {name} | " + " | ".join(f"{m:.2f}" for m in p.means) + " |"
          for name, p in profiles.items()],
        "",
    ]


def ablation_section(ablation: dict) -> list[str]:
    """S_B with other erased zones (synthetic data only: it erases the true parts)."""
    if not ablation:
        return []
    zones = {"learned": "S_A's attention zone (as trained)",
             "parts": "the ground-truth parts instead", "none": "nothing"}
    a = ablation["a"].curve.best_miou
    return [
        "### What S_B finds when other cells are erased (diagnostic, synthetic data)",
        "",
        "The trained SeeNet's S_B run again with three masks that differ only in the erased "
        "zone (the background zone stays S_A's): is a weak S_B the fault of S_A's attention "
        "zone, or does S_B find nothing new whatever is erased? One scale, no flip, so S_A "
        f"scores {a:.1%} here.",
        "",
        "| erased | S_B mIoU | max(S_A, S_B) mIoU | max - S_A | S_B on part / body / near bg |",
        "|---|---|---|---|---|",
        *[f"| {zones[zone]} | {ablation[f'b/{zone}'].curve.best_miou:.1%} | "
          f"{ablation[f'max/{zone}'].curve.best_miou:.1%} | "
          f"{(ablation[f'max/{zone}'].curve.best_miou - a) * 100:+.1f} | "
          + " / ".join(f"{m:.2f}" for m in ablation[f"b/{zone}"].profile.means[:3]) + " |"
          for zone in ERASING_ZONES],
        "",
    ]


if __name__ == "__main__":
    main()
