"""Data: datasets (PASCAL VOC 2012 + SBD, COCO 2014, your own folder), labels, augmentation.

Every dataset (:class:`VOCSegmentation`, :class:`FolderDataset`, :class:`COCOSegmentation`,
the embedded :class:`SyntheticVOC`) follows :class:`SegmentationDataset`: it knows its
``class_names`` and image ``names`` and yields :class:`Sample` records;
:class:`AugmentedDataset` turns them into the tensors a training loop batches
(:func:`pad_collate` for images of different sizes).
"""

from __future__ import annotations

from wsss.data.coco import (
    COCO_SPLITS,
    COCOAnnotation,
    COCOSegmentation,
    decode_segmentation,
    render_coco_mask,
)
from wsss.data.folder import FolderDataset
from wsss.data.images import (
    IGNORE_INDEX,
    CorruptFileError,
    read_image,
    read_label,
    write_label,
)
from wsss.data.labelfile import LabelEntry, read_class_list, read_labels_file
from wsss.data.labels import labels_from_mask, labels_from_xml, load_cls_labels
from wsss.data.loader import AugmentedDataset, pad_collate, stack_collate
from wsss.data.palette import colorize, rgb_to_label, voc_palette
from wsss.data.protocol import SegmentationDataset, check_dataset, describe_dataset
from wsss.data.relabel import WithLabels
from wsss.data.saliency import SaliencyFolder, read_saliency
from wsss.data.sample import NUM_CLASSES, VOC_CLASSES, Sample
from wsss.data.subset import DatasetSubset, image_labels, split_by_labels
from wsss.data.synthetic import (
    SYNTHETIC_PRESETS,
    SaliencyQuality,
    SyntheticVOC,
    render_preview,
    synthetic_dataset,
)
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
    to_tensor,
)
from wsss.data.voc import SPLITS, VOCSegmentation, read_image_list

__all__ = [
    "CAFFE",
    "COCO_SPLITS",
    "IGNORE_INDEX",
    "NUM_CLASSES",
    "SPLITS",
    "SYNTHETIC_PRESETS",
    "TORCHVISION",
    "VOC_CLASSES",
    "AugmentedDataset",
    "COCOAnnotation",
    "COCOSegmentation",
    "Compose",
    "CorruptFileError",
    "DatasetSubset",
    "FolderDataset",
    "LabelEntry",
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
    "decode_segmentation",
    "describe_dataset",
    "image_labels",
    "labels_from_mask",
    "labels_from_xml",
    "load_cls_labels",
    "pad_collate",
    "read_class_list",
    "read_image",
    "read_image_list",
    "read_label",
    "read_labels_file",
    "read_saliency",
    "render_coco_mask",
    "render_preview",
    "rgb_to_label",
    "split_by_labels",
    "stack_collate",
    "synthetic_dataset",
    "to_tensor",
    "voc_palette",
    "write_label",
]
