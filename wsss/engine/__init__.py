"""The pipeline engine: from image-level labels to a segmentation network and its mIoU.

One call runs everything (:func:`run_pipeline`); each stage is also a function of its own:

::

    DataConfig --load_dataset--> dataset (class_names, names, Sample per image)
      --train_model("seenet" | "cam_classifier")--> classifier       (image labels only)
      --make_attention--> <name>.npz attention maps                  (CAMExtractor)
      --make_pseudo_labels--> <name>.png proxy labels                (attention + saliency)
      --train_model("deeplab_largefov", labels_from=...)--> DeepLab-LargeFOV
      --evaluate--> SegmentationScores (per-class IoU by class name)

    attention_quality / label_quality score the attention and the proxy labels against the
    ground truth; run_pipeline writes report.md, results.json and figures.

    compare_methods: CAM, ACoL, adversarial erasing, SeeNet and its ablations on the same
    backbone, data and schedule, over training seeds (attention mIoU, leak, proxy labels).

Configs are frozen dataclasses: :class:`DataConfig` (the images), :class:`ModelConfig` (a network
and its initial weights, hence its input normalisation), :class:`TrainConfig` (one training's
hyper-parameters), :class:`Recipe` (all of them for a whole run; presets in :data:`RECIPES`)
and :class:`PipelineConfig`.

Examples
--------
>>> import tempfile
>>> from wsss.engine import DataConfig, PipelineConfig, run_pipeline
>>> config = PipelineConfig(data=DataConfig(synthetic_train=8, synthetic_val=4, image_size=48),
...                         iterations={"pretrain": 2, "classifier": 2, "deeplab": 2},
...                         batch_size=4, figures=1)
>>> with tempfile.TemporaryDirectory() as tmp:
...     result = run_pipeline(config, tmp, progress=False, log=lambda message: None)
>>> sorted(result.attention)
['SeeNet S_A', 'SeeNet max(S_A, S_B)', 'plain CAM']
>>> result.deeplab["seenet"].class_names[:2]
('background', 'aeroplane')
"""

from __future__ import annotations

from .build import InMemory, build_model, class_names, load_dataset, load_trained
from .checks import (
    base_rate_loss,
    class_frequencies,
    class_weighting_hint,
    classifier_check,
    segmentation_check,
)
from .compare import METHODS as COMPARE_METHODS
from .compare import CompareConfig, compare_methods
from .compare_results import CompareResult
from .config import (
    DATASETS,
    RECIPES,
    WEIGHT_FORMATS,
    DataConfig,
    ModelConfig,
    NetSpec,
    Recipe,
    recipe_for,
    with_changes,
)
from .distributed import DistContext, init_distributed
from .evaluation import LabelQuality, predict_segmentation
from .labelling import (
    PROXY_ROUTES,
    StageReport,
    StoredAttention,
    load_attention,
    save_attention,
)
from .leak import AttentionLeak, attention_leak
from .optim import LRMultipliers, PolyDecay, build_adamw, build_sgd, poly_lr_scheduler
from .pipeline import ATTENTION_MAPS, PipelineConfig, PipelineResult, run_pipeline
from .preflight import PreflightError, from_scratch
from .refiners import REFINERS
from .rundir import RunDir
from .stages import (
    attention_quality,
    evaluate,
    label_quality,
    make_attention,
    make_pseudo_labels,
    pretrain_backbone,
    stored_attention,
    train_model,
    train_transform,
)
from .trainer import TrainConfig, TrainResult, train

__all__ = [
    "ATTENTION_MAPS",
    "COMPARE_METHODS",
    "DATASETS",
    "PROXY_ROUTES",
    "RECIPES",
    "REFINERS",
    "WEIGHT_FORMATS",
    "AttentionLeak",
    "CompareConfig",
    "CompareResult",
    "DataConfig",
    "DistContext",
    "InMemory",
    "LRMultipliers",
    "LabelQuality",
    "ModelConfig",
    "NetSpec",
    "PipelineConfig",
    "PipelineResult",
    "PolyDecay",
    "PreflightError",
    "Recipe",
    "RunDir",
    "StageReport",
    "StoredAttention",
    "TrainConfig",
    "TrainResult",
    "attention_leak",
    "attention_quality",
    "base_rate_loss",
    "build_adamw",
    "build_model",
    "build_sgd",
    "class_frequencies",
    "class_names",
    "class_weighting_hint",
    "classifier_check",
    "compare_methods",
    "evaluate",
    "from_scratch",
    "init_distributed",
    "label_quality",
    "load_attention",
    "load_dataset",
    "load_trained",
    "make_attention",
    "make_pseudo_labels",
    "poly_lr_scheduler",
    "predict_segmentation",
    "pretrain_backbone",
    "recipe_for",
    "run_pipeline",
    "save_attention",
    "segmentation_check",
    "stored_attention",
    "train",
    "train_model",
    "train_transform",
    "with_changes",
]
