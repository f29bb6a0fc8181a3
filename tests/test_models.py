"""Models (CAM classifier, SeeNet, DeepLab-LargeFOV) and the registry."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wsss.layers import SeeNetOutput, SelfErasingHead
from wsss.models import (
    VGG16,
    CAMClassifier,
    ClassifierOutput,
    DeepLabLargeFOV,
    ResNet,
    SeeNet,
    create_backbone,
    create_model,
    list_backbones,
    list_models,
    resnet_tiny,
)

ROLES = {"backbone", "new", "classifier"}


def _narrow_vgg(layout: str = "seenet") -> VGG16:
    return VGG16(layout, width=0.125)


def _assert_partition(model: nn.Module) -> dict[str, set[int]]:
    groups = model.parameter_groups()
    assert set(groups) == ROLES
    ids = {role: [id(p) for p in params] for role, params in groups.items()}
    flat = [i for role_ids in ids.values() for i in role_ids]
    assert len(flat) == len(set(flat)), "a parameter appears twice"
    assert set(flat) == {id(p) for p in model.parameters()}, "parameters missing or foreign"
    return {role: set(role_ids) for role, role_ids in ids.items()}


def _ids(*modules: nn.Module) -> set[int]:
    return {id(p) for m in modules for p in m.parameters()}


def _labels() -> torch.Tensor:
    return torch.tensor([[1, 0, 0], [0, 1, 1]])


# ----------------------------------------------------------------------------- CAMClassifier


def test_cam_classifier_shapes_and_gap():
    torch.manual_seed(0)
    model = CAMClassifier(_narrow_vgg(), num_classes=3, hidden_channels=8).eval()
    out = model(torch.rand(2, 3, 64, 64))
    assert isinstance(out, ClassifierOutput)
    assert out.maps.shape == (2, 3, 4, 4) and out.logits.shape == (2, 3)
    torch.testing.assert_close(out.logits, out.maps.mean(dim=(2, 3)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        out.logits = out.maps


def test_cam_classifier_class_maps_are_raw_maps():
    torch.manual_seed(0)
    model = CAMClassifier(_narrow_vgg(), num_classes=3, hidden_channels=8).eval()
    x = torch.rand(1, 3, 32, 32)
    maps = model.class_maps(x, labels=torch.tensor([[1, 0, 0]]))
    assert list(maps) == ["cam"]
    torch.testing.assert_close(maps["cam"], model(x).maps)
    # raw: the classifier's bias shifts the map, negative values survive
    with torch.no_grad():
        model.classifier.bias.fill_(-5.0)
    assert model.class_maps(x)["cam"].max() < 0


def test_cam_classifier_head_is_branch_a_layout():
    cam = CAMClassifier(_narrow_vgg(), num_classes=3, hidden_channels=8)
    head = SelfErasingHead(cam.backbone.out_channels, 3, hidden_channels=8)
    ours = {k: v.shape for k, v in cam.head.state_dict().items()}
    theirs = {k: v.shape for k, v in head.branch_a.state_dict().items()}
    assert ours == theirs
    assert [type(m) for m in cam.head] == [type(m) for m in head.branch_a]
    cam.head.load_state_dict(head.branch_a.state_dict())


def test_cam_classifier_forward_matches_reference():
    torch.manual_seed(0)
    model = CAMClassifier(_narrow_vgg(), num_classes=3, hidden_channels=8).eval()
    x = torch.rand(2, 3, 32, 32)
    h = model.backbone(x)
    conv1, conv2, cls = model.head[0], model.head[2], model.head[5]
    h = F.relu(F.conv2d(h, conv1.weight, conv1.bias, padding=1))
    h = F.relu(F.conv2d(h, conv2.weight, conv2.bias, padding=1))
    torch.testing.assert_close(model(x).maps, F.conv2d(h, cls.weight, cls.bias))


def test_cam_classifier_init_and_roles():
    torch.manual_seed(0)
    model = CAMClassifier(_narrow_vgg(), num_classes=4, hidden_channels=64)
    for conv in (model.head[0], model.head[2], model.head[5]):
        assert abs(conv.weight.std().item() - 0.01) < 0.002
        assert conv.bias.abs().max() == 0
    roles = _assert_partition(model)
    assert roles["classifier"] == _ids(model.head[5])
    assert roles["new"] == _ids(model.head[0], model.head[2])
    assert roles["backbone"] == _ids(model.backbone)


def test_cam_classifier_bad_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        CAMClassifier(_narrow_vgg(), num_classes=0)
    with pytest.raises(ValueError, match="dropout"):
        CAMClassifier(_narrow_vgg(), num_classes=2, dropout=1.0)
    with pytest.raises(TypeError, match="backbone"):
        CAMClassifier(nn.Identity(), num_classes=2)
    model = CAMClassifier(_narrow_vgg(), num_classes=2, hidden_channels=4)
    with pytest.raises(ValueError, match="images"):
        model(torch.rand(3, 32, 32))
    with pytest.raises(TypeError, match="images"):
        model(torch.zeros(1, 3, 32, 32, dtype=torch.uint8))


# ----------------------------------------------------------------------------- SeeNet


def test_seenet_forward_is_head_of_backbone():
    torch.manual_seed(0)
    model = SeeNet(_narrow_vgg(), num_classes=3, hidden_channels=8).eval()
    x = torch.rand(2, 3, 64, 64)
    out = model(x, _labels())
    assert isinstance(out, SeeNetOutput)
    assert out.maps_a.shape == (2, 3, 4, 4) and out.mask.shape == (2, 4, 4)
    assert out.logits_c.shape == (2, 3)
    want = model.head(model.backbone(x), _labels())
    for field in dataclasses.fields(SeeNetOutput):
        torch.testing.assert_close(getattr(out, field.name), getattr(want, field.name))


def test_seenet_class_maps_protocol():
    torch.manual_seed(0)
    model = SeeNet(_narrow_vgg(), num_classes=3, hidden_channels=8).eval()
    x = torch.rand(2, 3, 64, 64)
    maps = model.class_maps(x, _labels())
    assert sorted(maps) == ["a", "b"]
    out = model(x, _labels())
    torch.testing.assert_close(maps["a"], out.maps_a)
    torch.testing.assert_close(maps["b"], out.maps_b)
    unlabelled = model.class_maps(x)
    assert unlabelled["a"].shape == unlabelled["b"].shape == (2, 3, 4, 4)


def test_seenet_head_kwargs_pass_through():
    model = SeeNet(_narrow_vgg(), num_classes=5, hidden_channels=8, delta_h=0.8, delta_l=0.0)
    assert (model.head.delta_h, model.head.delta_l) == (0.8, 0.0)
    assert model.head.branch_a[0].in_channels == 64
    assert model.head.branch_a[0].out_channels == 8


@pytest.mark.parametrize("share", [True, False])
def test_seenet_parameter_roles(share):
    model = SeeNet(_narrow_vgg(), num_classes=3, hidden_channels=8, share_weights=share)
    roles = _assert_partition(model)
    branches = [model.head.branch_a, model.head.branch_b]
    if not share:
        branches.append(model.head.branch_c)
    classifiers = [b[-1] for b in branches]
    assert all(isinstance(c, nn.Conv2d) and c.kernel_size == (1, 1) for c in classifiers)
    assert roles["classifier"] == _ids(*classifiers)
    assert len(model.parameter_groups()["classifier"]) == 2 * len(branches)
    assert roles["backbone"] == _ids(model.backbone)
    assert roles["new"] == _ids(model.head) - _ids(*classifiers)
    assert len(model.classifiers()) == len(branches)


def test_seenet_with_resnet_backbone():
    torch.manual_seed(0)
    model = SeeNet(resnet_tiny(output_stride=16), num_classes=3, hidden_channels=8).eval()
    out = model(torch.rand(2, 3, 64, 64), _labels())
    assert out.maps_b.shape == (2, 3, 4, 4)
    _assert_partition(model)


def test_seenet_rejects_bad_images():
    model = SeeNet(_narrow_vgg(), num_classes=3, hidden_channels=8)
    with pytest.raises(ValueError, match="images"):
        model(torch.rand(2, 3, 64))
    with pytest.raises(TypeError, match="backbone"):
        SeeNet(nn.Identity(), num_classes=3)


# ----------------------------------------------------------------------------- DeepLab


@pytest.mark.parametrize("size", [(64, 64), (33, 41), (50, 42)])
def test_deeplab_output_size_equals_input_size(size):
    torch.manual_seed(0)
    model = DeepLabLargeFOV(_narrow_vgg("largefov"), num_classes=21, head_channels=16).eval()
    x = torch.rand(1, 3, *size)
    assert model(x).shape == (1, 21, *size)
    logits = model.logits(x)
    assert logits.shape[-2:] == tuple(-(-s // 8) for s in size)
    want = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    torch.testing.assert_close(model(x), want)


def test_deeplab_with_resnet_backbone():
    torch.manual_seed(0)
    model = DeepLabLargeFOV(resnet_tiny(), num_classes=5, head_channels=16).eval()
    assert model(torch.rand(2, 3, 64, 48)).shape == (2, 5, 64, 48)
    assert model.logits(torch.rand(1, 3, 64, 48)).shape == (1, 5, 8, 6)


def test_deeplab_head_layers_and_init():
    torch.manual_seed(0)
    model = DeepLabLargeFOV(_narrow_vgg("largefov"), num_classes=21, head_channels=128)
    assert (model.fc6.kernel_size, model.fc6.dilation, model.fc6.padding) == (
        (3, 3),
        (12, 12),
        (12, 12),
    )
    assert model.fc6.in_channels == 64 and model.fc6.out_channels == 128
    assert model.fc7.kernel_size == (1, 1) and model.fc7.out_channels == 128
    assert model.fc8.kernel_size == (1, 1) and model.fc8.out_channels == 21
    assert abs(model.fc8.weight.std().item() - 0.01) < 0.002
    assert model.fc8.bias.abs().max() == 0
    assert model.drop6.p == model.drop7.p == 0.5
    full = DeepLabLargeFOV(VGG16("largefov"))
    assert tuple(full.fc6.weight.shape) == (1024, 512, 3, 3)
    assert tuple(full.fc7.weight.shape) == (1024, 1024, 1, 1)


def test_deeplab_forward_matches_reference():
    torch.manual_seed(0)
    model = DeepLabLargeFOV(_narrow_vgg("largefov"), num_classes=4, head_channels=16).eval()
    x = torch.rand(1, 3, 40, 40)
    h = model.backbone(x)
    h = F.relu(F.conv2d(h, model.fc6.weight, model.fc6.bias, padding=12, dilation=12))
    h = F.relu(F.conv2d(h, model.fc7.weight, model.fc7.bias))
    torch.testing.assert_close(model.logits(x), F.conv2d(h, model.fc8.weight, model.fc8.bias))


@pytest.mark.parametrize("head_role", ["backbone", "new"])
def test_deeplab_parameter_roles(head_role):
    model = DeepLabLargeFOV(_narrow_vgg("largefov"), head_channels=16, head_role=head_role)
    roles = _assert_partition(model)
    assert roles["classifier"] == _ids(model.fc8)
    head = _ids(model.fc6, model.fc7)
    if head_role == "backbone":
        assert roles["backbone"] == _ids(model.backbone) | head and roles["new"] == set()
    else:
        assert roles["backbone"] == _ids(model.backbone) and roles["new"] == head


def test_deeplab_bad_arguments():
    with pytest.raises(ValueError, match="head_role"):
        DeepLabLargeFOV(_narrow_vgg("largefov"), head_role="classifier")
    with pytest.raises(ValueError, match="head_channels"):
        DeepLabLargeFOV(_narrow_vgg("largefov"), head_channels=0)
    with pytest.raises(ValueError, match="images"):
        DeepLabLargeFOV(_narrow_vgg("largefov"), head_channels=4)(torch.rand(3, 8, 8))


# ----------------------------------------------------------------------------- registry


def test_list_models_and_backbones():
    assert list_models() == ["acol", "cam_classifier", "deeplab_largefov", "seenet"]
    assert {"vgg16", "vgg16_narrow", "resnet101"} <= set(list_backbones())


def test_create_model_defaults():
    seenet = create_model("seenet", backbone="vgg16_narrow")
    assert isinstance(seenet, SeeNet) and seenet.num_classes == 20
    assert seenet.backbone.layout == "seenet" and seenet.backbone.output_stride == 16
    assert seenet.head.branch_a[0].out_channels == 64  # 512 x 1/8
    cam = create_model("cam_classifier", backbone="vgg16_narrow", num_classes=3)
    assert isinstance(cam, CAMClassifier) and cam.classifier.out_channels == 3
    assert cam.backbone.layout == "seenet"
    deeplab = create_model("deeplab_largefov", backbone="vgg16_narrow")
    assert isinstance(deeplab, DeepLabLargeFOV) and deeplab.num_classes == 21
    assert deeplab.backbone.layout == "largefov" and deeplab.fc6.out_channels == 128
    assert deeplab.head_role == "backbone"
    assert deeplab(torch.rand(1, 3, 32, 32)).shape == (1, 21, 32, 32)


def test_create_model_full_vgg16_defaults():
    model = create_model("seenet")
    assert model.backbone.out_channels == 512 and model.head.branch_a[0].out_channels == 512


def test_create_model_resnet_backbones():
    deeplab = create_model("deeplab_largefov", backbone="resnet_tiny")
    assert isinstance(deeplab.backbone, ResNet) and deeplab.backbone.output_stride == 8
    assert deeplab.head_role == "new" and deeplab.fc6.out_channels == 128
    seenet = create_model("seenet", backbone="resnet_tiny", num_classes=3)
    assert seenet.backbone.output_stride == 16
    thawed = create_model(
        "cam_classifier", backbone="resnet_tiny", backbone_kwargs={"frozen_bn": False}
    )
    assert any(isinstance(m, nn.BatchNorm2d) for m in thawed.modules())
    big = create_backbone("resnet101", "largefov")
    assert big.out_channels == 2048 and big.output_stride == 8


def test_create_model_passthrough_and_module_backbone():
    backbone = _narrow_vgg()
    model = create_model(
        "seenet", backbone=backbone, num_classes=4, hidden_channels=6, share_weights=False
    )
    assert model.backbone is backbone
    assert model.head.branch_a[0].out_channels == 6
    assert model.head.branch_c is not model.head.branch_b
    with pytest.raises(ValueError, match="backbone_kwargs"):
        create_model("seenet", backbone=backbone, backbone_kwargs={"width": 1.0})


def test_create_model_unknown_names():
    with pytest.raises(ValueError, match="name") as info:
        create_model("unet")
    for valid in list_models():
        assert valid in str(info.value)
    with pytest.raises(ValueError, match="backbone") as info:
        create_model("seenet", backbone="vgg19")
    assert "vgg16_narrow" in str(info.value)
    with pytest.raises(TypeError, match="backbone"):
        create_model("seenet", backbone=3)
    with pytest.raises(ValueError, match="layout"):
        create_backbone("vgg16", "deeplab")


def _networks():
    from wsss.models import (
        VGG16,
        CAMClassifier,
        DeepLabLargeFOV,
        FrozenBatchNorm2d,
        SeeNet,
        resnet_tiny,
    )
    from wsss.models.resnet import Bottleneck

    vgg = VGG16(width=0.125)
    return {
        "vgg_seenet": (vgg, 3, 16),
        "vgg_largefov": (VGG16("largefov", width=0.125), 3, 1),
        "vgg_tiny3": (VGG16(width=0.125, num_blocks=3), 3, 8),
        "resnet": (resnet_tiny(), 3, 1),
        "bottleneck": (Bottleneck(8, 2), 8, 1),
        "frozen_bn": (FrozenBatchNorm2d(4), 4, 1),
        "cam": (CAMClassifier(vgg, 2, hidden_channels=4), 3, 16),
        "seenet": (SeeNet(VGG16(width=0.125), 2, hidden_channels=4), 3, 16),
        "deeplab": (DeepLabLargeFOV(VGG16("largefov", width=0.125), 3, head_channels=4), 3, 1),
    }


@pytest.mark.parametrize("which", sorted(_networks()))
def test_every_forward_checks_its_input(which):
    """Each network refuses, by name, what used to fail deep inside a convolution."""
    net, channels, min_size = _networks()[which]
    name = "x" if which in ("vgg_seenet", "vgg_largefov", "vgg_tiny3", "resnet", "bottleneck",
                            "frozen_bn") else "images"
    size = max(min_size, 2)
    good = torch.rand(1, channels, size, size)
    with torch.no_grad():
        out = net(good)
        out = out.logits_a if isinstance(out, SeeNetOutput) else getattr(out, "logits", out)
        assert torch.isfinite(out).all()
        bad = {
            "too small": (torch.rand(1, channels, min_size - 1, size), ValueError),
            "channels": (torch.rand(1, channels + 1, size, size), ValueError),
            "float64": (good.double(), TypeError),
            "integer": (good.to(torch.uint8), TypeError),
            "rank": (good[0], ValueError),
            "empty batch": (good[:0], ValueError),
            "numpy": (good.numpy(), TypeError),
        }
        for what, (x, exc) in bad.items():
            if what == "too small" and min_size == 1:
                continue
            if what == "float64" and which == "frozen_bn":  # buffers only: any float works
                continue
            with pytest.raises(exc, match=f"^{name}: "):
                net(x)


def test_narrow_vgg_names_the_smallest_input():
    from wsss.models import VGG16

    with pytest.raises(ValueError, match=r"^x: height and width must be >= 16"):
        VGG16(width=0.125)(torch.rand(1, 3, 8, 8))


@pytest.mark.parametrize(
    ("build", "exc", "name"),
    [
        (lambda m: m.FrozenBatchNorm2d(2, eps=-1.0), ValueError, "eps"),
        (lambda m: m.FrozenBatchNorm2d(2, eps=float("nan")), ValueError, "eps"),
        (lambda m: m.CAMClassifier(m.VGG16(width=0.125), 2, init_std=float("inf")), ValueError,
         "init_std"),
        (lambda m: m.CAMClassifier(m.VGG16(width=0.125), 2, dropout=None), TypeError, "dropout"),
        (lambda m: m.SeeNet(m.VGG16(width=0.125), 2, init_std=float("inf")), ValueError,
         "init_std"),
        (lambda m: m.VGG16(width=None), TypeError, "width"),
        (lambda m: m.VGG16(width=1e30), ValueError, "width"),
        (lambda m: m.resnet_tiny(width=None), TypeError, "width"),
        (lambda m: m.create_model([]), ValueError, "name"),
        (lambda m: m.create_backbone(["vgg16"]), ValueError, "name"),
        (lambda m: m.create_model("seenet", backbone="nope"), ValueError, "backbone"),
        (lambda m: m.vgg.scale_channels(None, 0.5), TypeError, "channels"),
        (lambda m: m.DeepLabLargeFOV(m.VGG16("largefov", width=0.125), head_channels=2**40),
         ValueError, "head_channels"),
        (lambda m: m.SeeNet(None, 2), TypeError, "backbone"),
    ],
)
def test_constructor_arguments_are_checked(build, exc, name):
    import wsss.models as m

    with pytest.raises(exc, match=f"^{name}: "):
        build(m)
