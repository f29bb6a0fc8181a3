"""Networks of the pipeline: backbones, SeeNet, the CAM baseline, DeepLab-LargeFOV, weights.

``create_model(name, backbone=...)`` builds any of them by name (:mod:`wsss.models.registry`);
every model exposes ``parameter_groups()`` (roles ``backbone``, ``new``, ``classifier``) for
:func:`wsss.engine.build_sgd`, and the classifiers expose ``class_maps(images, labels)`` for
:class:`wsss.CAMExtractor`.
"""

from __future__ import annotations

from .acol import ACoL, ACoLHead, ACoLLossTerms, ACoLOutput, acol_loss
from .classifier import CAMClassifier, ClassifierOutput
from .deeplab import DeepLabLargeFOV
from .registry import create_backbone, create_model, list_backbones, list_models
from .resnet import (
    FrozenBatchNorm2d,
    ResNet,
    resnet101,
    resnet_tiny,
)
from .seenet import SeeNet
from .vgg import VGG16
from .weights import (
    LoadReport,
    ShapeMismatch,
    load_backbone_weights,
    load_deeplab_caffe_vgg16,
    load_imagenet_resnet,
    load_imagenet_vgg16,
)

__all__ = [
    "VGG16",
    "ACoL",
    "ACoLHead",
    "ACoLLossTerms",
    "ACoLOutput",
    "CAMClassifier",
    "ClassifierOutput",
    "DeepLabLargeFOV",
    "FrozenBatchNorm2d",
    "LoadReport",
    "ResNet",
    "SeeNet",
    "ShapeMismatch",
    "acol_loss",
    "create_backbone",
    "create_model",
    "list_backbones",
    "list_models",
    "load_backbone_weights",
    "load_deeplab_caffe_vgg16",
    "load_imagenet_resnet",
    "load_imagenet_vgg16",
    "resnet101",
    "resnet_tiny",
]
