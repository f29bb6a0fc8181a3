"""Command-line arguments shared by the example scripts, and their translation into configs.

Flags never trap: booleans are ``--flag`` / ``--no-flag`` pairs (never ``type=bool``), every
default is shown by ``--help``, and with no arguments each script runs on the embedded
synthetic dataset.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .config import DATASETS, WEIGHT_FORMATS, DataConfig, ModelConfig, recipe_for, with_changes
from .resources import set_threads as _set_threads
from .rundir import RunDir
from .trainer import TrainConfig

__all__ = [
    "add_data_args",
    "add_model_args",
    "add_runtime_args",
    "add_train_args",
    "data_config",
    "device_arg",
    "model_config",
    "open_run",
    "set_threads",
    "train_config",
    "write_bad_inputs",
]


def add_data_args(parser: argparse.ArgumentParser) -> None:
    """Add the data flags (``--dataset``, ``--data-root``, ...); see :func:`data_config`.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_data_args(parser)
    >>> args = parser.parse_args(["--synthetic-train", "8", "--image-size", "48"])
    >>> args.dataset, args.data_root, args.synthetic_train, args.image_size
    (None, None, 8, 48)
    """
    g = parser.add_argument_group("data (default: the embedded synthetic dataset)")
    g.add_argument("--dataset", choices=DATASETS,
                   help="which data: synthetic (default), voc (PASCAL VOC 2012: --data-root, "
                        "plus --sbd-root for train_aug and --saliency-dir for proxy labels)")
    g.add_argument("--data-root", help="the dataset's folder (for voc: the one holding "
                                       "VOCdevkit/VOC2012)")
    g.add_argument("--voc-root", help="same as --dataset voc --data-root VOC_ROOT")
    g.add_argument("--sbd-root", help="SBD benchmark_RELEASE folder (for train_aug)")
    g.add_argument("--saliency-dir", help="saliency PNGs named after the images (e.g. DSS)")
    g.add_argument("--train-split", default="train_aug", help="VOC training split")
    g.add_argument("--val-split", default="val", help="VOC validation split")
    g.add_argument("--synthetic-train", type=int, default=1000, help="synthetic train images")
    g.add_argument("--synthetic-val", type=int, default=200, help="synthetic val images")
    g.add_argument("--image-size", type=int, default=128, help="synthetic image size (px)")
    g.add_argument("--data-seed", type=int, default=0, help="synthetic dataset seed")


def data_config(args: argparse.Namespace) -> DataConfig:
    """The :class:`~wsss.engine.DataConfig` of the flags of :func:`add_data_args`.

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
    SystemExit: --data-root: the voc dataset needs its folder
    """
    dataset, root = args.dataset, args.data_root
    if args.voc_root is not None:
        if dataset not in (None, "voc") or (root is not None and root != args.voc_root):
            raise SystemExit("--voc-root: it means --dataset voc --data-root VOC_ROOT; "
                             f"it conflicts with --dataset {dataset} --data-root {root}")
        dataset, root = "voc", args.voc_root
    dataset = dataset or "synthetic"
    if dataset != "synthetic" and root is None:
        raise SystemExit(f"--data-root: the {dataset} dataset needs its folder")
    return DataConfig(
        dataset=dataset, root=root, sbd_root=args.sbd_root, saliency_dir=args.saliency_dir,
        train_split=args.train_split, val_split=args.val_split,
        synthetic_train=args.synthetic_train, synthetic_val=args.synthetic_val,
        image_size=args.image_size, seed=args.data_seed,
    )


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
    g.add_argument("--backbone", help="backbone name (default: the preset's)")
    g.add_argument("--weights", help="init weights for the backbone (ImageNet, DeepLab's "
                   "Caffe init, or a backbone.pt written by run_pipeline.py's pretraining)")
    g.add_argument("--weights-format", choices=WEIGHT_FORMATS, default="torchvision",
                   help="layout of --weights; also picks the input normalisation")


def model_config(args: argparse.Namespace, name: str, data: DataConfig, role: str) -> ModelConfig:
    """The :class:`~wsss.engine.ModelConfig` of network ``name`` from the model flags.

    ``role`` is ``"classifier"`` or ``"deeplab"``: which network of ``recipe_for(data)`` (see
    :func:`~wsss.engine.recipe_for`) gives the backbone when ``--backbone`` is not given, and
    the extra model arguments.

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
    return ModelConfig(
        name=name, backbone=args.backbone or base.backbone, weights=args.weights,
        weights_format=args.weights_format, kwargs=dict(base.kwargs),
    )


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



def resolve(path: str | Path) -> Path:
    """A command-line path with ``~`` expanded."""
    return Path(path).expanduser()
