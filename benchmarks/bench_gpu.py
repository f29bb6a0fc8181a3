"""GPU: training img/s of VGG16-LargeFOV (321^2) and SeeNet-VGG16 (224^2); attention img/s.

CUDA only: on a machine without CUDA it says so and exits with status 0.

Training: the full step of ``_common.build_training`` (zero_grad, forward, loss, backward, the
recipe's SGD) on a fixed random batch, for each variant:

``fp32``
    plain float32 (convolutions may use TF32, as cuDNN allows by default; the machine line
    prints the setting);
``bf16``
    the forward under ``torch.autocast(dtype=torch.bfloat16)`` (``TrainConfig(amp="bf16")``);
``channels_last``
    model and images in channels-last memory format (``TrainConfig(channels_last=True)``);
``bf16+channels_last``
    both;
``compile``
    ``torch.compile(model)`` (fp32); its compilation happens in the warm-up steps;
``compile+bf16+channels_last``
    all three.

Each variant gets img/s (best of the repeats; median beside it), its ratio to ``fp32`` and its
peak GPU memory (``torch.cuda.max_memory_allocated``: weights, optimizer state, activations).
Variants run one after the other, each on a freshly built model that is freed before the next,
so that each peak is its own (a GPU runs one job at a time: no need to interleave them).

Attention: ``CAMExtractor`` on SeeNet-VGG16 (``max(S_A, S_B)``, the four field scales and
flips) over a batch of VOC-size images, in fp32 and bf16 autocast.

    python benchmarks/bench_gpu.py                       # a few minutes on one GPU
    python benchmarks/bench_gpu.py --models deeplab --variants fp32 bf16 --steps 20
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass

import torch
from _common import add_common_args, build_training, print_load, print_table, setup

#: Model, image side and default batch of each training workload.
MODELS = {
    "deeplab": ("deeplab_largefov", 321, 10),  # the DeepLab recipe: batch 10 at 321^2
    "seenet": ("seenet", 224, 16),
}


@dataclass(frozen=True)
class Variant:
    """How a training step runs: autocast dtype, memory format, torch.compile."""

    amp: torch.dtype | None = None
    channels_last: bool = False
    compile: bool = False


VARIANTS = {
    "fp32": Variant(),
    "bf16": Variant(amp=torch.bfloat16),
    "channels_last": Variant(channels_last=True),
    "bf16+channels_last": Variant(amp=torch.bfloat16, channels_last=True),
    "compile": Variant(compile=True),
    "compile+bf16+channels_last": Variant(amp=torch.bfloat16, channels_last=True, compile=True),
}


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=list(MODELS),
                        help="training workloads (default: both)")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS),
                        help="training variants (default: all; fp32 is always run, as the base)")
    parser.add_argument("--deeplab-batch", type=_positive_int, default=MODELS["deeplab"][2],
                        help=f"DeepLab batch (default {MODELS['deeplab'][2]})")
    parser.add_argument("--seenet-batch", type=_positive_int, default=MODELS["seenet"][2],
                        help=f"SeeNet batch (default {MODELS['seenet'][2]})")
    parser.add_argument("--steps", type=_positive_int, default=10,
                        help="training steps per timed repeat (default 10)")
    parser.add_argument("--attention-images", type=_positive_int, default=8,
                        help="images per CAMExtractor call (default 8)")
    parser.add_argument("--attention-size", type=_positive_int, nargs=2, default=(375, 500),
                        metavar=("HEIGHT", "WIDTH"), help="attention image size (default 375 500)")
    parser.add_argument("--no-attention", dest="attention", action="store_false",
                        help="skip the attention stage")
    add_common_args(parser, repeats=3, warmup=3)
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parsed and checked arguments; ``fp32`` is added to the variants when missing."""
    args = build_parser().parse_args(argv)
    variants = list(dict.fromkeys(args.variants))
    if "fp32" not in variants:
        variants.insert(0, "fp32")
    args.variants = variants
    args.attention_size = tuple(args.attention_size)
    return args


def images_per_second(images: int, seconds: Sequence[float]) -> tuple[float, float]:
    """``(best, median)`` throughput of ``images`` processed in each of ``seconds``."""
    if not seconds or any(not (s > 0 and math.isfinite(s)) for s in seconds):
        raise ValueError(f"seconds: expected positive finite times, got {list(seconds)}")
    return images / min(seconds), images / statistics.median(seconds)


def make_step(
    model_name: str, batch: int, size: int, variant: Variant, device: torch.device
) -> tuple[Callable[[], None], torch.nn.Module]:
    """One training step of ``model_name`` under ``variant`` on ``device``, and the model."""
    training = build_training(model_name, batch, size, channels_last=variant.channels_last)
    model = training.model.to(device)  # keeps the memory format; the optimizer's params move
    data = {k: v.to(device) for k, v in training.batch.items()}
    net = torch.compile(model) if variant.compile else model
    optimizer, step_fn, amp = training.optimizer, training.step_fn, variant.amp

    def autocast() -> AbstractContextManager[object]:
        return nullcontext() if amp is None else torch.autocast(device.type, dtype=amp)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = step_fn(net, data)[0]
        loss.backward()
        optimizer.step()

    return step, model


def time_calls(
    fn: Callable[[], object], calls: int, repeats: int, warmup: int, sync: Callable[[], None]
) -> list[float]:
    """Seconds for ``calls`` calls of ``fn``, ``repeats`` times, after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        sync()
        times.append(time.perf_counter() - start)
    return times


def _free(device: torch.device) -> None:
    import gc

    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def bench_training(args: argparse.Namespace, device: torch.device) -> None:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for key in args.models:
        model_name, size, _ = MODELS[key]
        batch = args.deeplab_batch if key == "deeplab" else args.seenet_batch
        print(f"\n== training: {model_name} (VGG16), {size}x{size}, batch {batch}, "
              f"{args.steps} steps per repeat")
        rows, base = [], None
        for name in args.variants:
            _free(device)
            try:
                step, _ = make_step(model_name, batch, size, VARIANTS[name], device)
                times = time_calls(step, args.steps, args.repeats, args.warmup, sync)
            except torch.cuda.OutOfMemoryError:
                rows.append((name, "out of memory", "", "", ""))
                continue
            except Exception as exc:  # e.g. torch.compile without a working compiler
                rows.append((name, f"failed: {type(exc).__name__}: {exc}"[:60], "", "", ""))
                continue
            finally:
                step = None  # free the model before the next variant
            best_rate, median_rate = images_per_second(batch * args.steps, times)
            base = best_rate if name == "fp32" else base
            peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0
            ratio = f"{best_rate / base:.2f}" if base else "n/a"
            rows.append((name, f"{best_rate:.1f}", f"{median_rate:.1f}", ratio, f"{peak:.2f}"))
        print_table(("variant", "img/s (best)", "img/s (median)", "/ fp32", "peak GiB"), rows)


def bench_attention(args: argparse.Namespace, device: torch.device) -> None:
    from wsss.cam import FIELD_SCALES, CAMExtractor
    from wsss.models import create_model

    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    height, width = args.attention_size
    n = args.attention_images
    print(f"\n== attention: CAMExtractor, SeeNet-VGG16 max(S_A, S_B), scales {FIELD_SCALES} "
          f"+ flip, {n} images {width}x{height} per call")
    _free(device)
    torch.manual_seed(0)
    model = create_model("seenet", backbone="vgg16").to(device).eval()
    images = torch.rand(n, 3, height, width, device=device)
    labels = torch.zeros(n, 20, device=device)
    labels[torch.arange(n), torch.arange(n) % 20] = 1.0
    rows, base = [], None
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        extractor = CAMExtractor(model, branches=("a", "b"), scales=FIELD_SCALES, flip=True,
                                 amp_dtype=dtype)
        times = time_calls(lambda e=extractor: e(images, labels), 1, args.repeats,
                           max(1, args.warmup), sync)
        best_rate, median_rate = images_per_second(n, times)
        base = best_rate if base is None else base
        rows.append((name, f"{best_rate:.1f}", f"{median_rate:.1f}", f"{best_rate / base:.2f}"))
    print_table(("attention", "img/s (best)", "img/s (median)", "/ fp32"), rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if not torch.cuda.is_available():
        print("bench_gpu: CUDA is not available on this machine: nothing to measure.")
        return 0
    setup(args, "GPU training and attention throughput")
    device = torch.device("cuda")
    print(f"   {torch.cuda.get_device_name(device)} | CUDA {torch.version.cuda} | "
          f"cudnn.allow_tf32={torch.backends.cudnn.allow_tf32} | "
          f"matmul.allow_tf32={torch.backends.cuda.matmul.allow_tf32}")
    bench_training(args, device)
    if args.attention:
        bench_attention(args, device)
    print_load()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
