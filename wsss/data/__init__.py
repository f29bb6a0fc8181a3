"""Data: PASCAL VOC 2012 + SBD, image-level labels, saliency maps, joint augmentation, loading.

Every dataset (:class:`VOCSegmentation`, the embedded :class:`SyntheticVOC`) yields
:class:`Sample` records; :class:`AugmentedDataset` turns them into the
tensors a training loop batches.
"""

from __future__ import annotations

from wsss.data.images import (
    IGNORE_INDEX,
    CorruptFileError,
    read_image,
    read_label,
    write_label,
)
from wsss.data.labels import labels_from_mask, labels_from_xml, load_cls_labels
from wsss.data.loader import AugmentedDataset
from wsss.data.palette import colorize, rgb_to_label, voc_palette
from wsss.data.protocol import SegmentationDataset, check_dataset, describe_dataset
from wsss.data.relabel import WithLabels
from wsss.data.saliency import SaliencyFolder, read_saliency
from wsss.data.sample import NUM_CLASSES, VOC_CLASSES, Sample
from wsss.data.subset import DatasetSubset, image_labels, split_by_labels
from wsss.data.synthetic import SaliencyQuality, SyntheticVOC, render_preview
from wsss.data.transforms import (
    CAFFE,
    TORCHVISION,
    Compose,
    Normalizer,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
    Resize,
    Transform,
    to_image,
    to_tensor,
)
from wsss.data.voc import SPLITS, VOCSegmentation, read_image_list, read_sbd_mask

__all__ = [
    "CAFFE",
    "IGNORE_INDEX",
    "NUM_CLASSES",
    "SPLITS",
    "TORCHVISION",
    "VOC_CLASSES",
    "AugmentedDataset",
    "Compose",
    "CorruptFileError",
    "DatasetSubset",
    "Normalizer",
    "RandomCrop",
    "RandomHorizontalFlip",
    "RandomScale",
    "Resize",
    "SaliencyFolder",
    "SaliencyQuality",
    "Sample",
    "SegmentationDataset",
    "SyntheticVOC",
    "Transform",
    "VOCSegmentation",
    "WithLabels",
    "check_dataset",
    "colorize",
    "describe_dataset",
    "image_labels",
    "labels_from_mask",
    "labels_from_xml",
    "load_cls_labels",
    "read_image",
    "read_image_list",
    "read_label",
    "read_saliency",
    "read_sbd_mask",
    "render_preview",
    "rgb_to_label",
    "split_by_labels",
    "to_image",
    "to_tensor",
    "voc_palette",
    "write_label",
]
