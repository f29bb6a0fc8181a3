"""Class-balancing weights of the segmentation loss (wsss.balance) and their use in training."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from wsss.balance import (
    CLASS_WEIGHTINGS,
    class_balance_weights,
    logit_adjustment,
    pixel_class_counts,
)
from wsss.engine import DataConfig, ModelConfig, PipelineConfig, TrainConfig, train_model
from wsss.engine.build import InMemory, load_dataset
from wsss.engine.compare import CompareConfig
from wsss.engine.rundir import RunDir
from wsss.engine.steps import segmentation_step


def test_golden_weights():
    # counts 6, 2, 0, 2 -> f = .6, .2, 0, .2; inverse raw 5/3, 5, 0, 5 with sum f*raw = 3
    counts = torch.tensor([6.0, 2.0, 0.0, 2.0])
    inverse = class_balance_weights(counts, "inverse").double()
    assert torch.allclose(inverse, torch.tensor([5 / 9, 5 / 3, 0.0, 5 / 3], dtype=torch.float64),
                          atol=1e-6)
    # sqrt: raw .6**-.5, .2**-.5; normaliser .6*.6**-.5 + 2*.2*.2**-.5 = .6**.5 + 2*.2**.5
    z = 0.6**0.5 + 2 * 0.2**0.5
    expected = torch.tensor([0.6**-0.5 / z, 0.2**-0.5 / z, 0.0, 0.2**-0.5 / z],
                            dtype=torch.float64)
    assert torch.allclose(class_balance_weights(counts, "sqrt_inverse").double(), expected,
                          atol=1e-6)
    assert class_balance_weights(counts, "none").tolist() == [1.0, 1.0, 0.0, 1.0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 10**6), min_size=1, max_size=25).filter(lambda c: sum(c) > 0),
       st.sampled_from(CLASS_WEIGHTINGS), st.integers(1, 1000))
def test_weights_average_one_and_ignore_scale(counts, mode, scale):
    c = torch.tensor(counts, dtype=torch.float64)
    w = class_balance_weights(c, mode).double()
    freq = c / c.sum()
    assert abs(float((freq * w).sum()) - 1.0) < 1e-5  # a labelled pixel weighs 1 on average
    assert torch.all(w[c == 0] == 0)
    assert torch.allclose(class_balance_weights(c * scale, mode).double(), w, rtol=1e-5)
    if mode == "inverse":  # every present class holds the same share of the loss
        shares = (freq * w)[c > 0]
        assert torch.allclose(shares, torch.full_like(shares, 1 / len(shares)), rtol=1e-4)


@pytest.mark.parametrize("counts, error, match", [
    (torch.zeros(3), ValueError, "no class has a pixel"),
    (torch.tensor([1.0, -1.0]), ValueError, "non-negative"),
    (torch.tensor([1.0, float("nan")]), ValueError, "finite"),
    (torch.ones(2, 2), ValueError, "1-D"),
    (torch.tensor([]), ValueError, "non-empty"),
    ([1.0, 2.0], TypeError, "counts"),
])
def test_bad_counts(counts, error, match):
    with pytest.raises(error, match=match):
        class_balance_weights(counts)


def test_logit_adjustment_recovers_the_posterior():
    # free logits z fitted by weighted cross-entropy to labels drawn from p: softmax(z) is
    # w * p normalised; adding the adjustment gives p back (float64, exact optimum by LBFGS)
    p = torch.tensor([0.7, 0.2, 0.06, 0.04], dtype=torch.float64)
    w = class_balance_weights(p * 1000, "inverse").double()
    z = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([z], max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        loss = -(p * w * torch.log_softmax(z, 0)).sum() / (p * w).sum()
        loss.backward()
        return loss

    opt.step(closure)
    fitted = torch.softmax(z.detach(), 0)
    assert torch.allclose(fitted, w * p / (w * p).sum(), atol=1e-6)  # equal shares: 1/4 each
    adjusted = torch.softmax(z.detach() + logit_adjustment(w.float()).double(), 0)
    assert torch.allclose(adjusted, p, atol=1e-6)
    assert logit_adjustment(torch.tensor([1.0, 0.0])).tolist() == [0.0, 0.0]
    for bad, error in ((torch.tensor([1.0, -1.0]), ValueError), (torch.ones(2, 2), ValueError),
                       ([1.0], TypeError), (torch.tensor([float("inf")]), ValueError)):
        with pytest.raises(error, match="weights"):
            logit_adjustment(bad)  # type: ignore[arg-type]


def test_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        class_balance_weights(torch.ones(3), "median")


def test_pixel_counts_by_hand():
    maps = [np.array([[0, 0, 1], [255, 2, 0]], np.uint8), np.array([[2, 2]], np.int64)]
    assert pixel_class_counts(maps, 3).tolist() == [3.0, 1.0, 3.0]
    assert pixel_class_counts([], 2).tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"labels\[1\]: label values must lie in .*found \[3\]"):
        pixel_class_counts([np.array([[0]], np.uint8), np.array([[3]], np.uint8)], 3)
    with pytest.raises(TypeError, match=r"labels\[0\]"):
        pixel_class_counts([np.zeros((2, 2), np.float32)], 3)
    with pytest.raises(TypeError, match="labels"):
        pixel_class_counts(None, 3)  # type: ignore[arg-type]


def test_weighted_step_matches_a_float64_reference():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    label = torch.randint(0, 3, (2, 4, 5))
    label[0, 0, :3] = 255
    weights = torch.tensor([0.2, 1.5, 3.0])

    class Fixed(torch.nn.Module):
        def forward(self, image):
            return logits

    loss, logs = segmentation_step(Fixed(), {"image": None, "label": label},
                                   class_weights=weights)
    logp = torch.log_softmax(logits, 1)
    num = den = 0.0
    for n in range(2):
        for i in range(4):
            for j in range(5):
                y = int(label[n, i, j])
                if y == 255:
                    continue
                num += float(weights[y]) * -float(logp[n, y, i, j])
                den += float(weights[y])
    assert abs(loss.item() - num / den) < 1e-6
    assert logs["labelled"] == pytest.approx(37 / 40)
    plain = F.cross_entropy(logits, label, ignore_index=255)
    assert abs(loss.item() - plain.item()) > 1e-3  # the weights change the loss


def test_train_model_writes_the_weights_it_used(tmp_path):
    data = load_dataset(DataConfig(synthetic_train=6, image_size=48), "train")
    train_set = InMemory(data)
    config = TrainConfig(iterations=1, batch_size=2, class_weighting="inverse")
    model_config = ModelConfig("deeplab_largefov", backbone="vgg16_tiny")
    train_model(model_config, train_set, config, RunDir(tmp_path), progress=False)
    saved = json.loads((tmp_path / "class_weights.json").read_text())
    labels = [train_set[i].label for i in range(len(train_set))]
    expected = class_balance_weights(pixel_class_counts(labels, 21), "inverse")
    assert saved["class_weighting"] == "inverse"
    assert saved["classes"][0] == "background" and len(saved["classes"]) == 21
    assert np.allclose(saved["weights"], expected.tolist())
    offsets = logit_adjustment(expected)
    assert np.allclose(saved["logit_adjustment"], offsets.tolist())
    # the saved model predicts with adjusted logits; the checkpoint keeps them as trained
    trained = torch.load(tmp_path / "checkpoint.pt", weights_only=True)["model"]["fc8.bias"]
    final = torch.load(tmp_path / "model.pt", weights_only=True)["fc8.bias"]
    assert torch.allclose(final, trained + offsets, atol=1e-6)
    assert not torch.allclose(final, trained)
    with pytest.raises(ValueError, match="class_weighting"):
        train_model(ModelConfig("cam_classifier", backbone="vgg16_tiny"), train_set, config,
                    None, progress=False)


def test_configs_carry_the_weighting():
    assert TrainConfig(iterations=1).class_weighting == "none"
    with pytest.raises(ValueError, match="class_weighting"):
        TrainConfig(iterations=1, class_weighting="balanced")  # type: ignore[arg-type]
    recipe = PipelineConfig(deeplab_class_weighting="inverse",
                            iterations={"deeplab": 7}).resolved_recipe()
    assert recipe.deeplab_train.class_weighting == "inverse"
    assert recipe.deeplab_train.iterations == 7
    assert recipe.classifier_train.class_weighting == "none"
    assert PipelineConfig().resolved_recipe().deeplab_train.class_weighting == "none"
    with pytest.raises(ValueError, match="deeplab_class_weighting"):
        PipelineConfig(deeplab_class_weighting="equal")
    compare = CompareConfig(methods=("cam",), seeds=(0,), deeplab_class_weighting="sqrt_inverse")
    assert compare.resolved_recipe().deeplab_train.class_weighting == "sqrt_inverse"


def test_a_checkpoint_from_before_class_weighting_resumes(tmp_path):
    # a checkpoint whose config has no class_weighting (written before the field existed)
    # resumes with the default and is refused with another value
    from wsss.data.loader import AugmentedDataset
    from wsss.data.transforms import TORCHVISION
    from wsss.engine.steps import classifier_step
    from wsss.engine.trainer import train
    from wsss.io import load_checkpoint, save_checkpoint
    from wsss.models import create_model

    images = AugmentedDataset(load_dataset(DataConfig(synthetic_train=4, image_size=48),
                                           "train"), None, TORCHVISION, seed=0)
    model = create_model("cam_classifier", backbone="resnet_tiny")
    config = TrainConfig(iterations=2, batch_size=2, checkpoint_every=1)
    run = RunDir(tmp_path)
    train(model, images, classifier_step, config, run, stop_after=1, progress=False)
    state = load_checkpoint(run.checkpoint_path)
    del state["config"]["class_weighting"]
    save_checkpoint(state, run.checkpoint_path)
    result = train(model, images, classifier_step, config, run, resume=True, progress=False)
    assert result.iteration == 2
    state = load_checkpoint(run.checkpoint_path)
    del state["config"]["class_weighting"]
    save_checkpoint(state, run.checkpoint_path)
    with pytest.raises(ValueError, match="class_weighting"):
        train(model, images, classifier_step,
              TrainConfig(iterations=3, batch_size=2, class_weighting="inverse"), run,
              resume=True, progress=False)
