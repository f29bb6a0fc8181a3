"""Shared helpers of the benchmark scripts: the machine line, interleaved timing, tables.

Every script measures the two sides of its ratio in ONE process, at ONE thread count, and
interleaves them (A, B, A, B, ...), so that the load of a shared machine hits both sides alike.
The headline figure is the best of the repeats (noise only ever adds time); the median is
printed next to it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

__all__ = [
    "Timings",
    "Training",
    "add_common_args",
    "add_layout_arg",
    "best",
    "build_training",
    "classification_batch",
    "count_flops",
    "cpu_flags",
    "gflops",
    "interleaved_times",
    "machine_summary",
    "median",
    "print_load",
    "print_result",
    "print_table",
    "segmentation_batch",
    "setup",
    "training_step",
]

#: The /proc/cpuinfo flags that decide how fast fp32 / bf16 kernels run.
RELEVANT_FLAGS = (
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx512_bf16",
    "amx_tile",
    "amx_bf16",
)


def cpu_flags() -> list[str]:
    """The :data:`RELEVANT_FLAGS` that ``/proc/cpuinfo`` lists (empty off Linux)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    present = set(line.split(":", 1)[1].split())
                    return [flag for flag in RELEVANT_FLAGS if flag in present]
    except OSError:
        pass
    return []


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "n/a"
    return f"{one:.2f} (1 min) / {five:.2f} (5 min)"


def machine_summary() -> str:
    """One line: date, CPU, cores, flags, torch version, threads and the current load."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        f"{now} | {_cpu_model()}, {os.cpu_count()} cores, flags {' '.join(cpu_flags())} | "
        f"torch {torch.__version__} | threads {torch.get_num_threads()} | load {_load()}"
    )


def add_common_args(parser: argparse.ArgumentParser, repeats: int, warmup: int = 1) -> None:
    """Add ``--threads``, ``--repeats`` and ``--warmup`` to ``parser``."""
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: the machine is shared; ratios are taken at "
        "one thread count)",
    )
    parser.add_argument(
        "--repeats", type=int, default=repeats, help=f"timed repeats (default {repeats})"
    )
    parser.add_argument(
        "--warmup", type=int, default=warmup, help=f"untimed warm-up runs (default {warmup})"
    )


def setup(args: argparse.Namespace, title: str) -> None:
    """Set the thread count and print the title and the machine line."""
    if args.threads < 1 or args.repeats < 1 or args.warmup < 0:
        raise SystemExit("--threads and --repeats must be >= 1, --warmup >= 0")
    torch.set_num_threads(args.threads)
    print(f"== {title}")
    print(f"   {machine_summary()}")


@dataclass(frozen=True)
class Timings:
    """Seconds per timed call: ``wall`` clock and this process's ``cpu`` time.

    With one thread and a busy machine, ``cpu`` is the time the work itself took on one core
    (the rest of ``wall`` was spent waiting for a core).
    """

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


def interleaved_times(
    cases: Mapping[str, Callable[[], object]], repeats: int, warmup: int = 0
) -> dict[str, Timings]:
    """Run every case ``warmup`` times untimed, then ``repeats`` rounds of all cases in turn."""
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    times = {name: Timings() for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            times[name].cpu.append(time.process_time() - cpu)
            times[name].wall.append(time.perf_counter() - wall)
    return times


def best(times: Sequence[float]) -> float:
    """The best (smallest) of the repeats."""
    return min(times)


def median(times: Sequence[float]) -> float:
    """The median of the repeats."""
    return statistics.median(times)


def gflops(flops: float, seconds: float) -> float:
    """``flops / seconds`` in GFLOP/s."""
    return flops / seconds / 1e9


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Print a Markdown-style table with right-aligned columns."""
    cells = [[str(h) for h in headers]] + [
        [f"{c:.3f}" if isinstance(c, float) else str(c) for c in row] for row in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) for c, w in zip(row, widths)) + " |"

    print(line(cells[0]))
    print("|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    for row in cells[1:]:
        print(line(row))


def print_result(row: str, label: str, value: float, target: str, met: bool | None) -> None:
    """Print the ``RESULT`` line that ``run_all.py`` collects."""
    verdict = "" if met is None else ("  [met]" if met else "  [MISSED]")
    print(f"RESULT row {row}: {label} = {value:.3f} (target {target}){verdict}")


def print_load() -> None:
    """Print the load average (call it at the end of a script: was the machine busy?)."""
    print(f"   load at the end: {_load()}")


# --------------------------------------------------------------------------------------------
# Workloads shared by several scripts
# --------------------------------------------------------------------------------------------


def count_flops(fn: Callable[[], object]) -> int:
    """Run ``fn`` once under :class:`torch.utils.flop_counter.FlopCounterMode`; its FLOPs.

    The counter sees convolutions and matrix products (forward and backward), which are all
    but a sliver of a CNN's arithmetic. Doubles as a warm-up run.
    """
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def classification_batch(batch: int, size: int, num_classes: int = 20) -> dict[str, torch.Tensor]:
    """Random images ``(batch, 3, size, size)`` and 1-3 classes per image, seeded."""
    gen = torch.Generator().manual_seed(0)
    classes = torch.zeros(batch, num_classes)
    for n in range(batch):
        picked = torch.randperm(num_classes, generator=gen)[: 1 + n % 3]
        classes[n, picked] = 1.0
    return {"image": torch.randn(batch, 3, size, size, generator=gen), "classes": classes}


def segmentation_batch(batch: int, size: int, num_classes: int = 21) -> dict[str, torch.Tensor]:
    """Random images and blocky labels ``(batch, size, size)`` with 255 borders, seeded."""
    gen = torch.Generator().manual_seed(0)
    coarse = torch.randint(0, num_classes, (batch, 1, 8, 8), generator=gen).float()
    label = torch.nn.functional.interpolate(coarse, size=(size, size), mode="nearest")
    label = label[:, 0].long()
    label[:, :, :4] = 255
    return {"image": torch.randn(batch, 3, size, size, generator=gen), "label": label}


@dataclass(frozen=True)
class Training:
    """A VGG16 model in train mode, the recipe's optimizer, its step function and one batch."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    step_fn: Callable[..., tuple[torch.Tensor, Mapping[str, float]]]
    batch: dict[str, torch.Tensor]

    def loss(self, batch: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """The step function's loss on ``batch`` (default: the stored batch)."""
        return self.step_fn(self.model, self.batch if batch is None else batch)[0]

    def step(self) -> None:
        """One full training step: zero_grad, forward, loss, backward, SGD step."""
        self.optimizer.zero_grad(set_to_none=True)
        self.loss().backward()
        self.optimizer.step()


def build_training(
    model_name: str, batch: int, size: int, channels_last: bool = False
) -> Training:
    """``model_name`` (VGG16 backbone) with :func:`wsss.engine.build_sgd` and a random batch.

    ``"seenet"`` and ``"cam_classifier"`` get a classification batch,
    ``"deeplab_largefov"`` a segmentation batch; the optimizer is the recipe's SGD (momentum
    0.9, learning rate 1e-3). ``channels_last`` converts model and images as
    ``TrainConfig(channels_last=True)`` does.
    """
    from wsss.engine.optim import build_sgd
    from wsss.engine.steps import classifier_step, seenet_step, segmentation_step
    from wsss.models import create_model

    torch.manual_seed(0)
    model = create_model(model_name, backbone="vgg16").train()
    step_fn = {
        "seenet": seenet_step,
        "cam_classifier": classifier_step,
        "deeplab_largefov": segmentation_step,
    }[model_name]
    data = (
        segmentation_batch(batch, size)
        if model_name == "deeplab_largefov"
        else classification_batch(batch, size)
    )
    if channels_last:
        model.to(memory_format=torch.channels_last)
        data["image"] = data["image"].contiguous(memory_format=torch.channels_last)
    return Training(model, build_sgd(model, 1e-3), step_fn, data)


def training_step(
    model_name: str, batch: int, size: int, channels_last: bool = False
) -> Callable[[], None]:
    """One full training step of :func:`build_training`'s set-up, as a callable."""
    return build_training(model_name, batch, size, channels_last).step


def add_layout_arg(parser: argparse.ArgumentParser) -> None:
    """Add ``--channels-last`` (the memory format of model and images)."""
    parser.add_argument(
        "--channels-last",
        action="store_true",
        help="convert model and images to channels-last (TrainConfig(channels_last=True))",
    )
