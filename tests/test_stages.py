"""The pipeline's stage functions: pretraining, model building from weight files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from wsss.engine import (
    RECIPES,
    DataConfig,
    ModelConfig,
    RunDir,
    TrainConfig,
    build_model,
    load_dataset,
    load_trained,
    pretrain_backbone,
)

DATA = DataConfig(synthetic_train=4, synthetic_val=2, image_size=48)
TRAIN = load_dataset(DATA, "train")
TWO_STEPS = TrainConfig(iterations=2, batch_size=2)


def test_pretrained_backbone_initialises_every_network(tmp_path):
    classifier = ModelConfig("cam_classifier", backbone="vgg16_tiny")
    path = pretrain_backbone(classifier, TRAIN, TWO_STEPS, RunDir(tmp_path), progress=False)
    assert path == tmp_path / "backbone.pt"
    saved = torch.load(path, weights_only=True)
    assert saved.keys() == build_model(classifier, 20).backbone.state_dict().keys()
    for name in ("seenet", "cam_classifier", "deeplab_largefov"):
        config = ModelConfig(name, "vgg16_tiny", weights=str(path), weights_format="backbone")
        model = build_model(config, 20)
        for key, value in saved.items():
            assert torch.equal(model.backbone.state_dict()[key], value), (name, key)
    # the synthetic recipe's classifiers take the first three blocks of the same file
    shallow = build_model(ModelConfig("seenet", "vgg16_tiny3", weights=str(path),
                                      weights_format="backbone"), 20).backbone.state_dict()
    assert shallow.keys() < saved.keys()
    assert all(torch.equal(value, saved[key]) for key, value in shallow.items())
    # a finished pretraining is not repeated: the file stays as it is
    stamp = path.stat().st_mtime_ns
    assert pretrain_backbone(classifier, TRAIN, TWO_STEPS, RunDir(tmp_path), progress=False) == path
    assert path.stat().st_mtime_ns == stamp


def test_pretraining_is_the_synthetic_recipe_only():
    assert RECIPES["voc"].pretrain is None
    synthetic = RECIPES["synthetic"]
    backbones = {role: getattr(synthetic, role).backbone
                 for role in ("pretrain", "classifier", "deeplab")}
    # one pretrained file initialises them all: the classifiers take its first three blocks
    assert backbones == {"pretrain": "vgg16_tiny", "classifier": "vgg16_tiny3",
                         "deeplab": "vgg16_tiny"}
    assert RECIPES["voc"].pretrain_part_prob is None
    assert synthetic.pretrain_part_prob == 0.5
    # fine-tuning: the pretrained backbone at a tenth of the heads' learning rate
    multipliers = synthetic.classifier_train.multipliers
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
        pretrain_backbone(ModelConfig("deeplab_largefov", "vgg16_tiny"), TRAIN, TWO_STEPS,
                          RunDir(tmp_path), progress=False)
    with pytest.raises(ValueError, match="weights_format"):
        ModelConfig("seenet", "vgg16_tiny", weights="x.pt", weights_format="onnx")
    tiny = build_model(ModelConfig("seenet", "vgg16_tiny"), 20).backbone.state_dict()
    torch.save(tiny, tmp_path / "tiny.pt")
    with pytest.raises(ValueError, match=r"missing.*conv5_1"):  # the file has no conv5
        build_model(ModelConfig("deeplab_largefov", "vgg16_narrow_bn",
                                weights=str(tmp_path / "tiny.pt"), weights_format="backbone"), 20)


def test_load_trained_names_the_file_when_the_weights_do_not_fit(tmp_path):
    config = ModelConfig("seenet", "resnet_tiny")
    torch.save(build_model(config, 20).state_dict(), tmp_path / "model.pt")
    assert len(load_trained(config, tmp_path / "model.pt", 20).state_dict()) > 0
    with pytest.raises(ValueError, match=r"model\.pt: .*3 classes.*shape differs"):
        load_trained(config, tmp_path / "model.pt", 3)  # another class count
    with pytest.raises(ValueError, match=r"model\.pt: .*vgg16_tiny.*missing"):
        load_trained(ModelConfig("seenet", "vgg16_tiny"), tmp_path / "model.pt", 20)


def test_data_config_refuses_what_it_cannot_read():
    with pytest.raises(ValueError, match="dataset: expected one of"):
        DataConfig(dataset="imagenet")
    with pytest.raises(ValueError, match="root: the 'voc' dataset needs its folder"):
        DataConfig(dataset="voc")
    with pytest.raises(ValueError, match="synthetic_train"):
        DataConfig(synthetic_train=0)


def test_val_split_reads_no_saliency(tmp_path):
    """The validation split is never fused with saliency, so none is loaded for it."""
    from _mini_voc import build_mini_voc

    tree = build_mini_voc(tmp_path)
    data = DataConfig(dataset="voc", root=str(tree.root), train_split="train",
                      saliency_dir=str(tmp_path / "saliency"))
    (tmp_path / "saliency").mkdir()
    assert load_dataset(data, "train").saliency is not None
    assert load_dataset(data, "val").saliency is None




def test_synthetic_presets_flow_through_the_data_config():
    default = load_dataset(DataConfig(synthetic_train=2, image_size=48), "train")
    from wsss.data import SyntheticVOC

    same = SyntheticVOC(2, image_size=48, split="train")
    assert np.array_equal(default[1].image, same[1].image)  # "default" is the generator as is
    few = load_dataset(DataConfig(synthetic_train=2, image_size=48,
                                  synthetic_preset="few_classes"), "train")
    assert few.class_names == ("cat", "dog", "person") and few[0].classes.shape == (3,)
    hard = load_dataset(DataConfig(synthetic_train=2, image_size=48, synthetic_preset="hard"),
                        "train")
    assert hard.describe()["preset"] == "hard"
    with pytest.raises(ValueError, match="synthetic_preset: expected one of"):
        DataConfig(synthetic_preset="nope")


def test_a_three_class_preset_runs_through_the_pipeline(tmp_path):
    from wsss.engine import PipelineConfig, run_pipeline

    config = PipelineConfig(
        data=DataConfig(synthetic_train=8, synthetic_val=4, image_size=48,
                        synthetic_preset="few_classes"),
        iterations={"pretrain": 2, "classifier": 2, "deeplab": 2}, batch_size=4, figures=1)
    result = run_pipeline(config, tmp_path / "run", progress=False, log=lambda message: None)
    assert result.class_names == ("cat", "dog", "person")
    assert result.deeplab["seenet"].class_names == ("background", "cat", "dog", "person")
    report = (tmp_path / "run" / "report.md").read_text()
    assert "'preset': 'few_classes'" in report or '"preset": "few_classes"' in report
