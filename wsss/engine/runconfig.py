"""What an earlier run used: read back from its ``config.json``, so later stages chain.

A stage given an earlier run's output (``make_attention.py --checkpoint
runs/train_seenet/model.pt``, ``make_pseudo_labels.py --attention-dir runs/attention/maps``)
finds that run's ``config.json`` (next to the file or folder, or one level up, where
:func:`~wsss.engine.run_pipeline` keeps it) and takes from it the data (dataset, folders,
splits, hence the class list and the recipe) and the network (backbone, weight format, hence
the input normalisation, model arguments). Nothing needs repeating; a value given again that
differs is a conflict (:func:`merge`), reported with both values.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import DataConfig, ModelConfig
from .preflight import PreflightError

__all__ = ["PriorRun", "merge", "read_prior_run"]

#: Folder name of a pipeline stage -> the key of its network in the pipeline's config.json.
_PIPELINE_MODELS = {"seenet": "seenet", "cam": "cam", "pretrain": "pretrain",
                    "deeplab_seenet": "deeplab", "deeplab_cam": "deeplab",
                    "deeplab_gt": "deeplab", "attention_seenet": "seenet",
                    "attention_cam": "cam"}

#: DataConfig fields a later stage may not change: the kind of dataset. The rest may differ (a
#: moved data folder, another split, saliency, masks): the classes themselves are compared
#: where they matter (a checkpoint's class list, the class names stored in attention files).
IDENTITY_FIELDS = ("dataset",)
_PATH_FIELDS = ("root", "train_list", "val_list", "sbd_root", "labels_file", "classes_file",
                "annotations_dir", "mask_dir", "saliency_dir")


@dataclass(frozen=True)
class PriorRun:
    """What an earlier run's ``config.json`` says.

    Attributes
    ----------
    config_path
        The ``config.json`` read.
    data
        The run's :class:`~wsss.engine.DataConfig` (``None`` if it recorded none).
    model
        The network that wrote the given file (``None`` for a run without one, such as proxy
        labels).
    class_names
        The classes the run saw (``None`` if not recorded).

    Examples
    --------
    >>> run = PriorRun(Path("runs/a/config.json"), DataConfig(), None, ("cat",))
    >>> run.data.dataset, run.class_names
    ('synthetic', ('cat',))
    """

    config_path: Path
    data: DataConfig | None
    model: ModelConfig | None
    class_names: tuple[str, ...] | None


def _data_config(stored: Any) -> DataConfig | None:
    if not isinstance(stored, Mapping):
        return None
    known = {f.name for f in dataclasses.fields(DataConfig)}
    return DataConfig(**{k: v for k, v in stored.items() if k in known})


def _model_config(stored: Any) -> ModelConfig | None:
    if not isinstance(stored, Mapping) or "name" not in stored:
        return None
    known = {f.name for f in dataclasses.fields(ModelConfig)}
    return ModelConfig(**{k: v for k, v in stored.items() if k in known})


def read_prior_run(path: str | os.PathLike) -> PriorRun | None:
    """The :class:`PriorRun` that wrote ``path`` (a file or a folder), or ``None``.

    ``config.json`` is looked for in the folder of ``path`` (``path`` itself when it is a
    folder) and then one level up.

    Raises
    ------
    ValueError
        The ``config.json`` found is not valid JSON or holds an invalid configuration (the
        message names the file).

    Examples
    --------
    >>> import json, tempfile
    >>> run = Path(tempfile.mkdtemp())
    >>> _ = (run / "config.json").write_text(json.dumps({
    ...     "data": {"dataset": "synthetic", "image_size": 48},
    ...     "model": {"name": "seenet", "backbone": "vgg16_tiny3"},
    ...     "dataset": {"class_names": ["cat", "dog"]}}))
    >>> prior = read_prior_run(run / "model.pt")
    >>> prior.data.image_size, prior.model.backbone, prior.class_names
    (48, 'vgg16_tiny3', ('cat', 'dog'))
    >>> read_prior_run(Path(tempfile.mkdtemp()) / "model.pt") is None
    True
    """
    path = Path(path).expanduser()
    start = path if path.is_dir() else path.parent
    for folder in (start, start.parent):
        config_path = folder / "config.json"
        if config_path.is_file():
            break
    else:
        return None
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{config_path}: not a readable run configuration ({exc})") from exc
    if not isinstance(config, Mapping):
        raise ValueError(f"{config_path}: expected a JSON object")
    try:
        data = _data_config(config.get("data"))
        stored_model = config.get("model")
        if stored_model is None and folder != start:
            stored_model = config.get(_PIPELINE_MODELS.get(start.name, ""))
        model = _model_config(stored_model)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{config_path}: {exc}") from exc
    names = (config.get("dataset") or {}).get("class_names")
    return PriorRun(config_path, data, model,
                    tuple(names) if isinstance(names, list) else None)


def _same(field: str, a: Any, b: Any) -> bool:
    if field in _PATH_FIELDS and a is not None and b is not None:
        return Path(str(a)).expanduser().resolve() == Path(str(b)).expanduser().resolve()
    return bool(a == b)


def merge(
    given: Mapping[str, Any],
    prior: Mapping[str, Any],
    *,
    source: str,
    names: Mapping[str, str] | None = None,
    fixed: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Combine values given now with those of an earlier run: the prior values fill in what
    was not given; a given value that differs from a prior one (not ``None``) in ``fixed`` is a
    conflict.

    Parameters
    ----------
    given
        ``{argument: value}`` of what was given now (arguments not given are left out).
    prior
        ``{argument: value}`` the earlier run used.
    source
        How to name the earlier run in messages (its ``config.json``).
    names
        How to name the arguments in messages (e.g. command-line flags).
    fixed
        The arguments that must agree (``None``: all of them).

    Raises
    ------
    PreflightError
        A conflict; the message names the argument, both values and ``source``.

    Examples
    --------
    >>> merge({"batch": 4}, {"backbone": "vgg16_tiny3", "batch": 8}, source="runs/a",
    ...       fixed=("backbone",))
    {'backbone': 'vgg16_tiny3', 'batch': 4}
    >>> try:
    ...     merge({"backbone": "vgg16"}, {"backbone": "vgg16_tiny3"},
    ...           source="runs/a/config.json", names={"backbone": "--backbone"})
    ... except PreflightError as error:
    ...     print(error)  # doctest: +NORMALIZE_WHITESPACE
    --backbone vgg16: the run in runs/a/config.json used 'vgg16_tiny3'; leave --backbone out to
    use the run's value, or give 'vgg16_tiny3'
    """
    merged = dict(prior)
    for key, value in given.items():
        if (prior.get(key) is not None and (fixed is None or key in fixed)
                and not _same(key, value, prior[key])):
            flag = (names or {}).get(key, key)
            raise PreflightError(
                f"{flag} {value}: the run in {source} used {prior[key]!r}; leave {flag} out "
                f"to use the run's value, or give {prior[key]!r}"
            )
        merged[key] = value
    return merged
