"""Load pretrained weights from the common file layouts into ``wsss`` backbones and models.

Users bring the files (:ref:`voc-weights`); these layouts are understood:

- torchvision VGG16 (``features.0.weight`` ... ``features.28.bias``; ``classifier.*`` ignored):
  :func:`load_imagenet_vgg16`. These weights expect RGB input in [0, 1] normalised with the
  ImageNet mean and std.
- torchvision ResNet (``conv1.weight``, ``bn1.*``, ``layer1.0.conv1.weight``, ...; ``fc.*``
  ignored): :func:`load_imagenet_resnet`.
- the Caffe-converted DeepLab init file (``conv1_1.weight`` ... ``conv5_3.bias``, ``fc6.*``
  ``(1024, 512, 3, 3)``, ``fc7.*`` ``(1024, 1024, 1, 1)``, optional ``fc8*``):
  :func:`load_deeplab_caffe_vgg16`. These weights expect BGR input minus the mean
  (104.008, 116.669, 122.675) in [0, 255].
- a backbone's own ``state_dict`` (``conv1_1.weight``, ``bn1_1.running_mean``, ...; a
  ``backbone.`` prefix is stripped), as a pretraining run of this library writes it:
  :func:`load_backbone_weights`.

Files are read with :func:`wsss.io.load_checkpoint` (``weights_only=True``); a checkpoint that
wraps its weights as ``{"state_dict": ...}`` or ``{"model": ...}`` is unwrapped, and a leading
``module.`` (``DataParallel``) is stripped. Every loader returns a :class:`LoadReport`; with
``strict=True`` any missing, unexpected or mis-shaped entry raises :class:`ValueError` before a
single tensor is copied.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from torch import Tensor, nn

from ..io import load_checkpoint
from .resnet import ResNet
from .vgg import VGG16, VGG16_CHANNELS

__all__ = [
    "LoadReport",
    "ShapeMismatch",
    "load_backbone_weights",
    "load_deeplab_caffe_vgg16",
    "load_imagenet_resnet",
    "load_imagenet_vgg16",
    "torchvision_vgg16_keys",
]

_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "net")
_CAFFE_PREFIXES = ("module.", "model.", "backbone.", "features.")
_FC8 = re.compile(r"fc8[^.]*\.(weight|bias)")


@dataclass(frozen=True)
class ShapeMismatch:
    """A source tensor whose shape differs from the model's.

    Attributes
    ----------
    key
        The model's key.
    source_key
        The key in the weight file.
    expected, found
        The model's shape and the file's shape.

    Examples
    --------
    >>> import torch
    >>> net = VGG16(width=0.125)  # conv1_2: 8 channels, 3x3 kernels
    >>> report = load_imagenet_vgg16(net, {"features.2.weight": torch.zeros(8, 8, 1, 1)})
    >>> mismatch = report.mismatched[0]
    >>> mismatch.key, mismatch.expected, mismatch.found
    ('conv1_2.weight', (8, 8, 3, 3), (8, 8, 1, 1))
    >>> print(mismatch)
    conv1_2.weight (from features.2.weight): model (8, 8, 3, 3), file (8, 8, 1, 1)
    """

    key: str
    source_key: str
    expected: tuple[int, ...]
    found: tuple[int, ...]

    def __str__(self) -> str:
        return f"{self.key} (from {self.source_key}): model {self.expected}, file {self.found}"


@dataclass(frozen=True)
class LoadReport:
    """What a weight loader did.

    Attributes
    ----------
    loaded
        Model keys that received a tensor.
    missing
        Model keys the loader targets that the file does not provide.
    unexpected
        File keys that map to nothing in the model.
    mismatched
        File tensors of the wrong shape (not copied).
    ignored
        File keys skipped on purpose (ImageNet classifiers, ``num_batches_tracked`` for a frozen
        batch norm, non-tensor entries, ``fc*`` layers the model does not have).

    Examples
    --------
    >>> import torch
    >>> net = VGG16(width=0.125)  # 26 tensors: conv1_1.weight ... conv5_3.bias
    >>> report = load_imagenet_vgg16(
    ...     net, {"features.0.bias": torch.ones(8), "classifier.6.bias": torch.zeros(1000)}
    ... )
    >>> report.loaded, report.ignored, len(report.missing), report.ok
    (('conv1_1.bias',), ('classifier.6.bias',), 25, False)
    >>> print(report.describe().splitlines()[0])
    loaded 1, missing 25, unexpected 0, mismatched 0, ignored 1
    """

    loaded: tuple[str, ...]
    missing: tuple[str, ...]
    unexpected: tuple[str, ...]
    mismatched: tuple[ShapeMismatch, ...]
    ignored: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """``True`` when nothing is missing, unexpected or mismatched."""
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self) -> str:
        """A multi-line, human-readable summary (every problem key is listed)."""
        lines = [
            f"loaded {len(self.loaded)}, missing {len(self.missing)}, "
            f"unexpected {len(self.unexpected)}, mismatched {len(self.mismatched)}, "
            f"ignored {len(self.ignored)}"
        ]
        if self.missing:
            lines.append("missing: " + ", ".join(self.missing))
        if self.unexpected:
            lines.append("unexpected: " + ", ".join(self.unexpected))
        if self.mismatched:
            lines.append("mismatched: " + "; ".join(str(m) for m in self.mismatched))
        return "\n".join(lines)


def torchvision_vgg16_keys() -> dict[str, str]:
    """Map torchvision's ``features.<i>.<weight|bias>`` keys to :class:`VGG16`'s names.

    Examples
    --------
    >>> keys = torchvision_vgg16_keys()
    >>> keys["features.0.weight"], keys["features.28.bias"], len(keys)
    ('conv1_1.weight', 'conv5_3.bias', 26)
    """
    mapping: dict[str, str] = {}
    index = 0
    for block, block_channels in enumerate(VGG16_CHANNELS, start=1):
        for conv in range(1, len(block_channels) + 1):
            for kind in ("weight", "bias"):
                mapping[f"features.{index}.{kind}"] = f"conv{block}_{conv}.{kind}"
            index += 2  # convolution, ReLU
        index += 1  # max-pool
    return mapping


def _read(weights: str | os.PathLike | Mapping[str, Tensor]) -> tuple[dict[str, object], str]:
    """The flat state dict of ``weights`` (a path or a mapping) and a name for messages."""
    if isinstance(weights, (str, os.PathLike)):
        origin = str(Path(weights))
        state = load_checkpoint(weights)
    elif isinstance(weights, Mapping):
        origin, state = "state dict", weights
    else:
        raise TypeError(f"weights: expected a path or a state dict, got {type(weights).__name__}")
    while isinstance(state, Mapping) and not any(isinstance(v, Tensor) for v in state.values()):
        inner = next((state[k] for k in _WRAPPER_KEYS if isinstance(state.get(k), Mapping)), None)
        if inner is None:
            break
        state = inner
    if not isinstance(state, Mapping):
        raise TypeError(f"weights ({origin}): expected a state dict, got {type(state).__name__}")
    return dict(state), origin


def _strip(key: str, prefixes: Iterable[str]) -> str:
    prefixes = tuple(prefixes)
    changed = True
    while changed:
        changed = False
        for prefix in prefixes:
            if key.startswith(prefix):
                key, changed = key[len(prefix) :], True
    return key


def _locate(model: nn.Module, kind: type[nn.Module], arg: str) -> tuple[nn.Module, str]:
    """``model`` itself or its ``backbone`` if of type ``kind``, with the key prefix to reach it."""
    if isinstance(model, kind):
        return model, ""
    if isinstance(getattr(model, "backbone", None), kind):
        return cast(nn.Module, model.backbone), "backbone."
    raise TypeError(
        f"{arg}: expected a {kind.__name__} or a model whose .backbone is one, "
        f"got {type(model).__name__}"
    )


def _apply(
    model: nn.Module,
    state: Mapping[str, object],
    plan: Mapping[str, str],
    *,
    required: Iterable[str],
    ignored: Iterable[str],
    unexpected: Iterable[str],
    strict: bool,
    origin: str,
) -> LoadReport:
    """Copy ``state[source]`` into ``model``'s ``plan[source]`` entries and report."""
    current = model.state_dict()
    updates: dict[str, Tensor] = {}
    loaded: list[str] = []
    mismatched: list[ShapeMismatch] = []
    unexpected = list(unexpected)
    for source_key, key in plan.items():
        value = cast(Tensor, state[source_key])
        if key in updates or any(m.key == key for m in mismatched):
            unexpected.append(source_key)  # two file keys for one model key
            continue
        expected, found = tuple(current[key].shape), tuple(value.shape)
        if expected != found:
            mismatched.append(ShapeMismatch(key, source_key, expected, found))
        else:
            updates[key] = value
            loaded.append(key)
    touched = set(loaded) | {m.key for m in mismatched}
    report = LoadReport(
        loaded=tuple(loaded),
        missing=tuple(k for k in required if k not in touched),
        unexpected=tuple(unexpected),
        mismatched=tuple(mismatched),
        ignored=tuple(ignored),
    )
    if strict and not report.ok:
        raise ValueError(f"weights ({origin}) do not match the model: {report.describe()}")
    model.load_state_dict(updates, strict=False)
    return report


def _split_tensors(state: Mapping[str, object]) -> tuple[dict[str, Tensor], list[str]]:
    tensors = {k: v for k, v in state.items() if isinstance(v, Tensor)}
    return tensors, [k for k in state if k not in tensors]


def load_imagenet_vgg16(
    backbone: nn.Module,
    weights: str | os.PathLike | Mapping[str, Tensor],
    *,
    strict: bool = False,
) -> LoadReport:
    """Load torchvision's ImageNet VGG16 weights into a :class:`VGG16` (any layout).

    Parameters
    ----------
    backbone
        A :class:`VGG16`, or a model whose ``backbone`` is one (keys are then reported with a
        ``backbone.`` prefix).
    weights
        A checkpoint path or a state dict in torchvision's layout (``features.0.weight`` ...
        ``features.28.bias``); ``classifier.*`` is ignored.
    strict
        Raise :class:`ValueError` listing every missing, unexpected or mis-shaped entry.

    Examples
    --------
    >>> import torch
    >>> net = VGG16(width=0.125)
    >>> shapes = {k: v.shape for k, v in net.state_dict().items()}
    >>> source = {tv: torch.ones(shapes[ours]) for tv, ours in torchvision_vgg16_keys().items()}
    >>> report = load_imagenet_vgg16(net, source, strict=True)
    >>> len(report.loaded), net.conv3_2.bias[0].item()
    (26, 1.0)
    """
    module, prefix = _locate(backbone, VGG16, "backbone")
    state, origin = _read(weights)
    tensors, ignored = _split_tensors(state)
    names = torchvision_vgg16_keys()
    plan, unexpected = {}, []
    for source_key in tensors:
        key = _strip(source_key, ("module.",))
        if key.startswith("classifier."):
            ignored.append(source_key)
        elif key in names:
            plan[source_key] = names[key]
        else:
            unexpected.append(source_key)
    report = _apply(
        module,
        tensors,
        plan,
        required=module.state_dict().keys(),
        ignored=ignored,
        unexpected=unexpected,
        strict=strict,
        origin=origin,
    )
    return _prefixed(report, prefix)


def _beyond_truncation(module: nn.Module, key: str) -> bool:
    """Whether ``key`` names a layer of a VGG16 block that the truncated ``module`` leaves out."""
    match = re.fullmatch(r"(?:conv|bn)([1-5])_\d+", key.split(".", 1)[0])
    return isinstance(module, VGG16) and match is not None and int(match[1]) > module.num_blocks


def load_backbone_weights(
    backbone: nn.Module,
    weights: str | os.PathLike | Mapping[str, Tensor],
    *,
    strict: bool = True,
) -> LoadReport:
    """Load a backbone ``state_dict`` in this library's own key layout (any backbone).

    The file a pretraining stage writes (``torch.save(model.backbone.state_dict())``) restores
    into the same backbone in another model, e.g. the synthetic recipe's classification
    pretraining into SeeNet, the CAM baseline and DeepLab (the stand-in for ImageNet weights).

    Parameters
    ----------
    backbone
        The backbone itself, or a model whose ``backbone`` attribute is it (keys are then
        reported with a ``backbone.`` prefix).
    weights
        A checkpoint path or a state dict: a backbone's own ``state_dict``, or a whole model's
        (e.g. a trained classifier's ``model.pt``), whose ``backbone.*`` entries are loaded and
        the rest listed as ``ignored``. A ``module.`` prefix is stripped. A truncated
        :class:`VGG16` takes the leading blocks of a deeper one's weights: the entries of the
        blocks it lacks (``conv4_*`` and ``bn4_*`` for ``num_blocks=3``) are ``ignored``.
    strict
        Raise :class:`ValueError` listing every missing, unexpected or mis-shaped entry.

    Examples
    --------
    >>> import torch
    >>> from wsss.models import create_backbone, create_model
    >>> source = create_backbone("vgg16_tiny")
    >>> model = create_model("deeplab_largefov", backbone="vgg16_tiny")
    >>> report = load_backbone_weights(model, source.state_dict())
    >>> report.ok, torch.equal(model.backbone.conv4_3.weight, source.conv4_3.weight)
    (True, True)
    >>> report.loaded[0]
    'backbone.conv1_1.weight'
    >>> classifier = create_model("cam_classifier", backbone="vgg16_tiny")
    >>> report = load_backbone_weights(model, classifier.state_dict())  # a whole model's file
    >>> report.ok, report.ignored[0]
    (True, 'head.0.weight')
    >>> shallow = create_model("seenet", backbone="vgg16_tiny3")  # conv1_1 ... conv3_3
    >>> report = load_backbone_weights(shallow, source.state_dict())
    >>> report.ok, report.ignored[0], torch.equal(shallow.backbone.conv3_3.weight,
    ...                                           source.conv3_3.weight)
    (True, 'conv4_1.weight', True)
    """
    module = getattr(backbone, "backbone", backbone)
    if not isinstance(module, nn.Module):
        raise TypeError(f"backbone: expected an nn.Module, got {type(backbone).__name__}")
    prefix = "backbone." if module is not backbone else ""
    state, origin = _read(weights)
    tensors, ignored = _split_tensors(state)
    own = module.state_dict().keys()
    whole_model = any(_strip(k, ("module.",)).startswith("backbone.") for k in tensors)
    plan, unexpected = {}, []
    for source_key in tensors:
        key = _strip(source_key, ("module.",))
        if whole_model:  # a whole model's weights: its backbone, the rest is not for us
            if not key.startswith("backbone."):
                ignored.append(source_key)
                continue
            key = key[len("backbone.") :]
        if key in own:
            plan[source_key] = key
        elif _beyond_truncation(module, key):
            ignored.append(source_key)
        else:
            unexpected.append(source_key)
    report = _apply(
        module,
        tensors,
        plan,
        required=own,
        ignored=ignored,
        unexpected=unexpected,
        strict=strict,
        origin=origin,
    )
    return _prefixed(report, prefix)


def load_imagenet_resnet(
    backbone: nn.Module,
    weights: str | os.PathLike | Mapping[str, Tensor],
    *,
    strict: bool = False,
) -> LoadReport:
    """Load torchvision ImageNet ResNet weights into a :class:`ResNet` of the same depth.

    Keys map one to one (dilation does not change any shape); ``fc.*`` is ignored, and so is
    ``num_batches_tracked`` when the model uses :class:`FrozenBatchNorm2d` (it is never required).

    Parameters
    ----------
    backbone
        A :class:`ResNet`, or a model whose ``backbone`` is one.
    weights
        A checkpoint path or a state dict in torchvision's ResNet layout.
    strict
        Raise :class:`ValueError` listing every missing, unexpected or mis-shaped entry.

    Examples
    --------
    >>> import torch
    >>> from wsss.models import resnet_tiny
    >>> net = resnet_tiny()
    >>> source = {k: v.clone() for k, v in resnet_tiny().state_dict().items()}
    >>> source["fc.weight"] = torch.zeros(1000, 256)
    >>> report = load_imagenet_resnet(net, source, strict=True)
    >>> report.ignored, bool((net.layer2[0].conv1.weight == source["layer2.0.conv1.weight"]).all())
    (('fc.weight',), True)
    """
    module, prefix = _locate(backbone, ResNet, "backbone")
    state, origin = _read(weights)
    tensors, ignored = _split_tensors(state)
    targets = module.state_dict().keys()
    plan, unexpected = {}, []
    for source_key in tensors:
        key = _strip(source_key, ("module.",))
        if key.startswith("fc."):
            ignored.append(source_key)
        elif key in targets:
            plan[source_key] = key
        elif key.endswith("num_batches_tracked"):
            ignored.append(source_key)
        else:
            unexpected.append(source_key)
    report = _apply(
        module,
        tensors,
        plan,
        required=[k for k in targets if not k.endswith("num_batches_tracked")],
        ignored=ignored,
        unexpected=unexpected,
        strict=strict,
        origin=origin,
    )
    return _prefixed(report, prefix)


def load_deeplab_caffe_vgg16(
    model: nn.Module,
    weights: str | os.PathLike | Mapping[str, Tensor],
    *,
    load_fc8: bool = True,
    strict: bool = False,
) -> LoadReport:
    """Load the Caffe-converted DeepLab VGG16 init file into a model with a :class:`VGG16`.

    ``conv1_1`` ... ``conv5_3`` go to the backbone; ``fc6`` and ``fc7`` go to the model's
    ``fc6``/``fc7`` (a :class:`~wsss.models.DeepLabLargeFOV`), or are ignored when the model has
    none (a bare :class:`VGG16`, a SeeNet). Common prefixes (``module.``, ``model.``,
    ``backbone.``, ``features.``) are stripped.

    Parameters
    ----------
    model
        A :class:`VGG16`, or a model whose ``backbone`` is one.
    weights
        A checkpoint path or a state dict with keys ``conv1_1.weight`` ... ``fc7.bias``.
    load_fc8
        Load an ``fc8`` (also ``fc8_voc12`` and the like) when the file has one and the model
        too; it is never required. Pass ``False`` to skip it, e.g. for a file whose fc8 has
        another number of classes.
    strict
        Raise :class:`ValueError` listing every missing, unexpected or mis-shaped entry.

    Examples
    --------
    >>> import torch
    >>> from wsss.models import DeepLabLargeFOV
    >>> net = DeepLabLargeFOV(VGG16("largefov", width=0.125), head_channels=16)
    >>> source = {k.replace("backbone.", "module."): torch.ones_like(v)
    ...           for k, v in net.state_dict().items() if not k.startswith("fc8")}
    >>> report = load_deeplab_caffe_vgg16(net, source, strict=True)
    >>> len(report.loaded), report.missing, net.fc7.weight.min().item()
    (30, (), 1.0)
    """
    module, prefix = _locate(model, VGG16, "model")
    state, origin = _read(weights)
    tensors, ignored = _split_tensors(state)
    heads = {
        name: isinstance(getattr(model, name, None), nn.Conv2d) for name in ("fc6", "fc7", "fc8")
    }
    backbone_keys = set(module.state_dict())
    plan, unexpected = {}, []
    for source_key in tensors:
        key = _strip(source_key, _CAFFE_PREFIXES)
        fc8 = _FC8.fullmatch(key)
        if key in backbone_keys:
            plan[source_key] = prefix + key
        elif fc8:
            if load_fc8 and heads["fc8"]:
                plan[source_key] = f"fc8.{fc8.group(1)}"
            else:
                ignored.append(source_key)
        elif key in ("fc6.weight", "fc6.bias", "fc7.weight", "fc7.bias"):
            if heads[key[:3]]:
                plan[source_key] = key
            else:
                ignored.append(source_key)
        else:
            unexpected.append(source_key)
    required = [prefix + k for k in module.state_dict()]
    required += [f"{fc}.{k}" for fc in ("fc6", "fc7") if heads[fc] for k in ("weight", "bias")]
    return _apply(
        model,
        tensors,
        plan,
        required=required,
        ignored=ignored,
        unexpected=unexpected,
        strict=strict,
        origin=origin,
    )


def _prefixed(report: LoadReport, prefix: str) -> LoadReport:
    """``report`` with ``prefix`` added to the model keys (not to the file's keys)."""
    if not prefix:
        return report
    return LoadReport(
        loaded=tuple(prefix + k for k in report.loaded),
        missing=tuple(prefix + k for k in report.missing),
        unexpected=report.unexpected,
        mismatched=tuple(
            ShapeMismatch(prefix + m.key, m.source_key, m.expected, m.found)
            for m in report.mismatched
        ),
        ignored=report.ignored,
    )
