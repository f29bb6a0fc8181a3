"""Build the pipeline's networks by name: ``create_model("seenet", backbone="vgg16")``.

Two layouts of each backbone are used: ``"seenet"`` for the classifiers that make attention
maps (VGG16 with stride 16, :ref:`How SeeNet works, section 3 <seenet-backbone>`; ResNet with
stride 16) and ``"largefov"`` for segmentation (VGG16-LargeFOV or ResNet with dilation, stride 8,
:ref:`section 7 <seenet-deeplab>`). Each model
picks its layout; a narrow backbone narrows the model's own layers by the same factor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from .._validation import check_choice
from .acol import ACoL
from .classifier import CAMClassifier
from .deeplab import DeepLabLargeFOV
from .resnet import resnet101, resnet_tiny
from .seenet import SeeNet
from .vgg import VGG16, VGG16_NARROW_WIDTH, VGG_LAYOUTS, scale_channels

__all__ = ["create_backbone", "create_model", "list_backbones", "list_models"]

#: The default class count of the classifiers: PASCAL VOC's 20 foreground classes.
_VOC_CLASSES = 20


def _vgg16(layout: str, **kwargs: Any) -> nn.Module:
    return VGG16(layout, **kwargs)


def _vgg16_narrow(layout: str, **kwargs: Any) -> nn.Module:
    kwargs.setdefault("width", VGG16_NARROW_WIDTH)
    return VGG16(layout, **kwargs)


def _vgg16_narrow_bn(layout: str, **kwargs: Any) -> nn.Module:
    kwargs.setdefault("width", VGG16_NARROW_WIDTH)
    kwargs.setdefault("batch_norm", True)
    return VGG16(layout, **kwargs)


def _vgg16_tiny(layout: str, **kwargs: Any) -> nn.Module:
    kwargs.setdefault("width", VGG16_NARROW_WIDTH)
    kwargs.setdefault("batch_norm", True)
    kwargs.setdefault("num_blocks", 4)
    return VGG16(layout, **kwargs)


def _vgg16_tiny3(layout: str, **kwargs: Any) -> nn.Module:
    kwargs.setdefault("num_blocks", 3)
    return _vgg16_tiny(layout, **kwargs)


def _resnet101(layout: str, **kwargs: Any) -> nn.Module:
    kwargs.setdefault("output_stride", 8 if layout == "largefov" else 16)
    return resnet101(**kwargs)


def _resnet_tiny(layout: str, **kwargs: Any) -> nn.Module:
    kwargs.setdefault("output_stride", 8 if layout == "largefov" else 16)
    return resnet_tiny(**kwargs)


_BACKBONES: dict[str, Callable[..., nn.Module]] = {
    "vgg16": _vgg16,
    "vgg16_narrow": _vgg16_narrow,
    "vgg16_narrow_bn": _vgg16_narrow_bn,
    "vgg16_tiny": _vgg16_tiny,
    "vgg16_tiny3": _vgg16_tiny3,
    "resnet101": _resnet101,
    "resnet_tiny": _resnet_tiny,
}


@dataclass(frozen=True)
class _ModelSpec:
    build: Callable[..., nn.Module]
    layout: str
    num_classes: int
    width_kwarg: str  # the model's own channel count, scaled with the backbone's width
    full_width: int


_MODELS: dict[str, _ModelSpec] = {
    "seenet": _ModelSpec(SeeNet, "seenet", _VOC_CLASSES, "hidden_channels", 512),
    "cam_classifier": _ModelSpec(CAMClassifier, "seenet", _VOC_CLASSES, "hidden_channels", 512),
    "acol": _ModelSpec(ACoL, "seenet", _VOC_CLASSES, "hidden_channels", 512),
    "deeplab_largefov": _ModelSpec(
        DeepLabLargeFOV, "largefov", _VOC_CLASSES + 1, "head_channels", 1024
    ),
}


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`.

    Examples
    --------
    >>> list_models()
    ['acol', 'cam_classifier', 'deeplab_largefov', 'seenet']
    """
    return sorted(_MODELS)


def list_backbones() -> list[str]:
    """Names accepted as ``backbone=`` by :func:`create_model` and :func:`create_backbone`.

    Examples
    --------
    >>> list_backbones()  # doctest: +NORMALIZE_WHITESPACE
    ['resnet101', 'resnet_tiny', 'vgg16', 'vgg16_narrow', 'vgg16_narrow_bn', 'vgg16_tiny',
     'vgg16_tiny3']
    """
    return sorted(_BACKBONES)


def create_backbone(name: str, layout: str = "seenet", **kwargs: Any) -> nn.Module:
    """Build backbone ``name`` in ``layout`` (``"seenet"``: stride 16, ``"largefov"``: stride 8).

    Parameters
    ----------
    name
        One of :func:`list_backbones`: ``"vgg16"``, ``"vgg16_narrow"`` (width 1/8),
        ``"vgg16_narrow_bn"`` (width 1/8, batch norm), ``"vgg16_tiny"`` (``conv1_1`` ...
        ``conv4_3`` at width 1/8 with batch norm, stride 8 in both layouts: the synthetic
        recipe's backbone for pretraining and DeepLab), ``"vgg16_tiny3"`` (the same up to
        ``conv3_3`` and ``pool3``, receptive field 44 px: the synthetic recipe's SeeNet and CAM
        classifier), ``"resnet101"`` (frozen batch norm), ``"resnet_tiny"`` (tests and demos).
    layout
        ``"seenet"`` or ``"largefov"``.
    **kwargs
        Passed to :class:`~wsss.models.VGG16` or :class:`~wsss.models.ResNet` (e.g. ``width``,
        ``frozen_bn``, ``output_stride``).

    Examples
    --------
    >>> create_backbone("resnet_tiny", "largefov").output_stride
    8
    >>> create_backbone("vgg16_tiny").output_stride, create_backbone("vgg16_tiny").out_channels
    (8, 64)
    """
    if not isinstance(name, str) or name not in _BACKBONES:
        valid = ", ".join(list_backbones())
        raise ValueError(f"name: unknown backbone {name!r}; valid: {valid}")
    check_choice("layout", layout, VGG_LAYOUTS)
    return _BACKBONES[name](layout, **kwargs)


def create_model(
    name: str,
    *,
    backbone: str | nn.Module = "vgg16",
    num_classes: int | None = None,
    backbone_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build model ``name`` with a named (or given) backbone.

    Parameters
    ----------
    name
        ``"seenet"`` (:class:`~wsss.models.SeeNet`), ``"cam_classifier"``
        (:class:`~wsss.models.CAMClassifier`), ``"acol"`` (:class:`~wsss.models.ACoL`) or
        ``"deeplab_largefov"`` (:class:`~wsss.models.DeepLabLargeFOV`).
    backbone
        A name from :func:`list_backbones`, built in the model's layout (``"seenet"`` for the
        classifiers, ``"largefov"`` for DeepLab), or a ready module with ``out_channels``.
    num_classes
        Defaults to 20 for the classifiers (foreground only) and 21 for DeepLab.
    backbone_kwargs
        Passed to :func:`create_backbone`.
    **kwargs
        Passed to the model. Unless given, ``hidden_channels`` (512) or ``head_channels`` (1024)
        is scaled by the backbone's ``width``, and DeepLab's ``head_role`` is ``"backbone"`` for a
        VGG16 (its fc6/fc7 come from the init file) and ``"new"`` otherwise.

    Examples
    --------
    >>> model = create_model("deeplab_largefov", backbone="vgg16_narrow")
    >>> model.backbone.output_stride, model.fc6.out_channels, model.fc8.out_channels
    (8, 128, 21)
    """
    if not isinstance(name, str) or name not in _MODELS:
        raise ValueError(f"name: unknown model {name!r}; valid: {', '.join(list_models())}")
    spec = _MODELS[name]
    if backbone_kwargs is not None and not isinstance(backbone_kwargs, dict):
        raise TypeError(
            f"backbone_kwargs: expected a dict or None, got {type(backbone_kwargs).__name__}"
        )
    if isinstance(backbone, nn.Module):
        if backbone_kwargs:
            raise ValueError("backbone_kwargs: only used with a backbone name, not a module")
        module = backbone
    elif isinstance(backbone, str):
        if backbone not in _BACKBONES:
            valid = ", ".join(list_backbones())
            raise ValueError(f"backbone: unknown backbone {backbone!r}; valid: {valid}")
        module = create_backbone(backbone, spec.layout, **(backbone_kwargs or {}))
    else:
        raise TypeError(f"backbone: expected a name or an nn.Module, got {type(backbone).__name__}")
    width = getattr(module, "width", 1.0)
    kwargs.setdefault(spec.width_kwarg, scale_channels(spec.full_width, width))
    if spec.build is DeepLabLargeFOV:
        kwargs.setdefault("head_role", "backbone" if isinstance(module, VGG16) else "new")
    if num_classes is None:
        num_classes = spec.num_classes
    return spec.build(module, num_classes, **kwargs)
