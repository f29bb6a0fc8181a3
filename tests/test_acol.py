"""ACoL: which features head B sees, where gradients flow, loss, registry, CAMExtractor."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from wsss import CAMExtractor, SelfErasingHead, attention_map
from wsss.engine.steps import acol_step
from wsss.models import ACoL, ACoLHead, ACoLOutput, SeeNet, acol_loss, create_model

K, C, H = 6, 3, 6
LABELS = torch.tensor([[1, 0, 0], [0, 1, 1]])


def _features(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(2, K, H, H, generator=g, dtype=torch.float64)


def _head(seed: int = 0, **kwargs) -> ACoLHead:
    torch.manual_seed(seed)
    return ACoLHead(K, C, hidden_channels=4, **kwargs).double().eval()


def _head_b_input(head: ACoLHead, f, labels) -> tuple[torch.Tensor, ACoLOutput]:
    seen: list[torch.Tensor] = []
    handle = head.branch_b.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    try:
        out = head(f, labels)
    finally:
        handle.remove()
    assert len(seen) == 1
    return seen[0], out


def test_zone_is_the_thresholded_min_max_attention_of_the_image_classes():
    head = _head()
    f = _features()
    seen, out = _head_b_input(head, f, LABELS)
    m = attention_map(out.maps_a.detach(), LABELS)
    assert torch.equal(out.zone, m >= 0.6)
    assert bool(out.zone.any()) and bool((~out.zone).any())
    # head B sees F with the zone zeroed at every channel, F itself elsewhere
    expected = torch.where(out.zone[:, None], torch.zeros_like(f), f)
    assert torch.equal(seen, expected)
    assert torch.equal(out.logits_a, out.maps_a.mean(dim=(2, 3)))
    assert torch.equal(out.logits_b, out.maps_b.mean(dim=(2, 3)))


def test_zone_golden_on_a_hand_made_map():
    # head A's maps replaced by known ones: class 0 ramps 0..5 along x, class 1 is its negative
    # (all zero after the ReLU), class 2 is large but not in the image
    head = _head()
    ramp = torch.arange(6, dtype=torch.float64).expand(6, 6)
    maps = torch.stack([ramp, -ramp, 100 * ramp.T])[None]
    zone = head._zone(maps, torch.tensor([[1, 1, 0]]))
    # M = x / (5 + 1e-5): 0.59999 at x = 3, 0.79999 at x = 4: only x = 4, 5 reach 0.6
    assert zone[0].tolist() == [[False] * 4 + [True] * 2] * 6
    assert _head(threshold=0.5)._zone(maps, torch.tensor([[1, 1, 0]]))[0, 0].tolist() == [
        False, False, False, True, True, True
    ]


def test_head_b_gradient_is_exactly_zero_in_the_zone():
    head = _head()
    f = _features().requires_grad_()
    out = head(f, LABELS)
    (grad_b,) = torch.autograd.grad(out.maps_b.sum(), f)
    zone = out.zone[:, None].expand_as(f)
    assert float(grad_b[zone].abs().max()) == 0.0
    assert float(grad_b[~zone].abs().max()) > 0
    # no gradient reaches head A through the zone
    grads = torch.autograd.grad(out.maps_b.sum(), list(head.branch_a.parameters()),
                                allow_unused=True)
    assert all(g is None for g in grads)
    # head A's own gradient covers the whole map
    (grad_a,) = torch.autograd.grad(head(f, LABELS).maps_a.sum(), f)
    assert float(grad_a[zone].abs().max()) > 0


def test_heads_have_unshared_weights():
    head = _head()
    assert head.branch_a is not head.branch_b
    a_ids = {id(p) for p in head.branch_a.parameters()}
    assert not a_ids & {id(p) for p in head.branch_b.parameters()}
    assert any(isinstance(m, torch.nn.Dropout) for m in head.branch_a)
    assert not any(isinstance(m, torch.nn.Dropout) for m in head.branch_b)
    y = LABELS.double()
    terms = acol_loss(head(_features(), y), y)
    grads = torch.autograd.grad(terms.b, list(head.branch_a.parameters()), allow_unused=True)
    assert all(g is None for g in grads)  # loss b trains head B (and the backbone) only


def test_loss_golden_values():
    z = torch.tensor([[2.0, -1.0]])
    out = ACoLOutput(z, -z, torch.zeros(1, 2, 1, 1), torch.zeros(1, 2, 1, 1),
                     torch.zeros(1, 1, 1, dtype=torch.bool))
    terms = acol_loss(out, torch.tensor([[1, 0]]))

    def bce(x, y):
        return -(y * torch.log(torch.sigmoid(x)) + (1 - y) * torch.log(1 - torch.sigmoid(x)))

    y = torch.tensor([1.0, 0.0])
    assert terms.a.item() == pytest.approx(float(bce(z[0], y).mean()), abs=1e-6)
    assert terms.b.item() == pytest.approx(float(bce(-z[0], y).mean()), abs=1e-6)
    assert terms.total.item() == pytest.approx(terms.a.item() + terms.b.item(), abs=1e-6)


def test_loss_rejects_bad_inputs():
    z = torch.zeros(1, 2)
    out = ACoLOutput(z, z, z[..., None, None], z[..., None, None], torch.zeros(1, 1, 1).bool())
    with pytest.raises(TypeError, match="output"):
        acol_loss(object(), torch.tensor([[1, 0]]))
    with pytest.raises(ValueError, match="labels"):
        acol_loss(out, torch.tensor([[1, 0, 0]]))
    bad = ACoLOutput(z, torch.zeros(1, 3), z, z, z.bool())
    with pytest.raises(ValueError, match="logits_b"):
        acol_loss(bad, torch.tensor([[1, 0]]))
    with pytest.raises(ValueError, match="logits_a"):
        acol_loss(ACoLOutput(torch.full((1, 2), float("nan")), z, z, z, z.bool()),
                  torch.tensor([[1, 0]]))


def test_constructor_and_forward_validation():
    for kwargs, error, name in (
        ({"threshold": 0.0}, ValueError, "threshold"),
        ({"threshold": 1.5}, ValueError, "threshold"),
        ({"threshold": "0.6"}, TypeError, "threshold"),
        ({"dropout": 1.0}, ValueError, "dropout"),
        ({"hidden_channels": 0}, ValueError, "hidden_channels"),
    ):
        with pytest.raises(error, match=name):
            ACoLHead(K, C, **kwargs)
    head = _head()
    with pytest.raises(ValueError, match="features"):
        head(torch.rand(2, K + 1, H, H, dtype=torch.float64), LABELS)
    with pytest.raises(TypeError, match="features"):
        head(torch.rand(2, K, H, H), LABELS)  # float32 features, float64 head
    with pytest.raises(ValueError, match="labels"):
        head(_features(), torch.tensor([[1, 0, 0]]))
    with pytest.raises(TypeError, match="backbone"):
        ACoL(torch.nn.Identity(), 3)


def test_without_labels_the_zone_follows_the_predicted_classes():
    head = _head()
    f = _features()
    out = head(f, None)
    present = SelfErasingHead.predicted_classes(out.logits_a)
    assert torch.equal(out.zone, attention_map(out.maps_a, present) >= 0.6)


def test_acol_equals_seenet_without_s_c_and_reversal():
    """ACoL is SeeNet's head without S_C and without reversal, at delta_h = threshold."""
    torch.manual_seed(0)
    seenet = SeeNet(_IdentityBackbone(), C, hidden_channels=4, background_branch=False,
                    reverse_background=False, delta_h=0.6, delta_l=0.05).double().eval()
    acol = ACoL(_IdentityBackbone(), C, hidden_channels=4).double().eval()
    acol.load_state_dict(seenet.state_dict())  # the same names: branch_a, branch_b
    f = _features()
    a, s = acol(f, LABELS), seenet(f, LABELS)
    torch.testing.assert_close(a.maps_a, s.maps_a, rtol=0, atol=0)
    torch.testing.assert_close(a.maps_b, s.maps_b, rtol=1e-12, atol=1e-12)
    assert torch.equal(a.zone, s.mask == 0)


class _IdentityBackbone(torch.nn.Module):
    out_channels = K

    def forward(self, x):
        return x


def test_registry_round_trip_and_parameter_groups():
    torch.manual_seed(0)
    model = create_model("acol", backbone="vgg16_narrow", num_classes=4, threshold=0.7)
    assert isinstance(model, ACoL) and model.num_classes == 4
    assert model.head.threshold == 0.7
    assert model.head.branch_a[0].out_channels == 64  # 512 x 1/8, as SeeNet's heads
    assert model.backbone.output_stride == 16
    groups = model.parameter_groups()
    ids = [id(p) for group in groups.values() for p in group]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    assert len(groups["classifier"]) == 4  # two 1x1 convs, weight + bias
    # state dict round trip
    other = create_model("acol", backbone="vgg16_narrow", num_classes=4)
    other.load_state_dict(model.state_dict())
    x = torch.rand(1, 3, 32, 32)
    y = torch.tensor([[0, 1, 0, 0]])
    model.eval(), other.eval()
    torch.testing.assert_close(model(x, y).maps_b, other(x, y).maps_b)


def test_training_step():
    torch.manual_seed(0)
    model = create_model("acol", backbone="vgg16_narrow", num_classes=3)
    y = torch.tensor([[1.0, 0, 0], [0, 1, 1]])
    loss, logs = acol_step(model, {"image": torch.rand(2, 3, 32, 32), "classes": y})
    assert sorted(logs) == ["loss_a", "loss_b"]
    assert loss.item() == pytest.approx(logs["loss_a"] + logs["loss_b"], abs=1e-6)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_cam_extractor_gives_the_max_of_both_heads():
    torch.manual_seed(0)
    model = ACoL(_IdentityBackbone(), C, hidden_channels=4).double()
    images = _features()
    att = CAMExtractor(model, eps=0.0)(images, LABELS)
    assert sorted(att.branches) == ["a", "b"]
    assert model.training  # the extractor restores the mode
    with torch.no_grad():
        out = model.eval()(images, LABELS)
    for name, maps in (("a", out.maps_a), ("b", out.maps_b)):
        p = maps.clamp_min(0)
        expected = p / p.flatten(2).amax(2)[..., None, None]
        expected = torch.nan_to_num(expected) * LABELS[:, :, None, None]
        torch.testing.assert_close(att.branches[name], expected, atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(att.fused, torch.maximum(att.branches["a"], att.branches["b"]))


def test_cam_extractor_on_a_real_backbone_with_flip_and_scales():
    torch.manual_seed(0)
    model = create_model("acol", backbone="vgg16_narrow", num_classes=3)
    att = CAMExtractor(model, scales=(1.0, 0.5), flip=True)(torch.rand(1, 3, 32, 48),
                                                              torch.tensor([[0, 1, 0]]))
    assert att.fused.shape == (1, 3, 32, 48)
    assert float(att.fused[0, [0, 2]].abs().max()) == 0.0
    assert 0.0 <= float(att.fused.min()) and float(att.fused.max()) <= 1.0
    assert not bool(F.relu(att.fused - 1).any())
