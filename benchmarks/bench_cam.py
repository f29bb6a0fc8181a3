"""Rows 3 and 3b: ``wsss.CAMExtractor`` (4 scales + flip) against bare forwards and the usual loop.

For each model (VGG16 CAM classifier and SeeNet, random weights: speed does not depend on
them) and the same images, four ways to spend the time, interleaved:

``backbone``
    the floor of row 3: the bare ``model.backbone`` forwards at the four scales, flips batched,
    inputs resized beforehand, under ``torch.inference_mode``;
``model``
    the bare ``model.class_maps`` forwards at the same sizes (backbone + head);
``extractor``
    ``CAMExtractor(model, scales=FIELD_SCALES, flip=True)(images, labels)``: resize, forward,
    upsample, flip back, fuse, normalise;
``field loop``
    the loop most WSSS code bases run: per image, per scale, per flip, a batch-1 forward
    under ``torch.no_grad``, every class map upsampled, fused in NumPy (row 3b). Its maps
    are checked to equal the extractor's.

Row 3 is ``extractor / backbone`` (target <= 1.10); the ratio of the FLOPs counted in the
two (``FLOP floor``) is the part of it the network's head makes unavoidable.

    python benchmarks/bench_cam.py                    # ~1.5 min at one thread
    python benchmarks/bench_cam.py --images 2 --height 375 --width 500 --repeats 3
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from _common import (
    Timings,
    add_common_args,
    best,
    count_flops,
    interleaved_times,
    median,
    print_load,
    print_result,
    print_table,
    setup,
)

from wsss import FIELD_SCALES, CAMExtractor
from wsss.models import create_model

TARGET = 1.10


def resized(images: torch.Tensor, scale: float) -> torch.Tensor:
    """``images`` at ``scale`` (bilinear), as the extractor resizes them."""
    if scale == 1.0:
        return images
    height, width = images.shape[-2:]
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False)


def field_loop(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """The usual per-image, per-scale, per-flip loop; returns ``(N, C, H, W)`` attention.

    Fusion as :class:`CAMExtractor`'s defaults: max over flips, sum over scales, each branch
    divided by its maximum, branches fused by maximum, classes not asked for zeroed.
    """
    n, _, height, width = images.shape
    out = np.zeros((n, labels.shape[1], height, width), np.float32)
    model.eval()
    with torch.no_grad():
        for i in range(n):
            per_branch: dict[str, np.ndarray] = {}
            for scale in FIELD_SCALES:
                flips: dict[str, list[np.ndarray]] = {}
                for flip in (False, True):
                    x = resized(images[i : i + 1], scale)
                    if flip:
                        x = x.flip(-1)
                    maps = model.class_maps(x, labels[i : i + 1])
                    for name, raw in maps.items():
                        up = F.interpolate(raw, size=(height, width), mode="bilinear",
                                           align_corners=False)
                        cam = np.maximum(up[0].numpy(), 0)
                        flips.setdefault(name, []).append(cam[..., ::-1] if flip else cam)
                for name, (plain, flipped) in flips.items():
                    fused = np.maximum(plain, flipped)
                    per_branch[name] = per_branch.get(name, 0) + fused
            wanted = labels[i].numpy() > 0
            normalised = []
            for cams in per_branch.values():
                peak = cams.reshape(cams.shape[0], -1).max(axis=1)[:, None, None]
                normalised.append(cams / np.maximum(peak + 1e-5, np.finfo(np.float32).tiny))
            out[i] = np.max(normalised, axis=0) * wanted[:, None, None]
    return out


@dataclass(frozen=True)
class ModelResult:
    """What :func:`measure` found for one model."""

    times: dict[str, Timings]
    flop_floor: float  # FLOPs of the extractor / FLOPs of the bare backbone forwards
    same_maps: bool  # the field loop's attention equals the extractor's


def measure(name: str, images: torch.Tensor, labels: torch.Tensor,
            args: argparse.Namespace) -> ModelResult:
    """Time the four cases of the module docstring for model ``name``, interleaved."""
    torch.manual_seed(0)
    model = create_model(name, backbone="vgg16", num_classes=20).eval()
    extractor = CAMExtractor(model, scales=FIELD_SCALES, flip=True)
    flipped = [torch.cat([x, x.flip(-1)]) for x in (resized(images, s) for s in FIELD_SCALES)]
    doubled = torch.cat([labels, labels])
    outputs: dict[str, np.ndarray] = {}

    def backbone() -> None:
        with torch.inference_mode():
            for x in flipped:
                model.backbone(x)

    def forwards() -> None:
        with torch.inference_mode():
            for x in flipped:
                model.class_maps(x, doubled)

    def extract() -> None:
        outputs["extractor"] = extractor(images, labels).fused.numpy()

    def loop() -> None:
        outputs["field loop"] = field_loop(model, images, labels)

    cases = {"backbone": backbone, "model": forwards, "extractor": extract, "field loop": loop}
    flops = {case: count_flops(cases[case]) for case in ("backbone", "extractor")}
    times = interleaved_times(cases, args.repeats, args.warmup)
    return ModelResult(
        times=times,
        flop_floor=flops["extractor"] / flops["backbone"],
        same_maps=np.allclose(outputs["extractor"], outputs["field loop"], atol=1e-4),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1, help="images per call (default 1)")
    parser.add_argument("--height", type=int, default=160, help="image height (default 160)")
    parser.add_argument("--width", type=int, default=224, help="image width (default 224)")
    parser.add_argument("--models", nargs="+", default=["cam_classifier", "seenet"],
                        choices=["cam_classifier", "seenet"])
    add_common_args(parser, repeats=2, warmup=0)
    args = parser.parse_args()
    setup(args, f"Rows 3/3b: CAMExtractor, scales {FIELD_SCALES} + flip, {args.images} image(s) "
          f"of {args.height}x{args.width}")

    gen = torch.Generator().manual_seed(0)
    images = torch.randn(args.images, 3, args.height, args.width, generator=gen)
    labels = torch.zeros(args.images, 20)
    labels[:, 3] = 1.0
    labels[1::2, 11] = 1.0
    results = {name: measure(name, images, labels, args) for name in args.models}

    rows = []
    for name, result in results.items():
        wall = {case: best(t.wall) for case, t in result.times.items()}
        cpu = {case: best(t.cpu) for case, t in result.times.items()}
        for case, t in result.times.items():
            rows.append((name, case, wall[case], median(t.wall), cpu[case],
                         f"{wall[case] / wall['backbone']:.3f}",
                         f"{cpu[case] / cpu['backbone']:.3f}"))
    print_table(("model", "case", "best s", "median s", "best cpu s", "/ backbone",
                 "/ backbone (cpu)"), rows)
    for name, result in results.items():
        wall = {case: best(t.wall) for case, t in result.times.items()}
        cpu = {case: best(t.cpu) for case, t in result.times.items()}
        print(f"   {name}: FLOP floor {result.flop_floor:.3f}; extractor / model forwards "
              f"{wall['extractor'] / wall['model']:.3f} (cpu "
              f"{cpu['extractor'] / cpu['model']:.3f}); field loop gives the same maps: "
              f"{result.same_maps}")
        ratio = wall["extractor"] / wall["backbone"]
        print_result("3", f"{name}: extractor / bare backbone", ratio,
                     f"<= {TARGET:.2f}; FLOP floor {result.flop_floor:.3f}", ratio <= TARGET)
        print_result("3b", f"{name}: field loop / extractor (speed-up)",
                     wall["field loop"] / wall["extractor"], "report", None)
    print_load()


if __name__ == "__main__":
    main()
