"""The method comparison over the synthetic presets: one run directory per preset, then a table.

Each preset runs :func:`wsss.engine.compare.compare_methods` in ``RUN_ROOT/<preset>`` with
``resume=True``, so a sweep can be continued, extended by seeds or methods, or run in parts
(several processes, each its own presets). ``--table`` only reads the finished runs and writes
``RUN_ROOT/presets.md`` and ``RUN_ROOT/presets.json``: per preset, mean +- sd over the seeds of
CAM, SeeNet's S_A, ``max(S_A, S_B)``, their seed-paired margin, the attention on objects and
on the background, proxy-label mIoU, DeepLab on SeeNet's proxies and on the ground truth. With
``--profiles`` (the default) each preset's CAM and SeeNet attention is also profiled on the
objects' discriminative parts, their bodies and the background near and far from them
(:func:`wsss.diagnostics.attention_profiles`, scene ground truth), into
``RUN_ROOT/<preset>/profiles.json`` and a third table.

    # DeepLab on the ground truth for every preset (backbone pretraining included)
    python benchmarks/synthetic_presets.py --methods --seeds 1 --ground-truth
    # then CAM and SeeNet over three seeds, DeepLab on their proxies for seed 0
    python benchmarks/synthetic_presets.py --methods cam seenet --seeds 3 --deeplab \\
        --deeplab-seeds 1 --ground-truth
    python benchmarks/synthetic_presets.py --table
    # a longer DeepLab schedule, in its own run root
    python benchmarks/synthetic_presets.py --run-root runs/presets_long --methods --seeds 1 \
        --ground-truth --deeplab-iterations 1600 --presets shape
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import torch

from wsss.balance import CLASS_WEIGHTINGS
from wsss.data import SYNTHETIC_PRESETS
from wsss.diagnostics import PROFILE_REGIONS, attention_profiles
from wsss.engine import DataConfig, load_dataset
from wsss.engine.compare import METHODS, CompareConfig, compare_methods
from wsss.engine.compare_results import MeanSD, MethodRun, paired_margin
from wsss.io import atomic_write


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run-root", default="runs/presets", help="one run directory per preset")
    parser.add_argument("--presets", nargs="+", choices=tuple(SYNTHETIC_PRESETS),
                        default=list(SYNTHETIC_PRESETS), help="presets, in this order")
    parser.add_argument("--methods", nargs="*", choices=tuple(METHODS), default=["cam", "seenet"])
    parser.add_argument("--seeds", type=int, default=3, help="training seeds 0 .. N-1")
    parser.add_argument("--deeplab", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--deeplab-seeds", type=int, help="DeepLab for the first N seeds only")
    parser.add_argument("--ground-truth", action=argparse.BooleanOptionalAction, default=False)
    parser.add_argument("--pretrain-iterations", type=int, help="backbone pretraining steps")
    parser.add_argument("--classifier-iterations", type=int, help="steps of every classifier")
    parser.add_argument("--deeplab-iterations", type=int, help="DeepLab steps (a longer schedule)")
    parser.add_argument("--deeplab-class-weighting", choices=CLASS_WEIGHTINGS,
                        help="DeepLab's pixel-loss class weights (default: none)")
    parser.add_argument("--train-images", type=int, default=DataConfig.synthetic_train,
                        help="training images per preset (default: %(default)s)")
    parser.add_argument("--val-images", type=int, default=DataConfig.synthetic_val,
                        help="validation images per preset (default: %(default)s)")
    parser.add_argument("--profiles", action=argparse.BooleanOptionalAction, default=True,
                        help="profile CAM and SeeNet attention on parts, bodies and background")
    parser.add_argument("--figures", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--table", action="store_true", help="only write the table")
    return parser.parse_args(argv)


def _stat(values: list[float]) -> MeanSD | None:
    return MeanSD.of(values) if values else None


def _fmt(stat: MeanSD | None, scale: float = 100.0, sign: bool = False) -> str:
    if stat is None:
        return "-"
    text = stat.format(scale)
    text = f"+{text}" if sign and stat.mean >= 0 else text
    return text if stat.n > 1 else f"{text} (n = 1)"


#: The methods whose attention ``--profiles`` profiles, and the width in pixels of the
#: near-background ring.
PROFILED = ("cam", "seenet")
PROFILE_RADIUS = 8


def profile_preset(folder: Path, data: DataConfig) -> dict[str, dict[str, float]]:
    """Part / body / background profile of each CAM and SeeNet run in ``folder``.

    Reads ``folder/results.json`` and each run's stored attention (SeeNet's ``max(S_A, S_B)``),
    writes ``folder/profiles.json`` (``{"<method>/<seed>": {region: mean attention}}``) and
    returns it; a ``profiles.json`` that already covers every run is read instead.
    """
    results = json.loads((folder / "results.json").read_text())
    sources: dict[str, tuple[str | Path, str | None]] = {
        f"{r['method']}/{r['seed']}": (folder / f"seed_{r['seed']}" / r["method"] / "attention",
                                       None)
        for r in results["runs"] if r["method"] in PROFILED}
    path = folder / "profiles.json"
    if path.exists():
        stored: dict[str, dict[str, float]] = json.loads(path.read_text())
        if set(sources) <= set(stored):
            return stored
    if not sources:
        return {}
    profiles = attention_profiles(load_dataset(data, "train"), sources, radius=PROFILE_RADIUS)
    record = {key: profile.as_dict() for key, profile in profiles.items()}
    with atomic_write(path, "w") as handle:
        handle.write(json.dumps(record, indent=1))
    return record


def preset_row(preset: str, results: dict[str, Any],
               profiles: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """One preset's numbers from its ``results.json`` (and ``profiles.json``, when given)."""
    runs = [MethodRun.from_dict(r) for r in results["runs"]]

    def values(method: str, key: str) -> list[float]:
        out = []
        for r in runs:
            if r.method != method:
                continue
            value = getattr(r.leak, key) if key in ("on_object", "on_background") else getattr(
                r, key)
            if value is not None:
                out.append(float(value))
        return out

    truth = results.get("ground_truth", [])
    methods = {r.method for r in runs}
    row: dict[str, Any] = {
        "preset": preset,
        "seeds": sorted({r.seed for r in runs}),
        "cam": _stat(values("cam", "attention_miou")),
        "s_a": _stat(values("seenet", "branch_a_miou")),
        "max": _stat(values("seenet", "attention_miou")),
        "margin": paired_margin(runs, "seenet", "cam") if {"cam", "seenet"} <= methods else None,
        "cam_object": _stat(values("cam", "on_object")),
        "cam_background": _stat(values("cam", "on_background")),
        "seenet_object": _stat(values("seenet", "on_object")),
        "seenet_background": _stat(values("seenet", "on_background")),
        "proxy": _stat(values("seenet", "proxy_miou")),
        "deeplab_cam": _stat(values("cam", "deeplab_miou")),
        "deeplab_seenet": _stat(values("seenet", "deeplab_miou")),
        "deeplab_gt": _stat([t["miou"] for t in truth]),
        "gt_lowest_class": min((t["min_class_iou"] for t in truth), default=math.nan),
        "gt_classes": truth[0]["class_iou"] if truth else [],
    }
    for method in PROFILED:
        for region in PROFILE_REGIONS:
            row[f"{method} {region}"] = _stat(
                [v[region] for k, v in sorted((profiles or {}).items())
                 if k.split("/")[0] == method])
    return row


def write_table(root: Path, presets: list[str]) -> None:
    rows = []
    for preset in presets:
        path = root / preset / "results.json"
        if path.exists():
            profiles = root / preset / "profiles.json"
            rows.append(preset_row(preset, json.loads(path.read_text()),
                                   json.loads(profiles.read_text()) if profiles.exists() else None))
    header = ("preset", "seeds", "CAM", "S_A", "max(S_A, S_B)", "margin (points)",
              "proxy labels", "DeepLab SeeNet proxy", "DeepLab CAM proxy", "DeepLab GT",
              "GT lowest class")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        lines.append("| " + " | ".join((
            f"`{r['preset']}`", ",".join(map(str, r["seeds"])) or "-", _fmt(r["cam"]),
            _fmt(r["s_a"]), _fmt(r["max"]), _fmt(r["margin"], sign=True), _fmt(r["proxy"]),
            _fmt(r["deeplab_seenet"]), _fmt(r["deeplab_cam"]), _fmt(r["deeplab_gt"]),
            "-" if math.isnan(r["gt_lowest_class"]) else f"{100 * r['gt_lowest_class']:.1f}",
        )) + " |")
    lines += ["", "Attention on the ground truth's objects / on its background (percent):", "",
              "| preset | CAM on objects | CAM on background | SeeNet on objects | "
              "SeeNet on background |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| `{r['preset']}` | {_fmt(r['cam_object'])} | "
                     f"{_fmt(r['cam_background'])} | {_fmt(r['seenet_object'])} | "
                     f"{_fmt(r['seenet_background'])} |")
    lines += ["", "Attention on the objects' parts, their bodies, the background within "
              f"{PROFILE_RADIUS} px of them and the rest of it, CAM / SeeNet (percent):", "",
              "| preset | " + " | ".join(PROFILE_REGIONS) + " |", "|---|---|---|---|---|"]
    for r in rows:
        cells = [f"{_fmt(r['cam ' + region])} / {_fmt(r['seenet ' + region])}"
                 for region in PROFILE_REGIONS]
        lines.append(f"| `{r['preset']}` | " + " | ".join(cells) + " |")
    (root / "presets.md").write_text("\n".join(lines) + "\n")
    record = [{k: (v.__dict__ if isinstance(v, MeanSD) else v) for k, v in r.items()}
              for r in rows]
    (root / "presets.json").write_text(json.dumps(record, indent=1))
    print("\n".join(lines))


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    root = Path(args.run_root)
    if not args.table:
        torch.set_num_threads(args.threads)
        iterations = {k: v for k, v in (("pretrain", args.pretrain_iterations),
                                        ("classifier", args.classifier_iterations),
                                        ("deeplab", args.deeplab_iterations)) if v is not None}
        for preset in args.presets:
            config = CompareConfig(
                data=DataConfig(synthetic_preset=preset, synthetic_train=args.train_images,
                                synthetic_val=args.val_images), methods=tuple(args.methods),
                seeds=tuple(range(args.seeds)), deeplab=args.deeplab,
                deeplab_seeds=args.deeplab_seeds, ground_truth=args.ground_truth,
                iterations=iterations, figures=args.figures,
                deeplab_class_weighting=args.deeplab_class_weighting)
            print(f"== {preset}", flush=True)
            compare_methods(config, root / preset, resume=True, progress=False)
            if args.profiles:
                profile_preset(root / preset, config.data)
    write_table(root, args.presets)


if __name__ == "__main__":
    main()
