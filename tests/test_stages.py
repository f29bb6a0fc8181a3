"""The pipeline's stage functions: pretraining, model building from weight files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from wsss.engine.rundir import RunDir
from wsss.engine.stages import (
    PRESETS,
    DataConfig,
    ModelConfig,
    build_model,
    load_dataset,
    pretrain_backbone,
)
from wsss.engine.trainer import TrainConfig

DATA = DataConfig(synthetic_train=4, synthetic_val=2, image_size=48)
TWO_STEPS = TrainConfig(iterations=2, batch_size=2)


def test_pretrained_backbone_initialises_every_network(tmp_path):
    classifier = ModelConfig("cam_classifier", backbone="vgg16_tiny")
    path = pretrain_backbone(classifier, DATA, TWO_STEPS, RunDir(tmp_path), progress=False)
    assert path == tmp_path / "backbone.pt"
    saved = torch.load(path, weights_only=True)
    assert saved.keys() == build_model(classifier).backbone.state_dict().keys()
    for name in ("seenet", "cam_classifier", "deeplab_largefov"):
        config = ModelConfig(name, "vgg16_tiny", weights=str(path), weights_format="backbone")
        model = build_model(config)
        for key, value in saved.items():
            assert torch.equal(model.backbone.state_dict()[key], value), (name, key)
    # a finished pretraining is not repeated: the file stays as it is
    stamp = path.stat().st_mtime_ns
    assert pretrain_backbone(classifier, DATA, TWO_STEPS, RunDir(tmp_path), progress=False) == path
    assert path.stat().st_mtime_ns == stamp


def test_pretraining_is_the_synthetic_recipe_only():
    assert PRESETS["voc"]["pretrain"] is None
    synthetic = PRESETS["synthetic"]
    backbones = {synthetic[role]["backbone"] for role in ("pretrain", "classifier", "deeplab")}
    assert backbones == {"vgg16_tiny"}  # one backbone, so one file initialises them all
    assert PRESETS["voc"]["pretrain_part_prob"] is None
    assert synthetic["pretrain_part_prob"] == 0.5
    # fine-tuning: the pretrained backbone at a tenth of the heads' learning rate
    multipliers = synthetic["classifier_train"].multipliers
    assert multipliers.of("backbone", "weight") == multipliers.of("backbone", "bias") == 0.1
    assert {multipliers.of(role, kind) for role in ("new", "classifier")
            for kind in ("weight", "bias")} == {1.0}


def test_load_dataset_passes_the_part_probability():
    data = DataConfig(synthetic_train=6, image_size=48)
    full = load_dataset(data, "train")
    none = load_dataset(dataclasses.replace(data, synthetic_part_prob=0.0), "train")
    assert none.part_prob == 0.0 and full.part_prob == 1.0
    for a, b in zip(full, none):
        np.testing.assert_array_equal(a.label, b.label)  # the same scenes, without their parts
    assert any((a.image != b.image).any() for a, b in zip(full, none))


def test_stage_argument_errors(tmp_path):
    with pytest.raises(ValueError, match=r"model_config\.name"):
        pretrain_backbone(ModelConfig("deeplab_largefov", "vgg16_tiny"), DATA, TWO_STEPS,
                          RunDir(tmp_path), progress=False)
    with pytest.raises(ValueError, match="weights_format"):
        build_model(ModelConfig("seenet", "vgg16_tiny", weights="x.pt", weights_format="onnx"))
    tiny = build_model(ModelConfig("seenet", "vgg16_tiny")).backbone.state_dict()
    torch.save(tiny, tmp_path / "tiny.pt")
    with pytest.raises(ValueError, match=r"missing.*conv5_1"):  # the file has no conv5
        build_model(ModelConfig("deeplab_largefov", "vgg16_narrow_bn",
                                weights=str(tmp_path / "tiny.pt"), weights_format="backbone"))
