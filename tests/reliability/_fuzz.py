"""The project-wide argument fuzz: public names, one valid call each, bad values, outcomes.

Every public name of every ``wsss`` package (the ``__all__`` of ``wsss``, ``wsss.data``,
``wsss.models``, ``wsss.metrics``, ``wsss.crf``, ``wsss.io`` and of any package found by
walking ``wsss`` whose ``__init__`` has an ``__all__``) needs either an entry in
:data:`REGISTRY` (one valid call, in stages: the public callable, then methods of what it
returns) or a place in :data:`SKIP` (constants and types that take no arguments, each with
its reason).

A case substitutes one argument of one stage with a bad value (:func:`bad_values`). The only
acceptable outcomes are a finite result (no NaN or infinity in any returned array, tensor,
record or module parameter) or a ``ValueError`` / ``TypeError`` (a missing or wrong file:
``OSError`` or ``wsss.io.CheckpointError``) whose message names the argument, or the file.

Used by ``test_api_fuzz.py``; CRF cases run through :func:`main` in a child process, so that a
crash inside pydensecrf is a reported failure instead of the end of the test run.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
import json
import math
import pkgutil
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

import wsss

#: Modules whose ``__all__`` is fuzzed besides the packages found by walking ``wsss``.
BASE_MODULES = ("wsss", "wsss.data", "wsss.models", "wsss.metrics", "wsss.crf", "wsss.io",
                "wsss.balance")

#: Packages being rebuilt: their names are listed but not yet required to have an entry.
#: Remove a package from here when its entries are added to REGISTRY.
AWAITING_ENTRIES: tuple[str, ...] = ()

#: Public names that take no arguments: constants and types (their reason given).
SKIP: dict[str, str] = {
    **dict.fromkeys(
        ("FIELD_SCALES", "FUSION_PRESETS", "IGNORE_INDEX", "__version__", "CAFFE", "NUM_CLASSES",
         "SPLITS", "TORCHVISION", "VOC_CLASSES", "RESNET101_LAYERS", "RESNET_TINY_LAYERS",
         "RESNET_TINY_WIDTH", "VGG16_CHANNELS", "VGG16_NARROW_WIDTH", "VGG_LAYOUTS",
         "ORACLE_NOTE", "PROFILE_REGIONS", "VOC_LABEL_NAMES", "ZONES", "CRF_PRESETS",
         "DEEPLAB_V1", "OAA", "PARAMETER_ROLES", "MIN_KERNEL_WIDTH", "MAX_COMPAT",
         "CLASS_WEIGHTINGS"),
        "a constant",
    ),
    **dict.fromkeys(
        ("COCO_SPLITS", "ERASING_ZONES", "PART_REACH_BINS", "ATTENTION_MAPS", "DATASETS",
         "PROXY_ROUTES", "RECIPES", "REFINERS", "WEIGHT_FORMATS", "PAMR_DILATIONS"),
        "a constant",
    ),
    **dict.fromkeys(
        ("ClassMapModel", "SegmentationDataset", "Scene", "SceneDataset"),
        "a typing.Protocol (an interface, never called)",
    ),
    "COCOAnnotation": "a parsed record (built by COCOSegmentation from the annotation file)",
    "LabelEntry": "a parsed record (built by read_labels_file only)",
    "ACoLOutput": "an output record (built by ACoLHead only)",
    "ACoLLossTerms": "an output record (built by acol_loss only)",
    "AttentionScore": "an output record (built by erasing_ablation only)",
    "PartReach": "an output record (built by part_reach only)",
    "PipelineDiagnostics": "an output record (built by pipeline_diagnostics only)",
    "LabelQuality": "an output record (built by label_quality only)",
    "PipelineResult": "an output record (built by run_pipeline only)",
    "StageReport": "an output record (built by make_attention / make_pseudo_labels only)",
    "StoredAttention": "an output record (built by load_attention only)",
    "TrainResult": "an output record (built by train only)",
    "DistContext": "an output record (built by init_distributed only)",
    "Transform": "a type alias (Callable[[Sample, Generator], Sample])",
    "CorruptFileError": "an exception type (raised by the readers, never called by users)",
    "CheckpointError": "an exception type (raised by load_checkpoint)",
    "AttentionMaps": "an output record (built by CAMExtractor only)",
    "SeeNetLossTerms": "an output record (built by seenet_loss only)",
    "ClassifierOutput": "an output record (built by CAMClassifier only)",
    "LoadReport": "an output record (built by the weight loaders only)",
    "ShapeMismatch": "an output record (built by the weight loaders only)",
    "ThresholdCurve": "an output record (built by CAMThresholdCurve.compute only)",
    "ZoneShares": "an output record (built by TernaryZoneCounter.compute only)",
    "AttentionProfile": "an output record (built by AttentionProfileCounter.compute only)",
    **dict.fromkeys(
        ("SYNTHETIC_PRESETS", "BACKGROUNDS", "BODY_EVIDENCE", "BODY_SHAPES",
         "DEFAULT_ACTIVE_CLASSES", "PART_EVIDENCE", "PART_PLACEMENTS", "PART_SHAPES",
         "COMPARE_METHODS"),
        "a constant",
    ),
    "SyntheticObject": "an output record (built by SyntheticVOC.scene only)",
    "SyntheticScene": "an output record (built by SyntheticVOC.scene only)",
    "SyntheticPreset": "a preset record (the presets are SYNTHETIC_PRESETS)",
    "AttentionLeak": "an output record (built by attention_leak only)",
    "CompareResult": "an output record (built by compare_methods only)",
    "PreflightError": "an exception type (raised by the preflight checks)",
}

#: Entries whose bad-value cases are known to fail today, with why; the fuzz expects them to
#: fail (strictly: a name that starts to pass must be removed from here).
KNOWN_GAPS: dict[str, str] = {}

#: Entries whose bad values hang or exhaust memory (so they cannot even run as expected
#: failures), with why; none today.
HANGS: dict[str, str] = {}


# ------------------------------------------------------------------------------------------
# Public names
# ------------------------------------------------------------------------------------------


def public_modules() -> list[str]:
    """The base modules plus every public ``wsss`` package whose ``__init__`` has ``__all__``."""
    names = list(BASE_MODULES)
    for info in pkgutil.walk_packages(wsss.__path__, "wsss."):
        if not info.ispkg or any(p.startswith("_") for p in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        if hasattr(module, "__all__") and info.name not in names:
            names.append(info.name)
    return names


def public_names() -> dict[str, list[str]]:
    """Public name -> the modules that export it."""
    out: dict[str, list[str]] = {}
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            out.setdefault(name, []).append(module_name)
    return out


def resolve(name: str) -> Any:
    modules = public_names()[name]
    return getattr(importlib.import_module(modules[0]), name)


# ------------------------------------------------------------------------------------------
# Valid calls
# ------------------------------------------------------------------------------------------


@dataclass
class Stage:
    """One call: ``target`` is the public name (stage 0) or a method name of the last result."""

    target: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: arguments that are files or folders (a missing one may raise OSError naming it)
    paths: tuple[str, ...] = ()
    #: arguments not to substitute (callbacks, or values whose bad forms mean nothing)
    fixed: tuple[str, ...] = ()
    #: network inputs whose values are not read: NaN or infinity in them gives NaN out (as
    #: documented by ``wsss._validation.check_images``)
    propagates: tuple[str, ...] = ()


@dataclass
class Entry:
    stages: list[Stage]
    #: cases that need a child process (pydensecrf may crash the interpreter)
    child: bool = False
    #: the optional package the call needs (its tests skip without it)
    requires: str | None = None
    #: at most this many cases per run (expensive calls); WSSS_FUZZ_CASES lifts the bound
    max_cases: int | None = None
    #: record fields whose NaN is documented (an IoU of a class absent from both maps)
    nan_fields: tuple[str, ...] = ()


def _files(root: Path) -> dict[str, Path]:
    """Small hand-made files in the real formats, for the readers."""
    from wsss.data import write_label

    files = {}
    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    files["image"] = root / "image.png"
    Image.fromarray(rgb).save(files["image"])
    files["label"] = root / "label.png"
    write_label(files["label"], np.array([[0, 1, 255, 2, 0]] * 4, np.uint8))
    files["saliency"] = root / "saliency.png"
    Image.fromarray(np.full((4, 5), 128, np.uint8)).save(files["saliency"])
    files["list"] = root / "train.txt"
    files["list"].write_text("2007_000032\n2007_000039\n")
    files["xml"] = root / "a.xml"
    files["xml"].write_text("<annotation><object><name>dog</name></object></annotation>")
    files["npy"] = root / "cls_labels.npy"
    np.save(files["npy"], {2007000032: np.eye(20, dtype=np.float32)[0]})
    files["sbd"] = root / "a.mat"
    import scipy.io

    seg = np.array([[0, 1], [2, 0]], np.uint8)
    scipy.io.savemat(files["sbd"], {"GTcls": {"Segmentation": seg}})
    files["checkpoint"] = root / "ckpt.pt"
    torch.save({"w": torch.ones(2)}, files["checkpoint"])
    files["folder"] = root / "saliency"
    files["folder"].mkdir()
    Image.fromarray(np.full((4, 5), 255, np.uint8)).save(files["folder"] / "2007_000032.png")
    files["labels_dir"] = root / "labels"
    files["labels_dir"].mkdir()
    write_label(files["labels_dir"] / "a.png", np.zeros((4, 5), np.uint8))
    files["out"] = root / "out" / "written.png"
    files["out_ckpt"] = root / "out" / "saved.pt"
    return files


ROOT = Path(tempfile.mkdtemp(prefix="wsss_fuzz_"))
#: the "a folder, not a file" bad value (empty, so a writer given it spoils no fixture)
FOLDER = ROOT / "a_folder"
FOLDER.mkdir()
FILES = _files(ROOT)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, for _mini_voc
from _mini_voc import build_mini_voc  # noqa: E402

MINI_VOC = build_mini_voc(ROOT / "voc")


def _sample(h: int = 4, w: int = 5):
    from wsss.data import Sample

    rng = np.random.default_rng(0)
    return Sample(
        "a",
        rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        np.eye(20, dtype=np.float32)[0],
        label=rng.integers(0, 3, (h, w)).astype(np.uint8),
        saliency=rng.random((h, w), dtype=np.float32),
    )


class _TinyMaps(nn.Module):
    """A 3 -> 2 class map model for CAMExtractor."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.classifier = nn.Conv2d(4, 2, 1)

    def class_maps(self, images, labels=None):
        return {"cam": self.classifier(torch.relu(self.stem(images)))}

    def forward(self, images):
        return self.classifier(torch.relu(self.stem(images))).mean(dim=(2, 3))


def _vgg(layout: str = "seenet") -> nn.Module:
    from wsss.models import VGG16

    torch.manual_seed(0)
    return VGG16(layout, width=0.0625)


def _probs(h: int = 4, w: int = 5) -> np.ndarray:
    p = np.full((2, h, w), 0.5, np.float32)
    p[0, :, 0], p[1, :, 0] = 0.9, 0.1
    return p


def _head_output(head_class: type[nn.Module] | None = None):
    """The output of a two-class head (``SelfErasingHead`` by default) on random features."""
    from wsss import SelfErasingHead

    torch.manual_seed(0)
    head = (head_class or SelfErasingHead)(3, 2, hidden_channels=4, dropout=0.0)
    with torch.no_grad():
        return head(torch.rand(2, 3, 3, 3), torch.tensor([[1, 0], [0, 1]]))


def _registry() -> dict[str, Entry]:
    from wsss.data import TORCHVISION, Sample

    att = torch.rand(2, 2, 3, 4)
    labels = torch.tensor([[1, 0], [1, 1]])
    cams = torch.randn(2, 2, 3, 4)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)
    label_map = np.array([[0, 1, 255, 2, 0]] * 4, np.uint8)

    def one(target: str, /, **kwargs: Any) -> Entry:
        return Entry([Stage(target, kwargs)])

    reg: dict[str, Entry] = {
        # --- wsss -------------------------------------------------------------------------
        "normalize_class_maps": one("normalize_class_maps", cams=cams, labels=labels, eps=1e-5),
        "attention_map": one("attention_map", cams=cams, labels=labels, eps=1e-5),
        "ternary_mask": one("ternary_mask", cams=cams, labels=labels, delta_h=0.7,
                            delta_l=0.05, eps=1e-5),
        "conditional_relu": one("conditional_relu", x=torch.randn(2, 3, 4, 4),
                                mask=torch.tensor([-1.0, 0.0, 1.0]).repeat(2, 4, 1)[:, :, :4]),
        "ConditionalReLU": Entry([Stage("ConditionalReLU"), Stage("__call__", {
            "x": torch.randn(2, 3, 4, 4), "mask": torch.ones(2, 4, 4)})]),
        "class_balance_weights": one("class_balance_weights",
                                     counts=torch.tensor([6.0, 2.0, 0.0, 2.0]), mode="inverse"),
        "logit_adjustment": one("logit_adjustment", weights=torch.tensor([0.5, 2.0, 0.0])),
        "pixel_class_counts": one("pixel_class_counts", labels=[label_map], num_classes=3),
        "harmonic_mean": one("harmonic_mean", a=np.full((2, 3), 0.5, np.float32),
                             b=np.full((2, 3), 0.25, np.float32), eps=1e-5),
        "fuse_saliency": one("fuse_saliency", attention=att.numpy(),
                             saliency=np.full((2, 3, 4), 0.5, np.float32), labels=labels.numpy(),
                             method="harmonic", conflict_threshold=0.7,
                             background_threshold=0.1, min_foreground=0.0, attention_floor=0.0,
                             background_attention_threshold=0.8, eps=1e-5),
        "FusionRule": one("FusionRule", foreground="harmonic", attention_floor=0.1,
                          conflict_threshold=0.7, background_threshold=0.1,
                          background_attention_threshold=0.8, min_foreground=0.01),
        "SelfErasingHead": Entry([
            Stage("SelfErasingHead", {"in_channels": 3, "num_classes": 2, "hidden_channels": 4,
                                      "delta_h": 0.7, "delta_l": 0.05, "dropout": 0.1,
                                      "share_weights": True, "init_std": 0.01}),
            Stage("__call__", {"features": torch.rand(2, 3, 3, 3), "labels": labels}),
        ]),
        "SeeNetOutput": Entry([Stage("SeeNetOutput", {
            "logits_a": torch.zeros(1, 2), "logits_b": torch.zeros(1, 2),
            "logits_c": torch.zeros(1, 2), "maps_a": torch.zeros(1, 2, 2, 2),
            "maps_b": torch.zeros(1, 2, 2, 2), "mask": torch.zeros(1, 2, 2)},
            fixed=("logits_a", "logits_b", "logits_c", "maps_a", "maps_b", "mask"))]),
        "seenet_loss": one("seenet_loss", output=_head_output(), labels=labels),
        "SeeNetLoss": Entry([Stage("SeeNetLoss"), Stage("__call__", {
            "output": _head_output(), "labels": labels})]),
        "CAMExtractor": Entry([
            Stage("CAMExtractor", {"model": _TinyMaps(), "branches": ("cam",),
                                   "scales": (1.0, 0.5), "flip": True, "flip_fusion": "max",
                                   "scale_fusion": "sum", "normalization": "max",
                                   "interpolation": "bilinear", "amp_dtype": None,
                                   "eps": 1e-5}),
            Stage("__call__", {"images": torch.rand(2, 3, 6, 6), "labels": labels}),
        ]),
        # --- wsss.data ----------------------------------------------------------------------
        "Sample": Entry([Stage("Sample", {"name": "a", "image": image,
                                          "classes": np.eye(20, dtype=np.float32)[0]},
                               fixed=("name", "image", "classes"))]),
        "Resize": Entry([Stage("Resize", {"size": (3, 2)}),
                         Stage("__call__", {"sample": _sample(),
                                            "rng": np.random.default_rng(0)})]),
        "RandomScale": Entry([Stage("RandomScale", {"low": 0.5, "high": 1.5}),
                              Stage("__call__", {"sample": _sample(),
                                                 "rng": np.random.default_rng(0)})]),
        "RandomHorizontalFlip": Entry([Stage("RandomHorizontalFlip", {"p": 1.0}),
                                       Stage("__call__", {"sample": _sample(4, 1),
                                                          "rng": np.random.default_rng(0)})]),
        "RandomCrop": Entry([Stage("RandomCrop", {"size": 3, "image_fill": (1, 2, 3),
                                                  "label_fill": 255, "saliency_fill": 0.0}),
                             Stage("__call__", {"sample": _sample(),
                                                "rng": np.random.default_rng(0)})]),
        "Compose": Entry([Stage("Compose", {"transforms": [_resize()]}),
                          Stage("__call__", {"sample": _sample(),
                                             "rng": np.random.default_rng(0)})]),
        "Normalizer": Entry([Stage("Normalizer", {"mean": (0.5, 0.5, 0.5), "std": (0.2, 0.2, 0.2),
                                                  "scale": 1 / 255, "bgr": False})]),
        "to_tensor": one("to_tensor", image=image, normalizer=TORCHVISION),
        "to_image": one("to_image", tensor=torch.zeros(3, 2, 2), normalizer=TORCHVISION),
        "AugmentedDataset": Entry([
            Stage("AugmentedDataset", {"dataset": [_sample()], "transform": _resize(),
                                       "normalizer": TORCHVISION, "seed": 0},
                  fixed=("dataset",)),
            Stage("__getitem__", {"index": 0}),
        ]),
        "labels_from_mask": one("labels_from_mask", label=label_map, num_classes=20),
        "labels_from_xml": Entry([Stage("labels_from_xml", {"path": FILES["xml"]},
                                        paths=("path",))]),
        "load_cls_labels": Entry([Stage("load_cls_labels", {"path": FILES["npy"],
                                                            "num_classes": 20},
                                        paths=("path",))]),
        "read_image": Entry([Stage("read_image", {"path": FILES["image"]}, paths=("path",))]),
        "read_label": Entry([Stage("read_label", {"path": FILES["label"], "validate": True,
                                                  "num_classes": 20}, paths=("path",))]),
        "write_label": Entry([Stage("write_label", {"path": FILES["out"], "label": label_map},
                                    paths=("path",))]),
        "read_saliency": Entry([Stage("read_saliency", {"path": FILES["saliency"],
                                                        "expected_size": (4, 5)},
                                      paths=("path",))]),
        "SaliencyFolder": Entry([Stage("SaliencyFolder", {"root": FILES["folder"],
                                                          "suffix": ".png"}, paths=("root",)),
                                 Stage("read", {"name": "2007_000032",
                                                "expected_size": (4, 5)})]),
        "read_image_list": Entry([Stage("read_image_list", {"path": FILES["list"]},
                                        paths=("path",))]),
        "read_sbd_mask": Entry([Stage("read_sbd_mask", {"path": FILES["sbd"], "validate": True,
                                                        "num_classes": 20}, paths=("path",))]),
        "colorize": one("colorize", label=label_map),
        "rgb_to_label": one("rgb_to_label", rgb=np.zeros((2, 3, 3), np.uint8)),
        "voc_palette": one("voc_palette"),
        "render_preview": one("render_preview", dataset=[_sample(), _sample()], n=2, gap=1),
        "SaliencyQuality": one("SaliencyQuality", blur_sigma=1.0, noise_std=0.05, miss_prob=0.2,
                               miss_fraction=0.3, false_positive_prob=0.3,
                               false_positive_strength=0.8),
        "SyntheticVOC": Entry([Stage("SyntheticVOC", {
            "num_images": 2, "image_size": 48, "seed": 0, "split": "train",
            "active_classes": ("cat", "dog"), "objects_per_image": (1, 2),
            "object_scale": (0.2, 0.5), "part_fraction": (0.07, 0.13), "part_prob": 1.0,
            "body_signal": 0.5, "clutter": 1.0, "max_overlap": 0.2, "boundary_width": 1}),
            Stage("__getitem__", {"index": 1})]),
        "VOCSegmentation": Entry([Stage("VOCSegmentation", {
            "root": MINI_VOC.voc, "split": "train", "sbd_root": MINI_VOC.sbd,
            "label_source": "auto", "class_source": "xml"}, paths=("root", "sbd_root")),
            Stage("__getitem__", {"index": 0})]),
        # --- wsss.models --------------------------------------------------------------------
        "VGG16": Entry([Stage("VGG16", {"layout": "seenet", "width": 0.0625,
                                        "batch_norm": False, "output_stride": 16,
                                        "num_blocks": 5}),
                        Stage("__call__", {"x": torch.rand(1, 3, 16, 16)}, propagates=("x",))]),
        "ResNet": Entry([Stage("ResNet", {"layers": (1, 1, 1, 1), "width": 0.0625,
                                          "output_stride": 8, "frozen_bn": True,
                                          "stride_in_1x1": False}),
                         Stage("__call__", {"x": torch.rand(1, 3, 8, 8)}, propagates=("x",))]),
        "resnet_tiny": Entry([Stage("resnet_tiny", {"output_stride": 16, "frozen_bn": True,
                                                    "width": 0.0625}),
                              Stage("__call__", {"x": torch.rand(1, 3, 8, 8)}, propagates=("x",))]),
        "resnet101": Entry([Stage("resnet101", {"output_stride": 8, "frozen_bn": True,
                                                "width": 0.03125})]),
        "Bottleneck": Entry([Stage("Bottleneck", {"in_channels": 4, "planes": 2, "stride": 2,
                                                  "dilation": 1, "frozen_bn": True,
                                                  "stride_in_1x1": False}),
                             Stage("__call__", {"x": torch.rand(1, 4, 5, 5)}, propagates=("x",))]),
        "FrozenBatchNorm2d": Entry([Stage("FrozenBatchNorm2d", {"num_features": 2, "eps": 1e-5}),
                                    Stage("__call__", {"x": torch.rand(1, 2, 3, 3)},
                                          propagates=("x",))]),
        "CAMClassifier": Entry([Stage("CAMClassifier", {"backbone": _vgg(), "num_classes": 2,
                                                        "hidden_channels": 4, "dropout": 0.1,
                                                        "init_std": 0.01}),
                                Stage("__call__", {"images": torch.rand(1, 3, 16, 16)},
                                      propagates=("images",))]),
        "SeeNet": Entry([Stage("SeeNet", {"backbone": _vgg(), "num_classes": 2,
                                          "hidden_channels": 4, "init_std": 0.01}),
                         Stage("__call__", {"images": torch.rand(2, 3, 16, 16),
                                            "labels": labels})]),
        "DeepLabLargeFOV": Entry([Stage("DeepLabLargeFOV", {
            "backbone": _vgg("largefov"), "num_classes": 3, "head_channels": 4, "dilation": 2,
            "dropout": 0.5, "head_role": "new"}),
            Stage("__call__", {"images": torch.rand(1, 3, 9, 9)},
                  propagates=("images",))]),
        "create_backbone": one("create_backbone", name="vgg16_narrow", layout="largefov",
                               width=0.0625),
        "create_model": one("create_model", name="cam_classifier", backbone="vgg16_tiny3",
                            num_classes=2, backbone_kwargs={"width": 0.0625}),
        "list_backbones": one("list_backbones"),
        "list_models": one("list_models"),
        "scale_channels": one("scale_channels", channels=64, width=0.5),
        "torchvision_vgg16_keys": one("torchvision_vgg16_keys"),
        # weights may be a file: a missing one is named
        "load_backbone_weights": Entry([Stage("load_backbone_weights", {
            "backbone": _vgg(), "weights": _vgg().state_dict(), "strict": True},
            paths=("weights",))]),
        "load_imagenet_vgg16": Entry([Stage("load_imagenet_vgg16", {
            "backbone": _vgg(), "weights": {}, "strict": False}, paths=("weights",))]),
        "load_imagenet_resnet": Entry([Stage("load_imagenet_resnet", {
            "backbone": _tiny_resnet(), "weights": {}, "strict": False}, paths=("weights",))]),
        "load_deeplab_caffe_vgg16": Entry([Stage("load_deeplab_caffe_vgg16", {
            "model": _deeplab(), "weights": {}, "load_fc8": True, "strict": False},
            paths=("weights",))]),
        # --- wsss.metrics -------------------------------------------------------------------
        "ConfusionMatrix": Entry([Stage("ConfusionMatrix", {"num_classes": 3,
                                                            "ignore_index": 255,
                                                            "class_names": ("a", "b", "c")}),
                                  Stage("update", {"prediction": label_map % 3,
                                                   "target": label_map})]),
        "SegmentationScores": Entry([Stage("SegmentationScores.from_matrix", {
            "matrix": np.array([[3, 1], [0, 2]]), "class_names": ("a", "b")})]),
        "mean_iou": one("mean_iou", predictions=label_map % 3, targets=label_map,
                        num_classes=3, ignore_index=255),
        "CAMThresholdCurve": Entry([Stage("CAMThresholdCurve", {
            "thresholds": (0.2, 0.5), "num_classes": 3, "ignore_index": 255,
            "class_names": ("bg", "a", "b")}),
            Stage("update", {"attention": np.full((2, 4, 5), 0.5, np.float32),
                             "classes": np.array([1, 0]), "target": label_map})]),
        "TernaryZoneCounter": one("TernaryZoneCounter", delta_h=0.7, delta_l=0.05,
                                  ignore_index=255),
        "AttentionProfileCounter": Entry([Stage("AttentionProfileCounter", {
            "radius": 2, "ignore_index": 255})]),
        # --- wsss.crf (in a child process) --------------------------------------------------
        "CRFParams": Entry([Stage("CRFParams", {
            "gaussian_sxy": 3.0, "gaussian_compat": 3.0, "bilateral_sxy": 20.0,
            "bilateral_srgb": 5.0, "bilateral_compat": 4.0, "iterations": 2,
            "min_probability": 1e-5}), Stage("dense_crf_with", {})], child=True),
        "dense_crf": Entry([Stage("dense_crf", {"image": image, "probs": _probs(),
                                                "params": _crf_params()})], child=True),
        "refine_many": Entry([Stage("refine_many", {
            "items": [(image, _probs())], "params": _crf_params(), "processes": 1,
            "progress": False, "start_method": None}, fixed=("loader", "postprocess")),
            Stage("__list__", {})], child=True),
        # --- wsss.io ------------------------------------------------------------------------
        "save_checkpoint": Entry([Stage("save_checkpoint", {"obj": {"w": torch.ones(2)},
                                                            "path": FILES["out_ckpt"]},
                                        paths=("path",), fixed=("obj",))]),
        "load_checkpoint": Entry([Stage("load_checkpoint", {"path": FILES["checkpoint"]},
                                        paths=("path",))]),
        "atomic_write": Entry([Stage("atomic_write", {"path": FILES["out"], "mode": "wb"},
                                    paths=("path",)), Stage("__enter_exit__", {})]),
        # --- wsss.engine --------------------------------------------------------------------
        "LRMultipliers": one("LRMultipliers", backbone_weight=1.0, backbone_bias=2.0,
                             new_weight=10.0, new_bias=20.0, classifier_weight=10.0,
                             classifier_bias=20.0),
        "PolyDecay": Entry([Stage("PolyDecay", {"max_iters": 10, "power": 0.9}),
                            Stage("__call__", {"iteration": 3})]),
        "build_sgd": one("build_sgd", model=_cam_model(), lr=0.01, momentum=0.9,
                         weight_decay=5e-4),
        "poly_lr_scheduler": one("poly_lr_scheduler",
                                 optimizer=torch.optim.SGD([nn.Parameter(torch.ones(1))], 0.1),
                                 max_iters=10, power=0.9),
    }
    del Sample
    return reg


def _resize():
    from wsss.data import Resize

    return Resize(3)


def _crf_params():
    from wsss.crf import CRFParams

    return CRFParams(3, 3, 20, 5, 4, 2)


def _tiny_resnet():
    from wsss.models import resnet_tiny

    return resnet_tiny(width=0.0625)


def _deeplab():
    from wsss.models import DeepLabLargeFOV

    return DeepLabLargeFOV(_vgg("largefov"), 3, head_channels=4)


def _cam_model():
    from wsss.models import CAMClassifier

    torch.manual_seed(0)
    return CAMClassifier(_vgg(), 2, hidden_channels=4)




# ------------------------------------------------------------------------------------------
# Datasets, the engine, the diagnostics, ACoL and PAMR: tiny valid calls (48 px synthetic
# images, resnet_tiny networks, two training iterations)
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fresh:
    """An argument made anew for every call (a new run or output folder, so that no call sees
    what an earlier one wrote)."""

    make: Callable[[], Any]


def _fresh_dir(prefix: str) -> Fresh:
    return Fresh(lambda: Path(tempfile.mkdtemp(prefix=prefix, dir=ROOT)))


def _fresh_run() -> Fresh:
    from wsss.engine import RunDir

    return Fresh(lambda: RunDir(tempfile.mkdtemp(prefix="run_", dir=ROOT)))


@dataclass
class _Engine:
    """The shared fixtures of the engine entries (built once, on first use)."""

    dataset: Any
    seenet_config: Any
    deeplab_config: Any
    seenet: nn.Module
    deeplab: nn.Module
    attention_dir: Path
    label_dir: Path
    deeplab_file: Path
    coco_root: Path
    folder_root: Path
    class_list: Path
    labels_file: Path


def _engine() -> _Engine:
    from _mini_coco import build_mini_coco
    from _mini_folder import build_mini_folder

    from wsss.data import SyntheticVOC
    from wsss.engine import ModelConfig, build_model, make_attention, make_pseudo_labels
    from wsss.io import save_checkpoint

    dataset = SyntheticVOC(2, image_size=48, seed=0)
    seenet_config = ModelConfig("seenet", backbone="resnet_tiny")
    deeplab_config = ModelConfig("deeplab_largefov", backbone="resnet_tiny")
    torch.manual_seed(0)
    seenet = build_model(seenet_config, 20).eval()
    deeplab = build_model(deeplab_config, 20).eval()
    attention_dir, label_dir = ROOT / "attention", ROOT / "proxy"
    make_attention(seenet, dataset, attention_dir, normalizer=seenet_config.normalizer,
                   progress=False)
    make_pseudo_labels(dataset, attention_dir, label_dir, progress=False)
    save_checkpoint(deeplab.state_dict(), ROOT / "deeplab.pt")
    folder = build_mini_folder(ROOT / "folder_dataset")
    labels_file = ROOT / "labels.csv"
    labels_file.write_text("name,classes\na.jpg,cat\nb,cat;dog\nc,\n")
    return _Engine(dataset, seenet_config, deeplab_config, seenet, deeplab, attention_dir,
                   label_dir, ROOT / "deeplab.pt", build_mini_coco(ROOT / "coco"), folder.root,
                   folder.root / "classes.txt", labels_file)


def _batch() -> list[dict[str, Any]]:
    """Two items as :class:`wsss.data.AugmentedDataset` returns them (sizes differ)."""
    items = []
    for h, w in ((4, 5), (3, 6)):
        items.append({"image": torch.rand(3, h, w), "classes": torch.tensor([1.0, 0.0]),
                      "label": torch.zeros(h, w, dtype=torch.long),
                      "saliency": torch.rand(h, w), "name": f"{h}x{w}"})
    return items


def _registry_more() -> dict[str, Entry]:
    from wsss.data import AugmentedDataset, COCOAnnotation, RandomHorizontalFlip
    from wsss.engine import (
        RECIPES,
        DataConfig,
        LRMultipliers,
        PipelineConfig,
        TrainConfig,
        build_model,
        evaluate,
    )
    from wsss.engine.steps import classifier_step
    from wsss.models import ACoLHead

    e = _engine()
    data = e.dataset
    norm = e.seenet_config.normalizer
    name0 = data.names[0]
    labels = torch.tensor([[1, 0], [1, 1]])
    recipe = RECIPES["synthetic"]
    tiny_train = TrainConfig(iterations=2, batch_size=2, log_every=1, checkpoint_every=2)
    scores = evaluate(e.deeplab, data, normalizer=norm, progress=False)
    polygon = [[0.0, 0.0, 4.0, 0.0, 4.0, 3.0, 0.0, 3.0]]
    pipeline = PipelineConfig(data=DataConfig(synthetic_train=4, synthetic_val=2, image_size=48),
                              iterations={"pretrain": 1, "classifier": 1, "deeplab": 1},
                              batch_size=2, figures=1, baseline_deeplab=False)

    def one(target: str, /, **kwargs: Any) -> Entry:
        return Entry([Stage(target, kwargs)])

    return {
        # --- wsss.data ----------------------------------------------------------------------
        "COCOSegmentation": Entry([Stage("COCOSegmentation", {
            "root": e.coco_root, "split": "val2014", "annotations": None, "image_dir": None,
            "masks": True, "mask_dir": None, "saliency_dir": None},
            paths=("root", "annotations", "image_dir", "mask_dir", "saliency_dir")),
            Stage("__getitem__", {"index": 0})], requires="pycocotools"),
        "FolderDataset": Entry([Stage("FolderDataset", {
            "root": e.folder_root, "labels": None, "classes": None, "split": "train",
            "image_dir": None, "mask_dir": "auto", "saliency_dir": "auto"},
            paths=("root", "labels", "classes", "split", "image_dir", "mask_dir",
                   "saliency_dir")),
            Stage("__getitem__", {"index": 1})]),
        "WithLabels": Entry([Stage("WithLabels", {"dataset": data, "label_dir": e.label_dir},
                                   paths=("label_dir",)),
                             Stage("__getitem__", {"index": 1})]),
        "DatasetSubset": Entry([Stage("DatasetSubset", {"dataset": data, "indices": [1]}),
                                Stage("__getitem__", {"index": 0})]),
        "check_dataset": one("check_dataset", dataset=data),
        "describe_dataset": one("describe_dataset", dataset=data),
        "image_labels": one("image_labels", dataset=data),
        "split_by_labels": one("split_by_labels", dataset=data),
        "pad_collate": one("pad_collate", batch=_batch(), image_fill=0.0, label_fill=255,
                           saliency_fill=0.0),
        "stack_collate": one("stack_collate", batch=_batch()[:1] * 2),
        "decode_segmentation": Entry([Stage("decode_segmentation", {
            "segmentation": polygon, "height": 4, "width": 5})], requires="pycocotools"),
        "render_coco_mask": Entry([Stage("render_coco_mask", {
            "annotations": [COCOAnnotation(1, 2, False, polygon)], "height": 4, "width": 5})],
            requires="pycocotools"),
        "read_class_list": Entry([Stage("read_class_list", {"path": e.class_list},
                                        paths=("path",))]),
        "read_labels_file": Entry([Stage("read_labels_file", {
            "path": e.labels_file, "class_names": ("cat", "dog")}, paths=("path",))]),
        # --- wsss.models / wsss.refine ------------------------------------------------------
        "ACoLHead": Entry([
            Stage("ACoLHead", {"in_channels": 3, "num_classes": 2, "hidden_channels": 4,
                               "threshold": 0.6, "dropout": 0.1, "init_std": 0.01}),
            Stage("__call__", {"features": torch.rand(2, 3, 3, 3), "labels": labels})]),
        "ACoL": Entry([
            Stage("ACoL", {"backbone": _vgg(), "num_classes": 2, "hidden_channels": 4}),
            Stage("__call__", {"images": torch.rand(2, 3, 16, 16), "labels": labels})]),
        "acol_loss": one("acol_loss", output=_head_output(ACoLHead), labels=labels),
        "pamr": one("pamr", image=torch.rand(1, 3, 6, 6), masks=torch.rand(1, 2, 6, 6),
                    iterations=2, dilations=(1, 2), eps=1e-5),
        "pamr_affinities": one("pamr_affinities", image=torch.rand(1, 3, 6, 6),
                               dilations=(1, 2), eps=1e-5),
        "PAMR": Entry([Stage("PAMR", {"iterations": 2, "dilations": (1, 2), "eps": 1e-5}),
                       Stage("__call__", {"image": torch.rand(1, 3, 6, 6),
                                          "masks": torch.rand(1, 2, 6, 6)})]),
        # --- wsss.diagnostics ---------------------------------------------------------------
        "require_scenes": one("require_scenes", dataset=data),
        "attention_zones": Entry([Stage("attention_zones", {
            "dataset": data, "attention_dir": e.attention_dir, "branch": "a", "delta_h": 0.7,
            "delta_l": 0.05}, paths=("attention_dir",))]),
        "attention_profiles": one("attention_profiles", dataset=data,
                                  sources={"a": (e.attention_dir, "a")}, radius=2),
        "erasing_ablation": Entry([Stage("erasing_ablation", {
            "model": e.seenet, "dataset": data, "normalizer": norm, "part_cover": 0.25,
            "radius": 2, "progress": False})], max_cases=12),
        "part_reach": Entry([Stage("part_reach", {
            "model": e.seenet, "dataset": data, "hidden": data, "normalizer": norm,
            "branch": None, "bins": (0.0, 8.0, 16.0), "radius": 2, "progress": False})],
            max_cases=12),
        "pipeline_diagnostics": Entry([Stage("pipeline_diagnostics", {
            "dataset": data, "attention": {"SeeNet S_A": (e.attention_dir, "a")},
            "seenet": e.seenet, "normalizer": norm, "progress": False})], max_cases=12),
        # --- wsss.engine: configs -----------------------------------------------------------
        "DataConfig": one("DataConfig", dataset="synthetic", root=None, sbd_root=None,
                          saliency_dir=None, train_split="train_aug", val_split="val",
                          synthetic_train=4, synthetic_val=2, image_size=48, seed=0,
                          synthetic_part_prob=1.0),
        "ModelConfig": one("ModelConfig", name="seenet", backbone="resnet_tiny", weights=None,
                           weights_format="torchvision", kwargs={}),
        "NetSpec": one("NetSpec", backbone="resnet_tiny", kwargs={}),
        "Recipe": Entry([Stage("Recipe", {f.name: getattr(recipe, f.name)
                                          for f in dataclasses.fields(recipe)})]),
        "TrainConfig": one("TrainConfig", iterations=2, batch_size=2, micro_batch=None,
                           optimizer="sgd", lr=0.001, momentum=0.9, weight_decay=5e-4,
                           power=0.9, multipliers=LRMultipliers(), seed=0, num_workers=0,
                           checkpoint_every=500, log_every=10, amp="none",
                           channels_last=False),
        "with_changes": one("with_changes", config=tiny_train, lr=0.01, batch_size=4),
        "recipe_for": one("recipe_for", data=DataConfig(image_size=48)),
        "PipelineConfig": Entry([Stage("PipelineConfig", {
            "data": DataConfig(synthetic_train=4, synthetic_val=2, image_size=48),
            "recipe": None, "backbone": None, "weights": None, "weights_format": "torchvision",
            "iterations": {"pretrain": 1, "classifier": 1, "deeplab": 1}, "batch_size": 2,
            "micro_batch": None, "seed": 0, "baseline_deeplab": False, "proxy": "saliency",
            "refine": "none", "crf": False, "figures": 1, "diagnostics": False,
            "skip_bad": False})]),
        "RunDir": Entry([Stage("RunDir", {"path": _fresh_dir("rundir_")}, paths=("path",)),
                         Stage("write_json", {"name": "a.json", "data": {"x": 1}})]),
        "init_distributed": one("init_distributed", device="cpu", backend=None),
        # --- wsss.engine: data and models ---------------------------------------------------
        "load_dataset": Entry([Stage("load_dataset", {
            "data": DataConfig(synthetic_train=2, image_size=48), "split": "train",
            "labels_from": e.label_dir}, paths=("labels_from",)),
            Stage("__getitem__", {"index": 1})]),
        "class_names": one("class_names", dataset=data),
        "InMemory": Entry([Stage("InMemory", {"dataset": data}),
                           Stage("__getitem__", {"index": 1})]),
        "build_model": one("build_model", config=e.seenet_config, num_classes=3),
        "load_trained": Entry([Stage("load_trained", {
            "config": e.deeplab_config, "path": e.deeplab_file, "num_classes": 20},
            paths=("path",))]),
        "build_adamw": one("build_adamw", model=_cam_model(), lr=1e-3, weight_decay=1e-4,
                           betas=(0.9, 0.999), multipliers=LRMultipliers()),
        # --- wsss.engine: stages ------------------------------------------------------------
        "train_transform": Entry([Stage("train_transform", {"crop": 32, "normalizer": norm}),
                                  Stage("__call__", {"sample": _sample(),
                                                     "rng": np.random.default_rng(0)})]),
        "train": Entry([Stage("train", {
            "model": build_model(_cam_config(), 20),
            "dataset": AugmentedDataset(data, RandomHorizontalFlip(), norm, seed=0),
            "step": classifier_step, "config": tiny_train, "run": _fresh_run(),
            "resume": False, "stop_after": None, "progress": False, "desc": "train"},
            fixed=("step",))], max_cases=16),
        "train_model": Entry([Stage("train_model", {
            "model_config": e.seenet_config, "dataset": data, "train_config": tiny_train,
            "run": _fresh_run(), "labels_from": None, "crop": None, "resume": False,
            "stop_after": None, "progress": False}, paths=("labels_from",))], max_cases=12),
        "pretrain_backbone": Entry([Stage("pretrain_backbone", {
            "model_config": _cam_config(), "dataset": data, "train_config": tiny_train,
            "run": _fresh_run(), "crop": None, "resume": False, "progress": False})],
            max_cases=12),
        "make_attention": Entry([Stage("make_attention", {
            "model": e.seenet, "dataset": data, "out_dir": _fresh_dir("att_"),
            "normalizer": norm, "scales": (1.0,), "flip": True, "skip_bad": False,
            "progress": False}, paths=("out_dir",))], max_cases=16),
        "make_pseudo_labels": Entry([Stage("make_pseudo_labels", {
            "dataset": data, "attention_dir": e.attention_dir, "out_dir": _fresh_dir("lab_"),
            "proxy": "saliency", "method": "harmonic", "fusion_kwargs": None,
            "threshold": None, "refine": "none", "skip_bad": False, "progress": False},
            paths=("attention_dir", "out_dir"))], max_cases=16),
        "stored_attention": Entry([Stage("stored_attention", {
            "dataset": data, "attention_dir": e.attention_dir, "branch": "a"},
            paths=("attention_dir",)), Stage("__list__", {})]),
        "attention_quality": Entry([Stage("attention_quality", {
            "dataset": data, "attention_dir": e.attention_dir, "branch": "a"},
            paths=("attention_dir",))]),
        "label_quality": Entry([Stage("label_quality", {
            "dataset": data, "label_dir": e.label_dir}, paths=("label_dir",))],
            nan_fields=("iou", "precision", "recall")),
        "evaluate": Entry([Stage("evaluate", {
            "model": e.deeplab, "dataset": data, "normalizer": norm, "scales": (1.0,),
            "flip": False, "crf": False, "save_dir": _fresh_dir("pred_"), "progress": False},
            paths=("save_dir",))], nan_fields=("iou", "precision", "recall"), max_cases=16),
        "predict_segmentation": one("predict_segmentation", model=e.deeplab,
                                    images=torch.rand(1, 3, 16, 16), scales=(1.0, 0.5),
                                    flip=True),
        "save_attention": Entry([Stage("save_attention", {
            "path": FILES["out"].with_name(f"{name0}.npz"),
            "fused": np.full((2, 4, 5), 0.5, np.float32),
            "branches": {"a": np.full((2, 4, 5), 0.25, np.float32)},
            "classes": np.array([1.0, 0.0], np.float32), "class_names": ("cat", "dog")},
            paths=("path",))]),
        "load_attention": Entry([Stage("load_attention", {
            "path": e.attention_dir / f"{name0}.npz", "class_names": data.class_names},
            paths=("path",))]),
        # --- wsss.engine: checks ------------------------------------------------------------
        "class_frequencies": one("class_frequencies", dataset=data),
        "base_rate_loss": one("base_rate_loss", frequencies=np.array([0.5, 0.25])),
        "classifier_check": one("classifier_check", name="SeeNet", final_loss=0.3,
                                frequencies=np.array([0.5, 0.25]), ratio=0.8),
        "segmentation_check": one("segmentation_check", name="DeepLab", scores=scores,
                                  floor=0.05),
        "class_weighting_hint": one("class_weighting_hint", missed=["DeepLab missed dog"],
                                    class_weighting="none"),
        "synthetic_dataset": one("synthetic_dataset", preset="few_classes", num_images=2,
                                 image_size=48, seed=0, split="train"),
        "from_scratch": one("from_scratch", data=DataConfig(synthetic_train=2, image_size=48),
                            weights=None),
        "previous_path": Entry([Stage("previous_path", {"path": FILES["checkpoint"]},
                                      paths=("path",))]),
        "load_latest_checkpoint": Entry([Stage("load_latest_checkpoint", {
            "path": FILES["checkpoint"]}, paths=("path",))]),
        "attention_leak": Entry([Stage("attention_leak", {
            "dataset": data, "attention_dir": e.attention_dir, "branch": "a"},
            paths=("attention_dir",))]),
        "CompareConfig": one("CompareConfig", data=DataConfig(synthetic_train=4, synthetic_val=2,
                                                              image_size=48),
                             methods=("cam",), seeds=(0,), ae_steps=1,
                             iterations={"pretrain": 1, "classifier": 1}, batch_size=2,
                             figures=1),
        "compare_methods": Entry([Stage("compare_methods", {
            "config": _compare_config(), "run_dir": _fresh_dir("compare_"), "resume": False,
            "progress": False, "log": _quiet}, paths=("run_dir",), fixed=("log",))],
            max_cases=6),
        "run_pipeline": Entry([Stage("run_pipeline", {
            "config": pipeline, "run_dir": _fresh_dir("pipeline_"), "resume": False,
            "progress": False, "log": _quiet}, paths=("run_dir",), fixed=("log",))],
            nan_fields=("iou", "precision", "recall"), max_cases=8),
    }


def _compare_config():
    from wsss.engine import CompareConfig, DataConfig

    return CompareConfig(data=DataConfig(synthetic_train=4, synthetic_val=2, image_size=48),
                         methods=("cam",), seeds=(0,), ae_steps=1,
                         iterations={"pretrain": 1, "classifier": 1}, batch_size=2, figures=1)


def _quiet(message: str) -> None:
    """A ``log`` callback that prints nothing."""


def _cam_config():
    from wsss.engine import ModelConfig

    return ModelConfig("cam_classifier", backbone="resnet_tiny")


#: The CRF child process (this file run as a script) needs only the CRF entries: it skips
#: building the engine fixtures.
REGISTRY = {**_registry(), **(_registry_more() if __name__ != "__main__" else {})}


# ------------------------------------------------------------------------------------------
# Bad values
# ------------------------------------------------------------------------------------------

_SCALARS: list[tuple[str, object]] = [
    ("None", None), ("nan", math.nan), ("inf", math.inf), ("-inf", -math.inf),
    ("negative", -1), ("zero", 0), ("tiny", 1e-9), ("huge int", 10**12), ("huge float", 1e300),
    ("bool", True), ("str", "x"), ("list", [1.0]),
]


def bad_values(valid: object) -> list[tuple[str, object]]:
    """Bad forms of one valid argument value, each with a label."""
    if isinstance(valid, Fresh):
        valid = valid.make()
    out = list(_SCALARS)
    if isinstance(valid, (np.ndarray, torch.Tensor)):
        t = torch.as_tensor(valid)
        as_same = (lambda x: x.numpy()) if isinstance(valid, np.ndarray) else (lambda x: x)
        out += [
            ("float64", as_same(t.double())),
            ("int64", as_same(t.long()) if not t.is_floating_point() else as_same(
                t.mul(10).long())),
            ("bool array", as_same(t != 0)),
            ("empty", as_same(t[:0]) if t.ndim else as_same(t.reshape(1)[:0])),
            ("rank+1", as_same(t[None])),
            ("rank-1", as_same(t[0]) if t.ndim else as_same(t.reshape(1))),
            ("list", t.tolist()),
            ("other library", t.numpy() if isinstance(valid, torch.Tensor) else t.clone()),
            ("negative values", as_same(t.double() - 10)),
        ]
        if t.is_floating_point():
            nan = t.clone()
            nan.view(-1)[0] = math.nan
            inf = t.clone()
            inf.view(-1)[-1] = math.inf
            out += [("nan value", as_same(nan)), ("inf value", as_same(inf)),
                    ("huge values", as_same(t.double() * 1e300))]
    elif isinstance(valid, (tuple, list)) and valid and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in valid
    ):
        out += [("empty sequence", type(valid)()), ("nan element", (math.nan, *valid[1:])),
                ("short", valid[:1] if len(valid) > 1 else (*valid, *valid)),
                ("negative element", (-1, *valid[1:]))]
    elif isinstance(valid, Path):
        # no bare relative name: a writer given "x" would write into the working directory
        out = [(label, value) for label, value in out if label != "str"]
        out += [("text path", str(ROOT / "missing" / "x")),
                ("missing file", ROOT / "missing" / valid.name), ("folder", FOLDER),
                ("empty name", ""), ("bytes path", bytes(valid))]
    elif isinstance(valid, nn.Module):
        out += [("other module", nn.Identity()), ("module class", type(valid))]
    elif isinstance(valid, np.random.Generator):
        out += [("legacy generator", np.random.RandomState(0)), ("seed", 0)]
    return out


def cases(name: str) -> list[tuple[int, str, str]]:
    """Every (stage, argument, bad value label) of a registry entry."""
    entry = REGISTRY[name]
    out = []
    for i, stage in enumerate(entry.stages):
        for arg, value in stage.kwargs.items():
            if arg in stage.fixed:
                continue
            out += [(i, arg, label) for label, _ in bad_values(value)]
    return out


# ------------------------------------------------------------------------------------------
# Running a case
# ------------------------------------------------------------------------------------------


def _call(target: object, stage: Stage, kwargs: dict[str, Any]) -> Any:
    if stage.target == "__list__":
        return list(target)  # type: ignore[call-overload]
    if stage.target == "__enter_exit__":
        with target as f:  # type: ignore[attr-defined]
            f.write(b"x")
        return None
    if stage.target == "dense_crf_with":
        from wsss.crf import dense_crf

        image = np.random.default_rng(0).integers(0, 256, (4, 5, 3), dtype=np.uint8)
        return dense_crf(image, _probs(), target)  # type: ignore[arg-type]
    if stage.target == "__call__":
        return target(**kwargs)  # type: ignore[operator]
    return getattr(target, stage.target)(**kwargs)


def run(name: str, case: tuple[int, str, str] | None) -> Any:
    """Run entry ``name`` with one argument replaced (``case``) or as registered (``None``)."""
    entry = REGISTRY[name]
    result: Any = None
    for i, stage in enumerate(entry.stages):
        kwargs = {k: v.make() if isinstance(v, Fresh) else v
                  for k, v in copy.deepcopy(stage.kwargs).items()}
        if case is not None and case[0] == i:
            kwargs[case[1]] = dict(bad_values(stage.kwargs[case[1]]))[case[2]]
        if i == 0:
            head, _, method = stage.target.partition(".")
            target = resolve(head)
            result = getattr(target, method)(**kwargs) if method else target(**kwargs)
        else:
            result = _call(result, stage, kwargs)
    return result


def non_finite(name: str, result: Any) -> str | None:
    """Where the result of entry ``name`` holds a NaN or infinity that its docs do not allow."""
    return _non_finite(result, skip=REGISTRY[name].nan_fields)


def _non_finite(x: Any, depth: int = 0, skip: tuple[str, ...] = ()) -> str | None:
    """Where ``x`` holds a NaN or an infinity (a float array, tensor, record or module);
    record fields named in ``skip`` may hold NaN (not infinity)."""
    if depth > 4:
        return None
    if isinstance(x, torch.Tensor):
        x = x.detach()
        if (x.is_floating_point() or x.is_complex()) and not bool(torch.isfinite(x).all()):
            return "tensor"
        return None
    if isinstance(x, np.ndarray):
        if x.dtype.kind in "fc" and not np.isfinite(x).all():
            return "array"
        return None
    if isinstance(x, float):
        return None if math.isfinite(x) or (math.isnan(x) and depth == 0) else "float"
    if isinstance(x, nn.Module):
        for key, value in [*x.named_parameters(), *x.named_buffers()]:
            if value.is_floating_point() and not bool(torch.isfinite(value).all()):
                return f"module {key}"
        return None
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        for f in dataclasses.fields(x):
            value = getattr(x, f.name)
            if f.name in skip and isinstance(value, np.ndarray) and not np.isinf(value).any():
                continue
            where = _non_finite(value, depth + 1, skip)
            if where:
                return f"{f.name}: {where}"
        return None
    if isinstance(x, Mapping):
        items: Any = x.values()
    elif isinstance(x, (list, tuple)):
        items = x
    else:
        return None
    for item in list(items)[:64]:
        where = _non_finite(item, depth + 1, skip)
        if where:
            return where
    return None


_ALLOWED = (ValueError, TypeError)


def _names(message: str, word: str) -> bool:
    return bool(re.search(rf"(?<![A-Za-z0-9_]){re.escape(word)}(?![A-Za-z0-9_])", message))


def check_case(name: str, case: tuple[int, str, str]) -> str | None:
    """``None`` when the case has an acceptable outcome, else what went wrong."""
    from wsss.io import CheckpointError

    entry = REGISTRY[name]
    stage = entry.stages[case[0]]
    arg = case[1]
    bad = dict(bad_values(stage.kwargs[arg]))[case[2]]
    try:
        result = run(name, case)
    except (*_ALLOWED, OSError, CheckpointError, IndexError) as error:
        message = str(error)
        if isinstance(error, IndexError) and not any(
            s.target == "__getitem__" for s in entry.stages
        ):
            return f"IndexError outside __getitem__: {message[:300]!r}"
        # the argument, or another argument of the call it does not fit with
        arguments = {a for s in entry.stages for a in s.kwargs}
        named = _names(message, arg) or any(_names(message, a) for a in arguments)
        # or the file: the path given, or a file of the call (a missing or wrong one)
        names_file = str(ROOT) in message or (
            arg in stage.paths and isinstance(bad, (str, Path)) and bool(str(bad))
            and str(bad) in message
        )
        if isinstance(error, (OSError, CheckpointError)) and not isinstance(error, _ALLOWED):
            if not names_file and not (arg in stage.paths and named):
                return f"{type(error).__name__} that names no file: {message[:300]!r}"
            return None
        if not (named or names_file):
            return f"{type(error).__name__} does not name {arg!r}: {message[:300]!r}"
        return None
    except ImportError as error:
        # a valid value that switches on a feature of an optional extra that is not installed:
        # refused by naming the extra to install
        if 'wsss[' in str(error):
            return None
        return f"ImportError that names no extra: {str(error)[:300]!r}"
    except Exception as error:
        return f"{type(error).__name__}: {str(error)[:300]!r}"
    where = non_finite(name, result)
    if where and arg in stage.propagates and case[2] in ("nan value", "inf value",
                                                          "huge values"):
        return None
    if where:
        return f"accepted, and the result holds NaN or infinity ({where})"
    return None


def main() -> None:
    """Child process: run the cases named on stdin as JSON, one result line per case."""
    todo = json.loads(sys.stdin.read())
    for name, stage, arg, label in todo:
        print(json.dumps(["start", name, stage, arg, label]), flush=True)
        if name == "__crash__":  # lets the tests check that a crash is reported
            import os

            os.abort()
        problem = check_case(name, (stage, arg, label))
        print(json.dumps(["done", name, stage, arg, label, problem]), flush=True)


def iter_child_cases() -> Iterator[tuple[str, int, str, str]]:
    for name, entry in REGISTRY.items():
        if entry.child:
            for stage, arg, label in cases(name):
                yield name, stage, arg, label


Callback = Callable[..., Any]

if __name__ == "__main__":
    main()
