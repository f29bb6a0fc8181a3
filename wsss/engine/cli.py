"""Command-line arguments shared by the example scripts, and their translation into configs.

Flags never trap: booleans are ``--flag`` / ``--no-flag`` pairs (never ``type=bool``), every
default is shown by ``--help``, and with no arguments each script runs on the embedded
synthetic dataset.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..data.sample import Sample
from ..data.synthetic import SYNTHETIC_PRESETS
from . import preflight
from .build import class_names
from .config import (
    DATASETS,
    VOC_LABELS,
    WEIGHT_FORMATS,
    DataConfig,
    ModelConfig,
    recipe_for,
    with_changes,
)
from .preflight import PreflightError
from .resources import set_threads as _set_threads
from .runconfig import IDENTITY_FIELDS, PriorRun, merge, read_prior_run
from .rundir import RunDir
from .trainer import TrainConfig

__all__ = [
    "DATA_HELP",
    "FLAGS",
    "add_data_args",
    "add_model_args",
    "add_runtime_args",
    "add_train_args",
    "check_batch",
    "check_checkpoint",
    "check_data",
    "check_outputs",
    "check_weights",
    "data_config",
    "device_arg",
    "model_config",
    "open_run",
    "prior_run",
    "resolve",
    "run",
    "scratch_warning",
    "set_threads",
    "train_config",
    "world_size",
    "write_bad_inputs",
]


#: The command-line flag of each argument the library names in its messages
#: (:mod:`wsss.engine.preflight`, :mod:`wsss.engine.runconfig`).
FLAGS: Mapping[str, str] = MappingProxyType({
    "dataset": "--dataset",
    "root": "--data-root",
    "train_split": "--train-split",
    "val_split": "--val-split",
    "train_list": "--train-list",
    "val_list": "--val-list",
    "sbd_root": "--sbd-root",
    "voc_labels": "--voc-labels",
    "labels_file": "--labels-file",
    "classes_file": "--classes-file",
    "annotations_dir": "--annotations-dir",
    "mask_dir": "--mask-dir",
    "saliency_dir": "--saliency-dir",
    "synthetic_train": "--synthetic-train",
    "synthetic_val": "--synthetic-val",
    "image_size": "--image-size",
    "seed": "--data-seed",
    "synthetic_preset": "--synthetic-preset",
    "synthetic_part_prob": "--synthetic-part-prob",
    "checkpoint": "--checkpoint",
    "weights": "--weights",
    "attention_dir": "--attention-dir",
    "labels_dir": "--labels-dir",
    "name": "--model",
    "backbone": "--backbone",
    "weights_format": "--weights-format",
    "proxy": "--proxy",
    "refine": "--refine",
})

_DATA_FLAGS = {  # DataConfig field -> argparse dest
    "dataset": "dataset", "root": "data_root", "train_split": "train_split",
    "val_split": "val_split", "train_list": "train_list", "val_list": "val_list",
    "sbd_root": "sbd_root", "voc_labels": "voc_labels", "labels_file": "labels_file",
    "classes_file": "classes_file", "annotations_dir": "annotations_dir",
    "mask_dir": "mask_dir", "saliency_dir": "saliency_dir",
    "synthetic_train": "synthetic_train", "synthetic_val": "synthetic_val",
    "image_size": "image_size", "seed": "data_seed", "synthetic_preset": "synthetic_preset",
}

DATA_HELP = """\
data (default: the embedded synthetic dataset, no download). What each --dataset needs:
  synthetic  nothing (--synthetic-train/--synthetic-val/--image-size/--data-seed size it;
             --synthetic-preset picks the generator)
  voc        --data-root (holds VOCdevkit/VOC2012); the train_aug split needs --sbd-root
             (SBD's benchmark_RELEASE) or the field's list as --train-list train_aug.txt
             (then --voc-labels aug reads SegmentationClassAug); proxy labels need
             --saliency-dir
  coco       --data-root (holds train2014/, val2014/, annotations/); masks are rendered
             with pycocotools (pip install 'wsss[coco]') or read from --mask-dir; proxy
             labels need --saliency-dir
  folder     --data-root (holds images/ and labels.csv or labels.json; optional
             classes.txt, masks/, saliency/, splits/train.txt and splits/val.txt: without
             split lists the whole folder is both the training and the validation set)
A later stage given an earlier run's output (--checkpoint, --attention-dir, --labels-dir)
reads the data flags from that run's config.json; repeat them only to check."""


def add_data_args(parser: argparse.ArgumentParser) -> None:
    """Add the data flags (``--dataset``, ``--data-root``, ...); see :func:`data_config`.

    Every flag defaults to ``None`` ("not given"), so that a value read from an earlier run
    (:func:`prior_run`) can fill it in and a given one can be checked against it.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_data_args(parser)
    >>> args = parser.parse_args(["--synthetic-train", "8", "--image-size", "48"])
    >>> args.dataset, args.data_root, args.synthetic_train, args.image_size
    (None, None, 8, 48)
    """
    g = parser.add_argument_group("data", DATA_HELP)
    g.add_argument("--dataset", choices=DATASETS,
                   help="which data: synthetic (default), voc, coco or folder (see above)")
    g.add_argument("--data-root", help="the dataset's folder (voc, coco, folder)")
    g.add_argument("--voc-root", help="same as --dataset voc --data-root VOC_ROOT")
    g.add_argument("--train-split", help="training split name (default: voc train_aug, coco "
                                         "train2014, folder splits/train.txt if present)")
    g.add_argument("--val-split", help="validation split name (default: voc val, coco "
                                       "val2014, folder splits/val.txt if present)")
    g.add_argument("--train-list", help="image list file replacing the training split's "
                                        "(voc: train_aug.txt; folder: any list)")
    g.add_argument("--val-list", help="image list file replacing the validation split's")
    g.add_argument("--sbd-root", help="voc: SBD benchmark_RELEASE folder (train_aug)")
    g.add_argument("--voc-labels", choices=VOC_LABELS,
                   help="voc: pixel labels of the training split: auto (SegmentationClass, "
                        "else SBD; default), voc, aug (SegmentationClassAug), sbd")
    g.add_argument("--labels-file", help="folder: labels file (default: <root>/labels.csv or "
                                         "labels.json)")
    g.add_argument("--classes-file", help="folder: class list (default: <root>/classes.txt)")
    g.add_argument("--annotations-dir", help="coco: folder of instances_<split>.json "
                                             "(default: <root>/annotations)")
    g.add_argument("--mask-dir", help="coco: label PNGs instead of rendering; folder: masks "
                                      "(default: <root>/masks)")
    g.add_argument("--saliency-dir", help="saliency PNGs named after the images (e.g. DSS); "
                                          "read only where proxy labels fuse them (folder "
                                          "default: <root>/saliency)")
    g.add_argument("--synthetic-train", type=int, help="synthetic train images (default 1000)")
    g.add_argument("--synthetic-val", type=int, help="synthetic val images (default 200)")
    g.add_argument("--image-size", type=int, help="synthetic image size in px (default 128)")
    g.add_argument("--data-seed", type=int, help="synthetic dataset seed (default 0)")
    g.add_argument("--synthetic-preset", choices=sorted(SYNTHETIC_PRESETS),
                   help="synthetic generator (default: default; hard: class by texture)")


def _flag_error(exc: Exception) -> PreflightError:
    """``exc`` (a message starting ``argument: ...``) as a PreflightError naming the flag."""
    message = str(exc)
    head, sep, tail = message.partition(": ")
    if sep and head in FLAGS:
        message = f"{FLAGS[head]}: {tail}"
    return PreflightError(message)


def prior_run(path: str | Path | None) -> PriorRun | None:
    """The earlier run that wrote ``path`` (a checkpoint or an output folder), or ``None``.

    See :func:`~wsss.engine.runconfig.read_prior_run` (a broken ``config.json`` is a
    ``ValueError`` naming it).

    Examples
    --------
    >>> import tempfile
    >>> prior_run(None), prior_run(Path(tempfile.mkdtemp()) / "model.pt")
    (None, None)
    """
    if path is None:
        return None
    return read_prior_run(resolve(path))


def data_config(args: argparse.Namespace, prior: PriorRun | None = None) -> DataConfig:
    """The :class:`~wsss.engine.DataConfig` of the flags of :func:`add_data_args`.

    With ``prior`` (an earlier run this stage continues), flags left out take that run's
    values, and a flag that names other images than that run's is an error naming both.

    Raises
    ------
    PreflightError
        A flag is missing, malformed or conflicts with ``prior``; the message names it.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_data_args(parser)
    >>> data = data_config(parser.parse_args(["--synthetic-val", "20", "--data-seed", "3"]))
    >>> data.synthetic, data.synthetic_val, data.seed
    (True, 20, 3)
    >>> data_config(parser.parse_args(["--voc-root", "data/VOCdevkit"])).dataset
    'voc'
    >>> data_config(parser.parse_args(["--dataset", "voc"]))
    Traceback (most recent call last):
    ...
    wsss.engine.preflight.PreflightError: --data-root: the voc dataset needs its folder
    >>> data_config(parser.parse_args(["--dataset", "folder", "--data-root", "d",
    ...                                "--sbd-root", "sbd"]))
    Traceback (most recent call last):
    ...
    wsss.engine.preflight.PreflightError: --sbd-root: only the voc dataset reads it, not 'folder'
    """
    given = {field: getattr(args, dest) for field, dest in _DATA_FLAGS.items()
             if getattr(args, dest, None) is not None}
    if getattr(args, "voc_root", None) is not None:
        root = given.get("root", args.voc_root)
        if given.get("dataset", "voc") != "voc" or root != args.voc_root:
            raise PreflightError("--voc-root: it means --dataset voc --data-root VOC_ROOT; it "
                                 f"conflicts with --dataset {args.dataset} "
                                 f"--data-root {args.data_root}")
        given.update(dataset="voc", root=args.voc_root)
    if given.get("root") is not None:
        given["root"] = str(resolve(given["root"]))
    values = given
    if prior is not None and prior.data is not None:
        stored = dataclasses.asdict(prior.data)
        if "dataset" not in given and "root" in given:
            given["dataset"] = stored["dataset"]
        values = merge(given, stored, source=str(prior.config_path), names=FLAGS,
                       fixed=IDENTITY_FIELDS)
    dataset = values.get("dataset") or "synthetic"
    if dataset != "synthetic" and values.get("root") is None:
        raise PreflightError(f"--data-root: the {dataset} dataset needs its folder")
    try:
        return DataConfig(**{**values, "dataset": dataset})
    except (TypeError, ValueError) as exc:
        raise _flag_error(exc) from None


class _Given(argparse.Action):
    """Store the value and record that the flag was typed (its default is a real value)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, values)
        namespace.given_flags = [*_given(namespace), self.dest]


def _given(args: argparse.Namespace) -> list[str]:
    return list(getattr(args, "given_flags", []))


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """Add ``--backbone``, ``--weights`` and ``--weights-format``; see :func:`model_config`.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_model_args(parser)
    >>> args = parser.parse_args(["--backbone", "resnet_tiny"])
    >>> args.backbone, args.weights, args.weights_format
    ('resnet_tiny', None, 'torchvision')
    """
    g = parser.add_argument_group("model")
    g.add_argument("--backbone", help="backbone name (default: the earlier run's, else the "
                                      "preset's)")
    g.add_argument("--weights", help="init weights for the backbone (ImageNet, DeepLab's "
                   "Caffe init, or a backbone.pt written by run_pipeline.py's pretraining); "
                   "without them a real dataset trains from scratch")
    g.add_argument("--weights-format", choices=WEIGHT_FORMATS, default="torchvision",
                   action=_Given, help="layout of --weights; also picks the input "
                   "normalisation (default: the earlier run's, else torchvision)")


def model_config(
    args: argparse.Namespace,
    name: str | None,
    data: DataConfig,
    role: str,
    prior: PriorRun | None = None,
) -> ModelConfig:
    """The :class:`~wsss.engine.ModelConfig` of network ``name`` from the model flags.

    ``role`` is ``"classifier"`` or ``"deeplab"``: which network of ``recipe_for(data)`` (see
    :func:`~wsss.engine.recipe_for`) gives the backbone when ``--backbone`` is not given, and
    the extra model arguments. ``name=None`` takes the earlier run's network, else ``"seenet"``
    for a classifier and ``"deeplab_largefov"``. With ``prior`` (the run that trained the
    weights this stage loads), its network, backbone, weight format and model arguments are
    used, and a different ``--model``, ``--backbone`` or ``--weights-format`` is an error
    naming both values.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_model_args(parser)
    >>> args = parser.parse_args(["--backbone", "resnet_tiny"])
    >>> config = model_config(args, "seenet", DataConfig(), "classifier")
    >>> config.name, config.backbone, config.weights
    ('seenet', 'resnet_tiny', None)
    """
    if role not in ("classifier", "deeplab"):
        raise ValueError(f"role: expected 'classifier' or 'deeplab', got {role!r}")
    base = getattr(recipe_for(data), role)
    explicit_format = args.weights_format if "weights_format" in _given(args) else None
    given = {k: v for k, v in (("name", name), ("backbone", args.backbone),
                                ("weights_format", explicit_format)) if v is not None}
    values: dict[str, Any] = {"name": "seenet" if role == "classifier" else "deeplab_largefov",
                              "backbone": base.backbone, "weights_format": "torchvision",
                              "kwargs": dict(base.kwargs)}
    if prior is not None and prior.model is not None:
        stored = dataclasses.asdict(prior.model)
        stored.pop("weights")
        values = merge(given, stored, source=str(prior.config_path), names=FLAGS,
                       fixed=("name", "backbone", "weights_format"))
    else:
        values.update(given)
    return ModelConfig(name=values["name"], backbone=values["backbone"], weights=args.weights,
                       weights_format=values["weights_format"], kwargs=dict(values["kwargs"]))


def check_data(
    data: DataConfig, split: str, *, masks: bool = False, saliency: bool = False,
    skip_bad: bool = False,
) -> Sequence[Sample]:
    """:func:`wsss.engine.preflight.check_data` with errors that name the flags.

    Examples
    --------
    >>> check_data(DataConfig(dataset="folder", root="/no/such/folder"), "train")
    Traceback (most recent call last):
    ...
    wsss.engine.preflight.PreflightError: --data-root /no/such/folder: folder not found
    """
    return preflight.check_data(data, split, masks=masks, saliency=saliency,
                                skip_bad=skip_bad, names=FLAGS)


def check_checkpoint(
    path: str | Path, model: ModelConfig, dataset: Sequence[Sample],
    prior: PriorRun | None = None,
) -> None:
    """Check ``--checkpoint`` against the network and the dataset's classes.

    The classes the earlier run recorded must be the dataset's, in order; then
    :func:`wsss.engine.preflight.check_checkpoint` compares the weights with the network.

    Examples
    --------
    >>> from wsss.data import SyntheticVOC
    >>> check_checkpoint("/no/such/model.pt", ModelConfig("seenet", "resnet_tiny"),
    ...                  SyntheticVOC(1, image_size=48))
    Traceback (most recent call last):
    ...
    wsss.engine.preflight.PreflightError: --checkpoint /no/such/model.pt: file not found
    """
    names = class_names(dataset)
    if prior is not None and prior.class_names is not None and prior.class_names != names:
        raise PreflightError(
            f"--checkpoint {path}: the run in {prior.config_path} was trained on the classes "
            f"{list(prior.class_names)}, the data has {list(names)}"
        )
    preflight.check_checkpoint(resolve(path), model, len(names), names=FLAGS)


def check_outputs(
    folder: str | Path, dataset: Sequence[Sample], *, argument: str, what: str, suffix: str
) -> None:
    """Check that an earlier stage's output folder covers every image with a class.

    Examples
    --------
    >>> from wsss.data import SyntheticVOC
    >>> check_outputs("/no/such/maps", SyntheticVOC(1, image_size=48), argument="attention_dir",
    ...               what="attention map", suffix=".npz")
    Traceback (most recent call last):
    ...
    wsss.engine.preflight.PreflightError: --attention-dir /no/such/maps: folder not found
    """
    preflight.check_coverage(folder, preflight.images_with_a_class(dataset), suffix,
                             argument=argument, what=what, names=FLAGS)


def check_batch(config: TrainConfig, world_size: int) -> None:
    """Check that ``--batch-size`` splits into ``--micro-batch`` x processes.

    Examples
    --------
    >>> check_batch(TrainConfig(iterations=1, batch_size=8, micro_batch=1), 4)  # 2 accumulated
    >>> try:
    ...     check_batch(TrainConfig(iterations=1, batch_size=10, micro_batch=1), 4)
    ... except PreflightError as error:
    ...     print(error)
    --batch-size 10: not a multiple of --micro-batch (1) x processes (4); use 8 or 12
    """
    try:
        config.accumulation(world_size)
    except ValueError:
        micro = config.micro_batch or max(config.batch_size // world_size, 1)
        step = micro * world_size
        below, above = config.batch_size // step * step, (config.batch_size // step + 1) * step
        use = f"{below} or {above}" if below else str(above)
        raise PreflightError(f"--batch-size {config.batch_size}: not a multiple of "
                             f"--micro-batch ({micro}) x processes ({world_size}); "
                             f"use {use}") from None


def check_weights(weights: str | None) -> None:
    """Check that the ``--weights`` file exists.

    Examples
    --------
    >>> check_weights(None)
    >>> check_weights("/no/such/vgg16.pth")
    Traceback (most recent call last):
    ...
    wsss.engine.preflight.PreflightError: --weights /no/such/vgg16.pth: file not found
    """
    if weights is not None and not resolve(weights).is_file():
        raise PreflightError(f"--weights {weights}: file not found")


def world_size() -> int:
    """The number of processes ``torchrun`` starts (``WORLD_SIZE``; 1 without it).

    Examples
    --------
    >>> import os
    >>> world_size() == int(os.environ.get("WORLD_SIZE", 1))
    True
    """
    value = os.environ.get("WORLD_SIZE", "1")
    try:
        return max(int(value), 1)
    except ValueError:
        raise PreflightError(f"WORLD_SIZE: expected an int, got {value!r}") from None


def scratch_warning(data: DataConfig, weights: str | None, log: Any = print) -> str | None:
    """Warn (and return the warning) when a real dataset trains from scratch (no ``--weights``).

    Examples
    --------
    >>> scratch_warning(DataConfig(), None) is None  # the synthetic recipe pretrains
    True
    >>> scratch_warning(DataConfig(dataset="voc", root="data"), None, log=lambda m: None)[:40]
    'WARNING: no --weights: every network tra'
    """
    found = preflight.from_scratch(data, weights, FLAGS)
    if found is None:
        return None
    message = f"WARNING: {found} Pass --weights FILE (docs: Reproducing PASCAL VOC 2012)."
    log(message)
    return message


def add_train_args(parser: argparse.ArgumentParser) -> None:
    """Add the training flags (``--iterations``, ``--lr``, ``--amp``, ...).

    Flags left out stay ``None``, so that :func:`train_config` keeps the preset's value.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_train_args(parser)
    >>> args = parser.parse_args(["--iterations", "2", "--channels-last"])
    >>> args.iterations, args.lr, args.amp, args.channels_last
    (2, None, 'none', True)
    """
    g = parser.add_argument_group("training (default: the preset's)")
    g.add_argument("--iterations", type=int, help="optimizer steps")
    g.add_argument("--batch-size", type=int, help="effective batch over all processes")
    g.add_argument("--micro-batch", type=int,
                   help="images per forward pass and process (gradient accumulation)")
    g.add_argument("--lr", type=float, help="base learning rate")
    g.add_argument("--optimizer", choices=("sgd", "adamw"))
    g.add_argument("--seed", type=int, default=0, help="training seed")
    g.add_argument("--workers", type=int,
                   help="DataLoader workers per process (default: 0 on CPU, up to 8 on CUDA)")
    g.add_argument("--checkpoint-every", type=int, help="steps between checkpoints")
    g.add_argument("--amp", choices=("none", "bf16", "fp16"), default="none",
                   help="autocast (CUDA; never on CPU, where bf16 is very slow)")
    g.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=False,
                   help="channels-last memory format (CUDA)")
    g.add_argument("--crop", type=int,
                   help="training crop size (default: the recipe's; 321 on VOC, whole images on "
                        "the synthetic data)")


def train_config(args: argparse.Namespace, base: TrainConfig) -> TrainConfig:
    """``base`` with the training flags of :func:`add_train_args` that were given.

    ``base`` is a preset's :class:`~wsss.engine.trainer.TrainConfig`; a flag that is ``None``
    (left out, and without a default) keeps ``base``'s value.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_train_args(parser)
    >>> base = TrainConfig(iterations=1000, batch_size=16, lr=0.01)
    >>> config = train_config(parser.parse_args(["--iterations", "2"]), base)
    >>> config.iterations, config.batch_size, config.lr
    (2, 16, 0.01)
    """
    return with_changes(
        base, iterations=args.iterations, batch_size=args.batch_size,
        micro_batch=args.micro_batch, lr=args.lr, optimizer=args.optimizer, seed=args.seed,
        num_workers=args.workers, checkpoint_every=args.checkpoint_every, amp=args.amp,
        channels_last=args.channels_last,
    )


def add_runtime_args(
    parser: argparse.ArgumentParser, run_dir: str, *, skip_bad: bool = True
) -> None:
    """Run-directory, resume, progress and device flags.

    ``skip_bad=False`` leaves out ``--skip-bad`` for scripts that cannot skip a bad input
    (training, evaluation): there the flag would be a silent no-op, so it is refused instead.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_runtime_args(parser, "runs/train_seenet", skip_bad=False)
    >>> args = parser.parse_args(["--resume"])
    >>> args.run_dir, args.resume, args.device, "skip_bad" in vars(args)
    ('runs/train_seenet', True, 'auto', False)
    """
    g = parser.add_argument_group("run")
    g.add_argument("--run-dir", default=run_dir, help="where outputs, config and logs go")
    g.add_argument("--resume", action=argparse.BooleanOptionalAction, default=False,
                   help="continue an interrupted run from its checkpoint")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True,
                   help="show progress bars")
    if skip_bad:
        g.add_argument("--skip-bad", action=argparse.BooleanOptionalAction, default=False,
                       help="skip unreadable inputs (listed in bad_inputs.json) instead of "
                            "failing")
    g.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    g.add_argument("--threads", type=int,
                   help="torch CPU threads for this process (default: OMP_NUM_THREADS, else the "
                        "cores available to this process / processes per node)")


def open_run(args: argparse.Namespace, config: dict[str, Any], is_main: bool) -> RunDir:
    """Create the run directory and write its resolved config (rank 0 only).

    ``config.json`` holds ``{"args": vars(args), **config}``; other ranks only get the
    :class:`~wsss.engine.rundir.RunDir` object.

    Examples
    --------
    >>> import json, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     args = argparse.Namespace(run_dir=Path(tmp) / "run", seed=0)
    ...     run = open_run(args, {"stage": "demo"}, is_main=True)
    ...     saved = json.loads(run.config_path.read_text())
    >>> saved["stage"], saved["args"]["seed"]
    ('demo', 0)
    """
    run = RunDir(args.run_dir)
    if is_main:
        run.write_config({"args": vars(args), **config})
    return run


def write_bad_inputs(run: RunDir, failed: Any) -> None:
    """List the inputs a ``--skip-bad`` run skipped in ``bad_inputs.json``.

    Examples
    --------
    >>> import json, tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_bad_inputs(RunDir(tmp), [("img_3", "corrupt PNG")])
    ...     json.loads((Path(tmp) / "bad_inputs.json").read_text())
    [{'name': 'img_3', 'reason': 'corrupt PNG'}]
    """
    if failed:
        run.write_json("bad_inputs.json", [{"name": n, "reason": r} for n, r in failed])


def device_arg(args: argparse.Namespace) -> str | None:
    """``--device`` as :func:`~wsss.engine.init_distributed` takes it (``None``: automatic).

    Examples
    --------
    >>> device_arg(argparse.Namespace(device="auto")), device_arg(argparse.Namespace(device="cpu"))
    (None, 'cpu')
    """
    return None if args.device == "auto" else args.device


def set_threads(threads: int | None) -> int:
    """Apply ``--threads``: :func:`wsss.engine.resources.set_threads` (``None``: the default,
    ``OMP_NUM_THREADS`` or the cores this process may use divided by the processes per node).

    Examples
    --------
    >>> import torch
    >>> before = torch.get_num_threads()
    >>> set_threads(1)
    1
    >>> _ = set_threads(before)
    """
    return _set_threads(threads)


def run(main: Callable[[], object]) -> None:
    """Run a script's ``main()``; an input error exits with its message, not a traceback.

    Scripts end with ``if __name__ == "__main__": cli.run(main)``. Called in-process,
    ``main(argv)`` raises the :class:`~wsss.engine.preflight.PreflightError` (a
    ``ValueError``) itself.

    Examples
    --------
    >>> def main():
    ...     raise PreflightError("--data-root data: folder not found")
    >>> run(main)
    Traceback (most recent call last):
    ...
    SystemExit: error: --data-root data: folder not found
    """
    try:
        main()
    except PreflightError as exc:
        raise SystemExit(f"error: {exc}") from None


def resolve(path: str | Path) -> Path:
    """A command-line path with ``~`` expanded.

    Examples
    --------
    >>> resolve("~/data") == Path.home() / "data"
    True
    """
    return Path(path).expanduser()
