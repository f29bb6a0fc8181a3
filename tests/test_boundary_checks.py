"""Arguments of the configs, the builders, the distributed set-up and the VOC reader are refused
by name: wrong types, non-finite numbers and values out of range."""

from __future__ import annotations

import dataclasses
import math

import pytest
from _mini_voc import build_mini_voc

from wsss.data import SyntheticVOC, VOCSegmentation
from wsss.engine import (
    RECIPES,
    DataConfig,
    InMemory,
    ModelConfig,
    NetSpec,
    Recipe,
    TrainConfig,
    build_model,
    init_distributed,
    load_dataset,
    load_trained,
    recipe_for,
    with_changes,
)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"dataset": None}, ValueError, "dataset"),
        ({"dataset": ["voc"]}, ValueError, "dataset"),
        ({"voc_labels": ["aug"]}, ValueError, "voc_labels"),
        ({"synthetic_preset": ["hard"]}, ValueError, "synthetic_preset"),
        ({"seed": math.nan}, TypeError, "seed"),
        ({"seed": -1}, ValueError, "seed"),
        ({"synthetic_part_prob": math.inf}, ValueError, "synthetic_part_prob"),
        ({"synthetic_part_prob": 1.5}, ValueError, "synthetic_part_prob"),
        ({"synthetic_part_prob": "1"}, TypeError, "synthetic_part_prob"),
        ({"image_size": 4097}, ValueError, "image_size"),
        ({"synthetic_train": 2**20 + 1}, ValueError, "synthetic_train"),
        ({"synthetic_val": 10**12}, ValueError, "synthetic_val"),
    ],
)
def test_data_config_refuses_bad_fields_by_name(kwargs, error, name):
    with pytest.raises(error, match=f"^{name}:"):
        DataConfig(**kwargs)


def test_data_config_limits_are_accepted():
    config = DataConfig(image_size=4096, synthetic_train=2**20, seed=0, synthetic_part_prob=0.0)
    assert (config.image_size, config.synthetic_train, config.synthetic_part_prob) == (
        4096, 2**20, 0.0)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"name": math.nan}, TypeError, "name"),
        ({"name": ""}, ValueError, "name"),
        ({"name": "seenet", "backbone": None}, TypeError, "backbone"),
        ({"name": "seenet", "weights": 1.0}, TypeError, "weights"),
        ({"name": "seenet", "weights_format": ["caffe"]}, ValueError, "weights_format"),
        ({"name": "seenet", "kwargs": [("init_std", 0.1)]}, TypeError, "kwargs"),
        ({"name": "seenet", "kwargs": {1: 0.1}}, TypeError, "kwargs"),
    ],
)
def test_model_config_refuses_bad_fields_by_name(kwargs, error, name):
    with pytest.raises(error, match=f"^{name}:"):
        ModelConfig(**kwargs)


def test_net_spec_refuses_bad_fields_by_name():
    with pytest.raises(TypeError, match=r"^backbone:"):
        NetSpec(math.inf)
    with pytest.raises(TypeError, match=r"^kwargs:"):
        NetSpec("vgg16_tiny", None)  # type: ignore[arg-type]
    assert NetSpec("vgg16_tiny", {"init_std": None}).model("seenet").backbone == "vgg16_tiny"


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("name", math.nan, TypeError),
        ("classifier", "vgg16", TypeError),
        ("classifier_train", None, TypeError),
        ("deeplab", 1.0, TypeError),
        ("deeplab_train", {}, TypeError),
        ("pretrain", "vgg16_tiny", TypeError),
        ("pretrain_train", 700, TypeError),
        ("attention_scales", (1.0, math.nan), ValueError),
        ("attention_scales", (1.0, 0.0), ValueError),
        ("attention_scales", (), ValueError),
        ("attention_scales", 1.0, TypeError),
        ("crop", math.inf, TypeError),
        ("crop", 0, ValueError),
        ("crop", 10**12, ValueError),
        ("pretrain_part_prob", -math.inf, ValueError),
        ("pretrain_part_prob", 1.5, ValueError),
    ],
)
def test_recipe_refuses_bad_fields_by_name(field, value, error):
    recipe = RECIPES["synthetic"]
    fields = {f.name: getattr(recipe, f.name) for f in dataclasses.fields(recipe)}
    with pytest.raises(error, match=f"^{field}"):
        Recipe(**{**fields, field: value})


def test_recipe_keeps_its_scales_as_a_tuple():
    recipe = RECIPES["voc"]
    fields = {f.name: getattr(recipe, f.name) for f in dataclasses.fields(recipe)}
    rebuilt = Recipe(**{**fields, "attention_scales": [1.0, 0.5]})
    assert rebuilt.attention_scales == (1.0, 0.5)
    assert rebuilt == Recipe(**{**fields, "attention_scales": (1.0, 0.5)})


def test_with_changes_and_recipe_for_check_their_argument():
    with pytest.raises(TypeError, match=r"^config: expected a TrainConfig, got dict"):
        with_changes({"lr": 0.1}, lr=0.2)
    with pytest.raises(TypeError, match=r"^learning_rate: not a TrainConfig field"):
        with_changes(TrainConfig(iterations=1), learning_rate=0.2)
    assert with_changes(TrainConfig(iterations=1, lr=0.1), lr=0.2).lr == 0.2
    with pytest.raises(TypeError, match=r"^data: expected a DataConfig, got str"):
        recipe_for("synthetic")
    assert recipe_for(DataConfig(dataset="voc", root="x")) is RECIPES["voc"]


def test_builders_refuse_bad_configs_by_name(tmp_path):
    with pytest.raises(TypeError, match=r"^data: expected a DataConfig, got NoneType"):
        load_dataset(None, "train")
    with pytest.raises(ValueError, match=r"^split:"):
        load_dataset(DataConfig(synthetic_train=1, image_size=48), ["train"])
    with pytest.raises(TypeError, match=r"^labels_from:"):
        load_dataset(DataConfig(synthetic_train=1, image_size=48), "train", labels_from=1.0)
    with pytest.raises(FileNotFoundError, match=r"^labels_from:"):
        load_dataset(DataConfig(synthetic_train=1, image_size=48), "train",
                     labels_from=tmp_path / "missing")
    with pytest.raises(TypeError, match=r"^masks:"):
        load_dataset(DataConfig(synthetic_train=1, image_size=48), "train", masks=None)
    config = ModelConfig("seenet", backbone="resnet_tiny")
    with pytest.raises(TypeError, match=r"^config: expected a ModelConfig, got str"):
        build_model("seenet", 3)
    with pytest.raises(ValueError, match=r"^num_classes:"):
        build_model(config, 0)
    with pytest.raises(TypeError, match=r"^num_classes:"):
        load_trained(config, tmp_path / "model.pt", None)
    with pytest.raises(TypeError, match=r"^config:"):
        load_trained(None, tmp_path / "model.pt", 3)


def test_in_memory_checks_its_dataset_and_index():
    with pytest.raises(TypeError, match=r"^dataset:"):
        InMemory([1.0])
    data = InMemory(SyntheticVOC(2, image_size=48))
    assert data[-1] is data[1]
    with pytest.raises(IndexError, match=r"^index: 2 is out of range for 2 samples"):
        data[2]
    with pytest.raises(TypeError, match=r"^index:"):
        data["0"]


def test_init_distributed_checks_the_device():
    with pytest.raises(TypeError, match=r"^device: expected a str or None, got float"):
        init_distributed(math.nan)
    with pytest.raises(ValueError, match=r"^device:"):
        init_distributed("x")
    with pytest.raises(TypeError, match=r"^backend:"):
        init_distributed("cpu", backend=1)
    assert str(init_distributed("cpu").device) == "cpu"


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"root": None}, TypeError, "root"),
        ({"root": math.nan}, TypeError, "root"),
        ({"root": ""}, ValueError, "root"),
        ({"split": ["train"]}, ValueError, "split"),
        ({"split": None}, ValueError, "split"),
        ({"sbd_root": 1.0}, TypeError, "sbd_root"),
        ({"sbd_root": [1.0]}, TypeError, "sbd_root"),
        ({"label_source": ["voc"]}, TypeError, "label_source"),
        ({"class_source": 3}, TypeError, "class_source"),
        ({"saliency_dir": 0}, TypeError, "saliency_dir"),
        ({"image_list": b"train.txt"}, TypeError, "image_list"),
    ],
)
def test_voc_segmentation_refuses_bad_arguments_by_name(tmp_path, kwargs, error, name):
    tree = build_mini_voc(tmp_path)
    arguments = {"root": tree.voc, "split": "train", **kwargs}
    with pytest.raises(error, match=f"^{name}:"):
        VOCSegmentation(**arguments)
