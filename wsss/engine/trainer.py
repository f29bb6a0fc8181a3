"""An iteration-based training loop: poly-decayed SGD, gradient accumulation, DDP, resume.

One loop trains every ``wsss`` model; what differs is the *step function* that turns a batch
into a loss (:mod:`wsss.engine.steps`). The loop guarantees:

- **Effective batch.** ``batch_size`` is the global number of images per optimizer step:
  ``batch_size = micro_batch * world_size * accumulation``. With DDP the gradients of the
  non-final micro-steps are not synchronised (``no_sync``).
- **Deterministic data order.** Epoch ``e`` uses :class:`~torch.utils.data.DistributedSampler`
  with ``seed`` and ``set_epoch(e)`` (also for a single process, with one replica), so the
  images of every global step are the same whatever the number of processes.
  Augmentation is seeded per ``(seed, epoch, index)`` by
  :class:`~wsss.data.loader.AugmentedDataset`, and the loader draws from its own generator,
  never the global one.
- **Resume.** Rank 0 writes ``checkpoint.pt`` atomically every ``checkpoint_every`` steps with
  the model, optimizer, scheduler, iteration and RNG state, and its SHA-256; the one it
  replaces becomes ``checkpoint.prev.pt``. ``resume=True`` continues from the latest one, or
  from the previous one (with a warning naming the damaged file, which is set aside as
  ``checkpoint.pt.corrupt``) when the latest is damaged; it skips the batches already seen in
  the current epoch and reproduces the uninterrupted run.
- **One run per directory.** Rank 0 holds the run directory's :class:`~wsss.engine.rundir.RunLock`
  while it trains: a second run on the same directory is refused at once.
- **CUDA.** ``amp="bf16"`` / ``"fp16"`` run the forward under autocast (fp16 with a gradient
  scaler), ``channels_last=True`` converts model and images. Neither is a default: on CPU bf16
  is hundreds of times slower than fp32.
"""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from .._validation import MAX_COUNT, check_bool, check_choice, check_int, check_real
from ..balance import CLASS_WEIGHTINGS
from ..data.loader import pad_collate
from ..io import load_latest_checkpoint, save_checkpoint
from .distributed import DistContext
from .optim import LRMultipliers, build_adamw, build_sgd, poly_lr_scheduler
from .resources import resolve_num_workers
from .rundir import RunDir, fill_missing_fields, to_jsonable

__all__ = ["StepFn", "TrainConfig", "TrainResult", "train"]

#: Largest batch a training may ask for.
MAX_BATCH = 2**12

#: ``step(model, batch) -> (loss, logs)``: the loss to backpropagate and floats to log.
StepFn = Callable[[nn.Module, Mapping[str, Any]], tuple[Tensor, Mapping[str, float]]]

# Fields that may change between an interrupted run and its resumption.
_RESUMABLE_CHANGES = frozenset({"checkpoint_every", "log_every", "num_workers"})


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of one training run (defaults: DeepLab-LargeFOV's recipe).

    The recipe: :ref:`How SeeNet works, section 7 <seenet-deeplab>`.

    Attributes
    ----------
    iterations
        Optimizer steps.
    batch_size
        Images per optimizer step over all processes (the effective batch).
    micro_batch
        Images per forward pass on one process; ``None`` means ``batch_size / world_size``
        (no accumulation). ``batch_size`` must be a multiple of ``micro_batch * world_size``.
    optimizer
        ``"sgd"`` (the papers' recipe, :func:`~wsss.engine.optim.build_sgd`) or ``"adamw"``
        (:func:`~wsss.engine.optim.build_adamw`, for the CPU demos trained from scratch).
    lr, momentum, weight_decay, power
        Optimizer settings (``momentum`` is SGD's) and the poly schedule
        ``lr * (1 - it / iterations) ** power``.
    multipliers
        Per-role learning-rate multipliers (classifier x10, bias x20, ...).
    seed
        Seeds the data order, the augmentation and the global RNG (dropout).
    num_workers
        DataLoader workers per process; ``None`` (the default) picks
        :func:`~wsss.engine.resources.default_num_workers`: 0 on CPU, up to 8 on CUDA. The
        result does not depend on it. The workers live for the whole run (one loader over all
        epochs), and on CUDA batches go through pinned memory.
    checkpoint_every, log_every
        In optimizer steps.
    amp
        ``"none"``, ``"bf16"`` or ``"fp16"`` (autocast; meant for CUDA).
    channels_last
        Use the channels-last memory format (helps convolutions on recent GPUs).
    class_weighting
        Class weights of a segmentation network's pixel loss, from the training labels' class
        frequencies: ``"none"`` (the papers' plain cross-entropy), ``"inverse"`` or
        ``"sqrt_inverse"`` (:func:`~wsss.balance.class_balance_weights`); the trained model's
        logits are then shifted back (:func:`~wsss.balance.logit_adjustment`). For data with
        many classes whose pixels are few beside the background's; classifiers take ``"none"``.

    Examples
    --------
    An effective batch of 8 on 2 processes, 2 images per forward pass: 2 accumulation steps.

    >>> config = TrainConfig(iterations=100, batch_size=8, micro_batch=2)
    >>> config.accumulation(world_size=2)
    (2, 2)
    >>> TrainConfig(iterations=100, batch_size=8).accumulation(world_size=2)  # no accumulation
    (4, 1)
    """

    iterations: int
    batch_size: int = 10
    micro_batch: int | None = None
    optimizer: Literal["sgd", "adamw"] = "sgd"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 5e-4
    power: float = 0.9
    multipliers: LRMultipliers = field(default_factory=LRMultipliers)
    seed: int = 0
    num_workers: int | None = None
    checkpoint_every: int = 500
    log_every: int = 10
    amp: Literal["none", "bf16", "fp16"] = "none"
    channels_last: bool = False
    class_weighting: Literal["none", "inverse", "sqrt_inverse"] = "none"

    def __post_init__(self) -> None:
        for name in ("iterations", "batch_size", "checkpoint_every", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
            check_int(name, value, maximum=MAX_COUNT if name != "batch_size" else MAX_BATCH)
        check_int("seed", self.seed, minimum=0)
        check_real("momentum", self.momentum, minimum=0.0, maximum=1.0, exclusive_maximum=True)
        check_real("weight_decay", self.weight_decay, minimum=0.0)
        check_real("power", self.power, minimum=0.0, exclusive_minimum=True)
        check_bool("channels_last", self.channels_last)
        if not isinstance(self.multipliers, LRMultipliers):
            raise TypeError(f"multipliers: expected LRMultipliers, got "
                            f"{type(self.multipliers).__name__}")
        if self.num_workers is not None:
            resolve_num_workers(self.num_workers, "cpu")  # raises on a bad value
        if self.micro_batch is not None and (
            isinstance(self.micro_batch, bool) or not isinstance(self.micro_batch, int)
            or self.micro_batch < 1
        ):
            raise ValueError(f"micro_batch: expected a positive int, got {self.micro_batch!r}")
        if self.optimizer not in ("sgd", "adamw"):
            raise ValueError(f"optimizer: expected 'sgd' or 'adamw', got {self.optimizer!r}")
        if self.amp not in ("none", "bf16", "fp16"):
            raise ValueError(f"amp: expected 'none', 'bf16' or 'fp16', got {self.amp!r}")
        check_real("lr", self.lr, minimum=0.0, exclusive_minimum=True)
        check_choice("class_weighting", self.class_weighting, CLASS_WEIGHTINGS)

    def accumulation(self, world_size: int) -> tuple[int, int]:
        """``(micro_batch, accumulation_steps)`` for ``world_size`` processes."""
        micro = self.micro_batch or self.batch_size // world_size
        per_step = micro * world_size
        if micro < 1 or self.batch_size % per_step:
            raise ValueError(
                f"batch_size: {self.batch_size} is not a multiple of micro_batch ({micro}) "
                f"x world size ({world_size})"
            )
        return micro, self.batch_size // per_step


@dataclass(frozen=True)
class TrainResult:
    """How a call to :func:`train` ended.

    Attributes
    ----------
    iteration
        Optimizer steps completed (including those of earlier, resumed runs).
    completed
        ``iteration == config.iterations``.
    last_loss
        The mean loss of the last step (of this process), NaN if no step ran.

    Examples
    --------
    >>> result = TrainResult(iteration=3, completed=False, last_loss=0.7)  # stopped early
    >>> result.completed, result.iteration
    (False, 3)
    """

    iteration: int
    completed: bool
    last_loss: float


def _to_device(batch: Mapping[str, Any], device: torch.device, channels_last: bool) -> dict:
    out: dict[str, Any] = {}
    for key, value in batch.items():
        if isinstance(value, Tensor):
            value = value.to(device, non_blocking=True)
            if channels_last and key == "image" and value.ndim == 4:
                value = value.contiguous(memory_format=torch.channels_last)
        out[key] = value
    return out


class _EpochIndexed(Dataset):
    """Item ``(epoch, index)`` is ``dataset[index]`` after ``dataset.set_epoch(epoch)``.

    One ``DataLoader`` then serves every epoch: the epoch travels with each index to whichever
    worker draws it, so the workers can live for the whole run.
    """

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._epoch: int | None = None

    def __getitem__(self, key: tuple[int, int]) -> Any:
        epoch, index = key
        if epoch != self._epoch and hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
            self._epoch = epoch
        return self.dataset[index]


def _batches(
    dataset: Dataset,
    config: TrainConfig,
    ctx: DistContext,
    micro: int,
    start: int,
) -> Iterator[Mapping[str, Any]]:
    """Micro-batches from global micro-step ``start`` on, epoch after epoch."""
    sampler: DistributedSampler = DistributedSampler(
        dataset, num_replicas=ctx.world_size, rank=ctx.rank, shuffle=True, seed=config.seed,
        drop_last=True,
    )
    steps_per_epoch = len(sampler) // micro
    if steps_per_epoch == 0:
        raise ValueError(
            f"dataset: {len(dataset)} images are too few for a micro-batch of {micro} "  # type: ignore[arg-type]
            f"on {ctx.world_size} process(es)"
        )
    first_epoch, skip = divmod(start, steps_per_epoch)

    def keys() -> Iterator[tuple[int, int]]:
        # Every epoch contributes whole micro-batches, so no batch spans two epochs.
        epoch, first = first_epoch, skip * micro
        while True:
            sampler.set_epoch(epoch)
            for index in list(sampler)[first : steps_per_epoch * micro]:
                yield epoch, index
            epoch, first = epoch + 1, 0

    workers = resolve_num_workers(config.num_workers, ctx.device)
    loader = DataLoader(
        _EpochIndexed(dataset),
        batch_size=micro,
        sampler=keys(),
        num_workers=workers,
        drop_last=True,
        collate_fn=pad_collate,  # images of different sizes are padded to the batch's largest
        generator=torch.Generator().manual_seed(config.seed + first_epoch),
        pin_memory=ctx.device.type == "cuda",
    )
    yield from loader


def _check_resumable(saved: Mapping[str, Any], config: TrainConfig) -> None:
    current = to_jsonable(config)
    # a field the checkpoint lacks was added to TrainConfig later: the run used its default
    saved = fill_missing_fields(saved, config)
    changed = sorted(
        k for k in set(saved) | set(current)
        if k not in _RESUMABLE_CHANGES and saved.get(k) != current.get(k)
    )
    if changed:
        raise ValueError(
            f"resume: the checkpoint was made with a different config ({', '.join(changed)}); "
            "start a new run directory or restore the old settings"
        )


def train(
    model: nn.Module,
    dataset: Dataset,
    step: StepFn,
    config: TrainConfig,
    run: RunDir | None = None,
    *,
    ctx: DistContext | None = None,
    resume: bool = False,
    stop_after: int | None = None,
    progress: bool = True,
    desc: str = "train",
    finalize: Callable[[nn.Module], None] | None = None,
) -> TrainResult:
    """Train ``model`` in place with poly SGD; see the module docstring for the guarantees.

    Parameters
    ----------
    model
        A module with ``parameter_groups()`` (every ``wsss`` model has one).
    dataset
        Yields dicts of tensors (e.g. :class:`~wsss.data.loader.AugmentedDataset`): ``image``
        ``float32`` ``(3, H, W)``, ``classes`` ``float32`` ``(C,)`` and, for segmentation,
        ``label`` ``int64`` ``(H, W)``; the loader stacks them into batches of ``micro_batch``.
    step
        ``step(model, batch) -> (loss, logs)``, see :mod:`wsss.engine.steps`.
    config
        The hyper-parameters.
    run
        Where rank 0 logs, checkpoints and saves ``model.pt``; ``None`` keeps nothing.
    ctx
        The process's place in a torchrun job (:func:`~wsss.engine.distributed.init_distributed`).
    resume
        Continue from ``run.checkpoint_path`` (or ``checkpoint.prev.pt`` if it is damaged) if
        one exists.
    stop_after
        Stop (with a checkpoint) once this many steps are done, as an interruption would.
    progress
        Show a tqdm bar on rank 0.
    desc
        Name of the stage in logs and the progress bar.
    finalize
        Called on the model, on every process, once the last step is done and before
        ``model.pt`` is written (e.g. the logit adjustment of a class-weighted loss); the
        checkpoint keeps the weights as trained, so a resumed run finalizes them again.

    Returns
    -------
    TrainResult
        The step reached, whether it is the last, and the last loss.

    Examples
    --------
    Two steps of a tiny classifier on four 48-px synthetic images, two per step:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from wsss.data.loader import AugmentedDataset
    >>> from wsss.data.synthetic import SyntheticVOC
    >>> from wsss.data.transforms import TORCHVISION
    >>> from wsss.engine.steps import classifier_step
    >>> from wsss.models import create_model
    >>> model = create_model("cam_classifier", backbone="resnet_tiny")
    >>> images = AugmentedDataset(SyntheticVOC(4, image_size=48), None, TORCHVISION, seed=0)
    >>> config = TrainConfig(iterations=2, batch_size=2)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     result = train(model, images, classifier_step, config, RunDir(tmp), progress=False)
    ...     saved = sorted(p.name for p in Path(tmp).iterdir())
    >>> result.iteration, result.completed, saved
    (2, True, ['checkpoint.pt', 'metrics.jsonl', 'model.pt'])
    """
    from ._arguments import check_stage_args

    check_stage_args(model=model, config=config, ctx=ctx, resume=resume, stop_after=stop_after,
                     progress=progress)
    if run is not None:
        check_stage_args(run=run)
    if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
        raise TypeError(f"dataset: expected a map-style dataset, got {type(dataset).__name__}")
    if not callable(step):
        raise TypeError(f"step: expected a callable (model, batch) -> (loss, logs), got "
                        f"{type(step).__name__}")
    if not isinstance(desc, str):
        raise TypeError(f"desc: expected a str, got {type(desc).__name__}")
    if finalize is not None and not callable(finalize):
        raise TypeError(f"finalize: expected a callable (model) -> None, got "
                        f"{type(finalize).__name__}")
    ctx = ctx or DistContext()
    with run.lock() if run is not None and ctx.is_main else nullcontext():
        return _train(model, dataset, step, config, run, ctx, resume, stop_after, progress, desc,
                      finalize)


def _train(
    model: nn.Module,
    dataset: Dataset,
    step: StepFn,
    config: TrainConfig,
    run: RunDir | None,
    ctx: DistContext,
    resume: bool,
    stop_after: int | None,
    progress: bool,
    desc: str,
    finalize: Callable[[nn.Module], None] | None = None,
) -> TrainResult:
    micro, accumulation = config.accumulation(ctx.world_size)
    model.to(ctx.device)
    if config.channels_last:
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    if config.optimizer == "sgd":
        optimizer: torch.optim.Optimizer = build_sgd(
            model, config.lr, momentum=config.momentum, weight_decay=config.weight_decay,
            multipliers=config.multipliers,
        )
    else:
        optimizer = build_adamw(
            model, config.lr, weight_decay=config.weight_decay, multipliers=config.multipliers
        )
    scheduler = poly_lr_scheduler(optimizer, config.iterations, power=config.power)
    use_scaler = config.amp == "fp16" and ctx.device.type == "cuda"
    scaler = torch.amp.GradScaler(ctx.device.type, enabled=use_scaler)

    start = 0
    torch.manual_seed(config.seed)
    if resume and run is not None and (
        run.checkpoint_path.exists() or run.previous_checkpoint_path.exists()
    ):
        state, used = load_latest_checkpoint(run.checkpoint_path, map_location=ctx.device)
        if ctx.is_main and used != run.checkpoint_path and run.checkpoint_path.exists():
            # keep it for inspection, out of the way: the next save must not rotate it into
            # checkpoint.prev.pt in place of the good one
            os.replace(run.checkpoint_path, f"{run.checkpoint_path}.corrupt")
        _check_resumable(state["config"], config)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if use_scaler and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["rng_cpu"])
        if ctx.device.type == "cuda" and state.get("rng_cuda") is not None:
            torch.cuda.set_rng_state(state["rng_cuda"], ctx.device)
        start = int(state["iteration"])
        if ctx.is_main:
            run.truncate_metrics(after_iteration=start)

    def save(iteration: int) -> None:
        if run is None or not ctx.is_main:
            return
        save_checkpoint(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "scaler": scaler.state_dict() if use_scaler else {},
                "iteration": iteration,
                "rng_cpu": torch.get_rng_state(),
                "rng_cuda": torch.cuda.get_rng_state(ctx.device)
                if ctx.device.type == "cuda" else None,
                "config": to_jsonable(config),
            },
            run.checkpoint_path,
            keep_previous=True,
        )

    net: nn.Module = model
    if ctx.distributed:
        net = DistributedDataParallel(
            model, device_ids=[ctx.local_rank] if ctx.device.type == "cuda" else None
        )
    net.train()
    autocast = (
        torch.autocast(ctx.device.type, dtype=torch.bfloat16 if config.amp == "bf16"
                       else torch.float16)
        if config.amp != "none" else nullcontext()
    )
    batches = _batches(dataset, config, ctx, micro, start * accumulation)
    bar = tqdm(
        total=config.iterations, initial=start, desc=desc, disable=not (progress and ctx.is_main),
        dynamic_ncols=True, leave=False,
    )
    last_loss = math.nan
    iteration = start
    end = config.iterations if stop_after is None else min(stop_after, config.iterations)
    try:
        for iteration in range(start + 1, end + 1):
            total = 0.0
            sums: dict[str, float] = {}
            for k in range(accumulation):
                batch = _to_device(next(batches), ctx.device, config.channels_last)
                sync = k == accumulation - 1 or not ctx.distributed
                with (nullcontext() if sync else net.no_sync()), autocast:  # type: ignore[operator]
                    loss, logs = step(net, batch)
                scaler.scale(loss / accumulation).backward()
                total += float(loss.detach()) / accumulation
                for key, value in logs.items():
                    sums[key] = sums.get(key, 0.0) + float(value) / accumulation
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
            last_loss = total
            if not math.isfinite(total):
                raise FloatingPointError(
                    f"{desc}: the loss became {total} at iteration {iteration}; lower the lr"
                )
            bar.update(1)
            bar.set_postfix(loss=f"{total:.4f}")
            if run is not None and ctx.is_main and (
                iteration % config.log_every == 0 or iteration == config.iterations
            ):
                run.log({"stage": desc, "iteration": iteration, "loss": total,
                         "lr": optimizer.param_groups[0]["lr"], **sums})
            if iteration % config.checkpoint_every == 0 or iteration == end:
                save(iteration)
    finally:
        bar.close()
        if net is not model:
            # DDP's reducer sits in reference cycles: free it (and the process group handles it
            # holds) now, not at some later collection or at interpreter exit, where a late
            # destructor can abort the process after the group is gone.
            del net
            gc.collect()
    done = iteration >= config.iterations
    if done and finalize is not None:
        finalize(model)
    if done and run is not None and ctx.is_main:
        save_checkpoint(model.state_dict(), run.model_path)
    ctx.barrier()
    return TrainResult(iteration=iteration, completed=done, last_loss=last_loss)

