"""wsss: weakly supervised semantic segmentation in PyTorch.

The building blocks of SeeNet (Self-Erasing Network, NeurIPS 2018), importable from the top
level:

- :func:`ternary_mask` (and :func:`attention_map`, :func:`normalize_class_maps`): the mask that
  splits features into attention, potential and background zones;
- :func:`conditional_relu` / :class:`ConditionalReLU`: erase, keep or reverse features by mask;
- :class:`SelfErasingHead` returning :class:`SeeNetOutput`, and :func:`seenet_loss`;
- :func:`harmonic_mean` and :func:`fuse_saliency`: proxy labels from attention and saliency;
- :class:`CAMExtractor`: attention / CAM at image resolution with flip and multi-scale.
"""

from .cam import FIELD_SCALES, AttentionMaps, CAMExtractor, ClassMapModel
from .fusion import FUSION_PRESETS, IGNORE_INDEX, FusionRule, fuse_saliency, harmonic_mean
from .layers import ConditionalReLU, SeeNetOutput, SelfErasingHead, conditional_relu
from .losses import SeeNetLoss, SeeNetLossTerms, seenet_loss
from .masks import attention_map, normalize_class_maps, ternary_mask

__version__ = "0.1.0.dev0"

__all__ = [
    "FIELD_SCALES",
    "FUSION_PRESETS",
    "IGNORE_INDEX",
    "AttentionMaps",
    "CAMExtractor",
    "ClassMapModel",
    "ConditionalReLU",
    "FusionRule",
    "SeeNetLoss",
    "SeeNetLossTerms",
    "SeeNetOutput",
    "SelfErasingHead",
    "__version__",
    "attention_map",
    "conditional_relu",
    "fuse_saliency",
    "harmonic_mean",
    "normalize_class_maps",
    "seenet_loss",
    "ternary_mask",
]
