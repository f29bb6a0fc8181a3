"""Backbones: VGG16 layouts, dilated ResNets, frozen batch norm."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wsss.models import VGG16, FrozenBatchNorm2d, ResNet, resnet101, resnet_tiny
from wsss.models.resnet import RESNET101_LAYERS
from wsss.models.vgg import VGG16_NARROW_WIDTH, scale_channels

CONV_NAMES = [
    f"conv{b}_{i}" for b, n in enumerate((2, 2, 3, 3, 3), start=1) for i in range(1, n + 1)
]


def _narrow(layout: str) -> VGG16:
    torch.manual_seed(0)
    return VGG16(layout, width=VGG16_NARROW_WIDTH)


# ----------------------------------------------------------------------------- VGG16


def test_vgg_named_convolutions_and_channels():
    net = VGG16("seenet")
    convs = [name for name, m in net.named_children() if isinstance(m, nn.Conv2d)]
    assert convs == CONV_NAMES
    assert net.conv1_1.in_channels == 3 and net.conv1_1.out_channels == 64
    assert net.conv3_1.in_channels == 128 and net.conv3_3.out_channels == 256
    assert net.conv5_3.out_channels == 512 and net.out_channels == 512
    # 13 convs of VGG16: 14,714,688 parameters (torchvision's vgg16 minus its classifier).
    assert sum(p.numel() for p in net.parameters()) == 14_714_688


def test_vgg_seenet_layout_pools_and_dilation():
    net = _narrow("seenet")
    pools = {n: m for n, m in net.named_children() if not isinstance(m, nn.Conv2d)}
    assert sorted(pools) == ["pool1", "pool2", "pool3", "pool4"]
    for pool in pools.values():
        assert isinstance(pool, nn.MaxPool2d) and pool.kernel_size == 2 and pool.stride == 2
    assert all(getattr(net, n).dilation == (1, 1) for n in CONV_NAMES)
    assert net.output_stride == 16


def test_vgg_largefov_layout_pools_and_dilation():
    net = _narrow("largefov")
    strides = {f"pool{i}": s for i, s in enumerate((2, 2, 2, 1, 1), start=1)}
    for name, stride in strides.items():
        pool = getattr(net, name)
        assert isinstance(pool, nn.MaxPool2d)
        assert (pool.kernel_size, pool.stride, pool.padding) == (3, stride, 1)
    assert isinstance(net.pool5a, nn.AvgPool2d)
    assert (net.pool5a.kernel_size, net.pool5a.stride, net.pool5a.padding) == (3, 1, 1)
    for name in CONV_NAMES:
        want = 2 if name.startswith("conv5") else 1
        conv = getattr(net, name)
        assert conv.dilation == (want, want) and conv.padding == (want, want)
    assert net.output_stride == 8
    assert list(dict(net.named_children()))[-2:] == ["pool5", "pool5a"]


@pytest.mark.parametrize("size", [32, 50, 64, 65])
def test_vgg_output_sizes(size):
    x = torch.rand(1, 3, size, size + 16)
    assert _narrow("seenet")(x).shape[-2:] == (size // 16, (size + 16) // 16)
    assert _narrow("largefov")(x).shape[-2:] == (math.ceil(size / 8), math.ceil((size + 16) / 8))


def test_vgg_64px_gives_4x4_and_8x8():
    x = torch.rand(2, 3, 64, 64)
    assert _narrow("seenet")(x).shape == (2, 64, 4, 4)
    assert _narrow("largefov")(x).shape == (2, 64, 8, 8)


def _reference_vgg(net: VGG16, x: torch.Tensor) -> torch.Tensor:
    """Functional VGG16, written out block by block."""
    largefov = net.layout == "largefov"
    for block, n in enumerate((2, 2, 3, 3, 3), start=1):
        for i in range(1, n + 1):
            conv = getattr(net, f"conv{block}_{i}")
            d = 2 if largefov and block == 5 else 1
            x = F.relu(F.conv2d(x, conv.weight, conv.bias, padding=d, dilation=d))
        if largefov:
            x = F.max_pool2d(x, 3, stride=2 if block <= 3 else 1, padding=1)
        elif block <= 4:
            x = F.max_pool2d(x, 2, 2)
    if largefov:
        x = F.avg_pool2d(x, 3, stride=1, padding=1)
    return x


@pytest.mark.parametrize("layout", ["seenet", "largefov"])
def test_vgg_forward_matches_functional_reference(layout):
    net = _narrow(layout)
    x = torch.randn(2, 3, 48, 40)
    torch.testing.assert_close(net(x), _reference_vgg(net, x))


def test_vgg_seenet_output_is_relu_of_conv5_3():
    out = _narrow("seenet")(torch.randn(1, 3, 32, 32))
    assert out.min() >= 0


def test_vgg_width_rounds_with_minimum_one():
    assert scale_channels(64, 0.125) == 8
    assert scale_channels(64, 0.01) == 1
    assert scale_channels(100, 0.5) == 50
    net = VGG16(width=0.02)
    assert net.conv1_1.out_channels == 1 and net.conv5_3.out_channels == 10
    assert net(torch.rand(1, 3, 32, 32)).shape == (1, 10, 2, 2)


def test_vgg_bad_arguments():
    with pytest.raises(ValueError, match="layout"):
        VGG16("deeplab")
    with pytest.raises(ValueError, match="width"):
        VGG16(width=0.0)
    with pytest.raises(ValueError, match="width"):
        VGG16(width=float("nan"))
    with pytest.raises(TypeError, match="width"):
        VGG16(width="1")


# ----------------------------------------------------------------------------- ResNet


def test_resnet101_structure_matches_torchvision():
    net = resnet101(frozen_bn=False)
    assert [len(getattr(net, f"layer{i}")) for i in range(1, 5)] == list(RESNET101_LAYERS)
    assert net.out_channels == 2048 and net.output_stride == 8
    # torchvision's resnet101 has 44,549,160 parameters, 2,049,000 of them in fc.
    assert sum(p.numel() for p in net.parameters()) == 44_549_160 - 2_049_000
    keys = net.state_dict().keys()
    for key in (
        "conv1.weight",
        "bn1.running_var",
        "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.num_batches_tracked",
        "layer3.22.conv3.weight",
        "layer4.2.bn3.bias",
    ):
        assert key in keys
    assert "layer1.1.downsample.0.weight" not in keys


def test_resnet101_frozen_by_default_has_no_bn_parameters():
    net = resnet101()
    assert not any(isinstance(m, nn.BatchNorm2d) for m in net.modules())
    assert sum(p.numel() for p in net.parameters()) == sum(
        m.weight.numel() for m in net.modules() if isinstance(m, nn.Conv2d)
    )


@pytest.mark.parametrize(
    ("output_stride", "strides", "dilations"),
    [
        (32, (1, 2, 2, 2), (1, 1, 1, 1)),
        (16, (1, 2, 2, 1), (1, 1, 1, 2)),
        (8, (1, 2, 1, 1), (1, 1, 2, 4)),
    ],
)
def test_resnet_strides_and_dilations(output_stride, strides, dilations):
    net = ResNet((2, 1, 3, 2), width=0.0625, output_stride=output_stride)
    for stage, (stride, dilation) in enumerate(zip(strides, dilations), start=1):
        for index, block in enumerate(getattr(net, f"layer{stage}")):
            want_stride = stride if index == 0 else 1
            assert block.conv2.stride == (want_stride, want_stride)
            assert block.conv2.dilation == (dilation, dilation)
            assert block.conv2.padding == (dilation, dilation)
            assert block.conv1.stride == (1, 1)
    for size in (64, 50):
        out = net(torch.rand(1, 3, size, size))
        assert out.shape[-1] == math.ceil(size / output_stride)
    assert net.output_stride == output_stride


def test_resnet_tiny_shapes():
    net = resnet_tiny()
    assert net.out_channels == 256
    assert net(torch.rand(2, 3, 64, 64)).shape == (2, 256, 8, 8)
    assert resnet_tiny(output_stride=16)(torch.rand(1, 3, 64, 64)).shape == (1, 256, 4, 4)


def test_resnet_stride_in_1x1():
    net = resnet_tiny(stride_in_1x1=True, output_stride=32)
    assert net.layer2[0].conv1.stride == (2, 2) and net.layer2[0].conv2.stride == (1, 1)
    assert net(torch.rand(1, 3, 64, 64)).shape[-1] == 2


def test_bottleneck_forward_matches_reference():
    torch.manual_seed(0)
    net = resnet_tiny(frozen_bn=False, output_stride=32).eval()
    block = net.layer2[0]
    x = torch.randn(1, block.conv1.in_channels, 9, 9)

    def bn(m, t):
        return F.batch_norm(t, m.running_mean, m.running_var, m.weight, m.bias, False, 0.0, m.eps)

    out = F.relu(bn(block.bn1, block.conv1(x)))
    out = F.relu(bn(block.bn2, block.conv2(out)))
    out = bn(block.bn3, block.conv3(out))
    shortcut = bn(block.downsample[1], block.downsample[0](x))
    torch.testing.assert_close(block(x), F.relu(out + shortcut))


def test_resnet_bad_arguments():
    with pytest.raises(ValueError, match="layers"):
        ResNet((3, 4, 23))
    with pytest.raises(ValueError, match="layers"):
        ResNet((3, 0, 1, 1))
    with pytest.raises(ValueError, match="output_stride"):
        ResNet((1, 1, 1, 1), output_stride=4)


# ----------------------------------------------------------------------------- FrozenBatchNorm2d


def _random_frozen(channels: int = 3) -> FrozenBatchNorm2d:
    g = torch.Generator().manual_seed(1)
    bn = FrozenBatchNorm2d(channels, eps=1e-3)
    bn.weight.copy_(torch.randn(channels, generator=g))
    bn.bias.copy_(torch.randn(channels, generator=g))
    bn.running_mean.copy_(torch.randn(channels, generator=g))
    bn.running_var.copy_(torch.rand(channels, generator=g) + 0.1)
    return bn


def test_frozen_bn_matches_float64_formula():
    bn = _random_frozen()
    x = torch.randn(2, 3, 4, 5)
    x64 = x.double()
    shape = (1, -1, 1, 1)
    want = (x64 - bn.running_mean.double().view(shape)) / torch.sqrt(
        bn.running_var.double().view(shape) + 1e-3
    ) * bn.weight.double().view(shape) + bn.bias.double().view(shape)
    torch.testing.assert_close(bn(x).double(), want, rtol=1e-5, atol=1e-5)


def test_frozen_bn_is_fixed_in_training_mode():
    bn = _random_frozen().train()
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    x = torch.randn(4, 3, 5, 5) * 10 + 3
    first = bn(x)
    torch.testing.assert_close(bn(x), first)
    for key, value in bn.state_dict().items():
        torch.testing.assert_close(value, before[key])
    assert list(bn.parameters()) == []


def test_frozen_bn_equals_batchnorm_in_eval_and_loads_its_state_dict():
    torch.manual_seed(0)
    bn = nn.BatchNorm2d(3)
    bn.train()(torch.randn(8, 3, 4, 4) * 2 + 1)  # move the running statistics
    with torch.no_grad():
        bn.weight.uniform_(0.5, 2.0)
        bn.bias.uniform_(-1, 1)
    bn.eval()
    x = torch.randn(2, 3, 4, 4)
    torch.testing.assert_close(FrozenBatchNorm2d.from_batchnorm(bn)(x), bn(x))
    loaded = FrozenBatchNorm2d(3)
    loaded.load_state_dict(bn.state_dict())  # num_batches_tracked is dropped
    torch.testing.assert_close(loaded(x), bn(x))


def test_frozen_bn_gradient_is_the_scale():
    bn = _random_frozen()
    x = torch.randn(1, 3, 2, 2, requires_grad=True)
    bn(x).sum().backward()
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(x.grad, scale.view(1, -1, 1, 1).expand_as(x))


def test_vgg16_batch_norm_variant():
    import torch

    from wsss.models import create_backbone

    net = create_backbone("vgg16_narrow_bn", "seenet")
    names = [n for n, _ in net.named_children()]
    assert names[:3] == ["conv1_1", "bn1_1", "conv1_2"]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules()) == 13
    x = torch.rand(4, 3, 32, 32)
    net.train()
    feats = net(x)
    assert feats.shape == (4, 64, 2, 2) and float(feats.detach().min()) >= 0
    # ReLU comes after the batch norm: conv1_1 -> bn1_1 -> relu equals the first stage.
    with torch.no_grad():
        first = torch.relu(net.bn1_1(net.conv1_1(x)))
    assert float(first.min()) == 0.0 and float((first == 0).float().mean()) > 0.2


def test_vgg16_seenet_layout_at_output_stride_8():
    import pytest
    import torch

    from wsss.models import VGG16

    net = VGG16("seenet", width=0.125, output_stride=8)
    assert net(torch.zeros(1, 3, 64, 96)).shape == (1, 64, 8, 12) and net.output_stride == 8
    assert not hasattr(net, "pool4") and net.conv5_1.dilation == (2, 2)
    assert VGG16("seenet", width=0.125).conv5_1.dilation == (1, 1)
    with pytest.raises(ValueError, match="output_stride"):
        VGG16("largefov", output_stride=16)
    with pytest.raises(ValueError, match="output_stride"):
        VGG16("seenet", output_stride=4)


def _receptive_field(net: nn.Module) -> int:
    """Receptive field (px) of one output cell: ``r += (k - 1) * d * jump``, ``jump *= s``."""
    field, jump = 1, 1
    for module in net.children():
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            kernel, stride, dilation = (
                (v if isinstance(v, int) else v[0])
                for v in (module.kernel_size, module.stride, getattr(module, "dilation", 1))
            )
            field += (kernel - 1) * dilation * jump
            jump *= stride
    return field


@pytest.mark.parametrize(
    ("layout", "num_blocks", "output_stride", "field"),
    [("seenet", 5, None, 196), ("seenet", 4, None, 92), ("largefov", 5, None, 243),
     ("largefov", 4, None, 99), ("seenet", 4, 8, 92), ("seenet", 3, None, 44),
     ("largefov", 3, None, 51)],
)
def test_vgg_truncated_after_conv4_or_pool3(layout, num_blocks, output_stride, field):
    net = VGG16(layout, width=0.125, num_blocks=num_blocks, output_stride=output_stride)
    assert _receptive_field(net) == field
    assert hasattr(net, "conv5_1") == (num_blocks == 5)
    if num_blocks == 4:
        names = [n for n, _ in net.named_children()]
        assert names[-1] == "conv4_3" and "pool4" not in names and net.output_stride == 8
        size = (6, 9) if layout == "seenet" else (7, 10)  # floor vs ceil of 50 / 8, 75 / 8
        assert net(torch.zeros(1, 3, 50, 75)).shape == (1, 64, *size)
        assert net.out_channels == 64 and "num_blocks=4" in repr(net)
    if num_blocks == 3:
        names = [n for n, _ in net.named_children()]
        assert names[-1] == "pool3" and "conv4_1" not in names and net.output_stride == 8
        size = (6, 9) if layout == "seenet" else (7, 10)
        assert net(torch.zeros(1, 3, 50, 75)).shape == (1, 32, *size)
        assert net.out_channels == 32 and "num_blocks=3" in repr(net)


def test_vgg_truncated_bad_arguments():
    for bad in (2, 6, True, 4.0):
        with pytest.raises(ValueError, match="num_blocks"):
            VGG16("seenet", num_blocks=bad)
    with pytest.raises(ValueError, match="output_stride"):
        VGG16("seenet", num_blocks=4, output_stride=16)


def test_vgg16_tiny_backbone_is_the_truncated_narrow_bn_network():
    from wsss.models import create_backbone, create_model

    for layout in ("seenet", "largefov"):
        net = create_backbone("vgg16_tiny", layout)
        assert (net.num_blocks, net.width, net.batch_norm, net.output_stride) == (4, 0.125, True, 8)
    model = create_model("seenet", backbone="vgg16_tiny")
    assert model(torch.zeros(2, 3, 64, 64), torch.ones(2, 20)).logits_a.shape == (2, 20)


def test_vgg16_tiny3_is_vgg16_tiny_up_to_pool3():
    from wsss.models import create_backbone, create_model

    for layout in ("seenet", "largefov"):
        net = create_backbone("vgg16_tiny3", layout)
        deep = create_backbone("vgg16_tiny", layout)
        assert (net.num_blocks, net.width, net.batch_norm, net.output_stride) == (3, 0.125, True, 8)
        shapes = {k: v.shape for k, v in net.state_dict().items()}
        deeper = {k: v.shape for k, v in deep.state_dict().items()}
        assert shapes == {k: v for k, v in deeper.items() if k in shapes}
        assert all(k.startswith(("conv4", "bn4")) for k in set(deeper) - set(shapes))
    model = create_model("seenet", backbone="vgg16_tiny3")
    out = model(torch.zeros(2, 3, 64, 64), torch.ones(2, 20))
    assert out.logits_a.shape == (2, 20) and out.maps_a.shape == (2, 20, 8, 8)
    assert model.head.branch_a[0].in_channels == 32 and model.head.branch_a[0].out_channels == 64
