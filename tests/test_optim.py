"""SGD parameter groups, the weight-decay / momentum slots, and the poly schedule."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from wsss.engine.optim import (
    LRMultipliers,
    PolyDecay,
    build_sgd,
    check_parameter_groups,
    poly_lr_scheduler,
)
from wsss.io import load_checkpoint, save_checkpoint
from wsss.models import VGG16, SeeNet, create_model


class TinyModel(nn.Module):
    """One 2-D weight and one bias per role, in float64."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        for role in ("backbone", "new", "classifier"):
            layer = nn.Linear(3, 2).double()
            with torch.no_grad():
                layer.weight.copy_(torch.randn(2, 3, generator=g, dtype=torch.float64))
                layer.bias.copy_(torch.randn(2, generator=g, dtype=torch.float64))
            self.add_module(role, layer)

    def parameter_groups(self):
        return {
            role: list(getattr(self, role).parameters())
            for role in ("backbone", "new", "classifier")
        }


def test_groups_lrs_and_decays():
    model = SeeNet(VGG16(width=0.125), num_classes=3, hidden_channels=8)
    opt = build_sgd(model, 1e-3)
    got = {g["name"]: (g["lr"], g["weight_decay"], g["momentum"]) for g in opt.param_groups}
    assert got == {
        "backbone.weight": (pytest.approx(1e-3), 5e-4, 0.9),
        "backbone.bias": (pytest.approx(2e-3), 0.0, 0.9),
        "new.weight": (pytest.approx(1e-2), 5e-4, 0.9),
        "new.bias": (pytest.approx(2e-2), 0.0, 0.9),
        "classifier.weight": (pytest.approx(1e-2), 5e-4, 0.9),
        "classifier.bias": (pytest.approx(2e-2), 0.0, 0.9),
    }
    for group in opt.param_groups:
        assert group["dampening"] == 0 and group["nesterov"] is False
        kind = group["name"].split(".")[1]
        assert all((p.ndim == 1) == (kind == "bias") for p in group["params"])
    grouped = [id(p) for g in opt.param_groups for p in g["params"]]
    assert sorted(grouped) == sorted(id(p) for p in model.parameters())
    classifier = {
        id(p) for g in opt.param_groups if g["name"].startswith("classifier") for p in g["params"]
    }
    assert classifier == {id(p) for c in model.classifiers() for p in c.parameters()}


def test_custom_multipliers_and_hyperparameters():
    mult = LRMultipliers(backbone_weight=0.5, classifier_bias=3.0)
    opt = build_sgd(TinyModel(), 0.1, momentum=0.5, weight_decay=1e-2, multipliers=mult)
    got = {
        g["name"]: (g["lr"], g["weight_decay"], g["momentum"], g["lr_mult"])
        for g in opt.param_groups
    }
    assert got["backbone.weight"] == (pytest.approx(0.05), 1e-2, 0.5, 0.5)
    assert got["classifier.bias"] == (pytest.approx(0.3), 0.0, 0.5, 3.0)
    assert got["new.weight"][3] == 10.0


def test_two_sgd_steps_match_hand_written_update():
    """v = m * v + (g + wd * w); w -= lr_group * v, with gradient g = a + w of the loss below."""
    model = TinyModel()
    lr, m, wd = 0.1, 0.9, 0.05
    opt = build_sgd(model, lr, momentum=m, weight_decay=wd)
    g = torch.Generator().manual_seed(1)
    a = {
        name: torch.randn(p.shape, generator=g, dtype=torch.float64)
        for name, p in model.named_parameters()
    }
    reference = {name: p.detach().clone() for name, p in model.named_parameters()}
    velocity = {name: torch.zeros_like(w) for name, w in reference.items()}
    mult = LRMultipliers()
    for _ in range(2):
        opt.zero_grad()
        loss = sum((a[n] * p).sum() + 0.5 * (p**2).sum() for n, p in model.named_parameters())
        loss.backward()
        opt.step()
        for name, w in reference.items():
            role, kind = name.split(".")
            decay = wd if kind == "weight" else 0.0
            grad = a[name] + w
            velocity[name] = m * velocity[name] + (grad + decay * w)
            reference[name] = w - lr * mult.of(role, kind) * velocity[name]
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.detach(), reference[name], rtol=1e-12, atol=1e-12)


def test_frozen_parameters_are_left_out():
    model = TinyModel()
    model.backbone.weight.requires_grad_(False)
    names = [g["name"] for g in build_sgd(model, 0.1).param_groups]
    assert "backbone.weight" not in names and "backbone.bias" in names


def test_poly_schedule_values():
    model = create_model("deeplab_largefov", backbone="vgg16_narrow", num_classes=3)
    base = 1e-3
    opt = build_sgd(model, base)
    sched = poly_lr_scheduler(opt, max_iters=20, power=0.9)
    seen = {}
    for it in range(23):
        seen[it] = [g["lr"] for g in opt.param_groups]
        opt.step()
        sched.step()
    mults = [g["lr_mult"] for g in opt.param_groups]
    for it in (0, 1, 7, 19, 20, 22):
        factor = (1 - min(it, 20) / 20) ** 0.9
        assert seen[it] == pytest.approx([base * k * factor for k in mults], rel=1e-12, abs=0)
    assert seen[20] == [0.0] * len(mults)


def test_poly_scheduler_state_round_trips_through_a_checkpoint(tmp_path):
    opt = build_sgd(TinyModel(), 0.1)
    sched = poly_lr_scheduler(opt, max_iters=10)
    for _ in range(4):
        opt.step()
        sched.step()
    save_checkpoint(
        {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, tmp_path / "ckpt.pt"
    )
    state = load_checkpoint(tmp_path / "ckpt.pt")
    opt2 = build_sgd(TinyModel(), 0.1)
    sched2 = poly_lr_scheduler(opt2, max_iters=999)  # restored from the checkpoint
    opt2.load_state_dict(state["optimizer"])
    sched2.load_state_dict(state["scheduler"])
    assert sched2.lr_lambdas[0].max_iters == 10
    opt.step(), sched.step(), opt2.step(), sched2.step()
    assert [g["lr"] for g in opt2.param_groups] == [g["lr"] for g in opt.param_groups]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5**0.9)


@given(st.integers(1, 10_000), st.floats(0.1, 3.0), st.integers(-5, 20_000))
def test_poly_decay_properties(max_iters, power, it):
    decay = PolyDecay(max_iters, power)
    value = decay(it)
    assert 0.0 <= value <= 1.0
    assert decay(it + 1) <= value
    if it <= 0:
        assert value == 1.0
    if it >= max_iters:
        assert value == 0.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="lr"):
        build_sgd(TinyModel(), 0.0)
    with pytest.raises(ValueError, match="momentum"):
        build_sgd(TinyModel(), 0.1, momentum=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        build_sgd(TinyModel(), 0.1, weight_decay=-1.0)
    with pytest.raises(TypeError, match="lr"):
        build_sgd(TinyModel(), "0.1")
    with pytest.raises(TypeError, match="model"):
        build_sgd(nn.Linear(2, 2), 0.1)
    with pytest.raises(TypeError, match="multipliers"):
        build_sgd(TinyModel(), 0.1, multipliers={"new_weight": 1.0})
    with pytest.raises(ValueError, match="max_iters"):
        PolyDecay(0)
    with pytest.raises(ValueError, match="power"):
        PolyDecay(10, power=0.0)
    with pytest.raises(ValueError, match="new_bias"):
        LRMultipliers(new_bias=-1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        LRMultipliers().new_bias = 1.0


def test_parameter_group_checks():
    model = TinyModel()
    groups = model.parameter_groups()
    with pytest.raises(ValueError, match=r"groups.*unknown role"):
        check_parameter_groups(model, {**groups, "head": []})
    twice = {**groups, "new": groups["new"] + [model.backbone.weight]}
    with pytest.raises(ValueError, match=r"backbone.weight"):
        check_parameter_groups(model, twice)
    with pytest.raises(ValueError, match=r"new.bias"):
        check_parameter_groups(model, {**groups, "new": [model.new.weight]})
    with pytest.raises(ValueError, match=r"groups.*not the model"):
        check_parameter_groups(model, {**groups, "new": [nn.Parameter(torch.zeros(1))]})
