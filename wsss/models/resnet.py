"""Bottleneck ResNets as dilated feature extractors, the body of ResNet-101-LargeFOV.

See :ref:`How SeeNet works, section 7 <seenet-deeplab>`.

The submodule names follow torchvision's (``conv1``, ``bn1``, ``layer1`` ... ``layer4``, each
block's ``conv1..3``, ``bn1..3`` and ``downsample.0/1``), so an ImageNet checkpoint in that layout
maps onto :class:`ResNet` key for key (:func:`wsss.models.load_imagenet_resnet`).

Output stride is set by dilation, the DeepLab way: for ``output_stride=8`` the stages res4
(``layer3``) and res5 (``layer4``) keep stride 1 and use dilation 2 and 4 in *every* block's 3x3
convolution (DeepLab v2's prototxt; torchvision instead keeps the previous dilation in the first
block of a dilated stage).

Batch normalisation is frozen by default (:class:`FrozenBatchNorm2d`): DeepLab trains ResNet-101
with batches of 10 crops and keeps the ImageNet statistics and affine parameters fixed
(``use_global_stats``, learning rate 0). Pass ``frozen_bn=False`` for ordinary
:class:`torch.nn.BatchNorm2d`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import Tensor, nn

from .._validation import (
    MAX_CHANNELS,
    check_bool,
    check_choice,
    check_eps,
    check_images,
    check_int,
    check_real,
)
from .vgg import scale_channels

__all__ = [
    "RESNET101_LAYERS",
    "RESNET_TINY_LAYERS",
    "RESNET_TINY_WIDTH",
    "Bottleneck",
    "FrozenBatchNorm2d",
    "ResNet",
    "resnet101",
    "resnet_tiny",
]

#: Bottleneck blocks per stage of ResNet-101.
RESNET101_LAYERS = (3, 4, 23, 3)
#: Blocks per stage of the tiny ResNet used in tests and CPU demos (:func:`resnet_tiny`).
RESNET_TINY_LAYERS = (1, 1, 1, 1)
#: Channel width factor of the tiny ResNet: 1/8 of ResNet-101's, 256 output channels.
RESNET_TINY_WIDTH = 0.125

_STAGE_DILATIONS = {32: (1, 1, 1, 1), 16: (1, 1, 1, 2), 8: (1, 1, 2, 4)}


class FrozenBatchNorm2d(nn.Module):
    """Batch normalisation with fixed statistics and affine parameters (all buffers).

    ``y = (x - running_mean) / sqrt(running_var + eps) * weight + bias`` per channel, in training
    and evaluation alike; nothing is updated and nothing is a parameter, so an optimizer never
    sees it. Loading a :class:`torch.nn.BatchNorm2d` state dict works: its
    ``num_batches_tracked`` entry is dropped.

    Parameters
    ----------
    num_features
        Channels.
    eps
        Added to the variance, as in :class:`torch.nn.BatchNorm2d`.

    Examples
    --------
    >>> bn = FrozenBatchNorm2d(1, eps=0.0)
    >>> _ = bn.running_mean.fill_(1.0), bn.running_var.fill_(4.0), bn.weight.fill_(3.0)
    >>> bn(torch.full((1, 1, 1, 1), 5.0)).item()  # (5 - 1) / sqrt(4) * 3 + 0
    6.0
    """

    weight: Tensor
    bias: Tensor
    running_mean: Tensor
    running_var: Tensor

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.num_features = check_int("num_features", num_features, minimum=1, maximum=MAX_CHANNELS)
        self.eps = check_eps("eps", eps)
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    @classmethod
    def from_batchnorm(cls, bn: nn.BatchNorm2d) -> FrozenBatchNorm2d:
        """A frozen copy of ``bn``'s current statistics and affine parameters."""
        frozen = cls(bn.num_features, bn.eps)
        with torch.no_grad():
            if bn.affine:
                frozen.weight.copy_(bn.weight)
                frozen.bias.copy_(bn.bias)
            if bn.track_running_stats:
                frozen.running_mean.copy_(cast(Tensor, bn.running_mean))
                frozen.running_var.copy_(cast(Tensor, bn.running_var))
        return frozen

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}"

    def forward(self, x: Tensor) -> Tensor:
        check_images("x", x, channels=self.num_features)
        scale = self.weight * torch.rsqrt(self.running_var + self.eps)
        shift = self.bias - self.running_mean * scale
        return x * scale.to(x.dtype).view(1, -1, 1, 1) + shift.to(x.dtype).view(1, -1, 1, 1)


def _norm(channels: int, frozen: bool) -> nn.Module:
    return FrozenBatchNorm2d(channels) if frozen else nn.BatchNorm2d(channels)


class Bottleneck(nn.Module):
    """ResNet bottleneck: 1x1 reduce, 3x3 (strided, dilated), 1x1 expand (x4), plus shortcut.

    Features ``(N, in_channels, H, W)`` become ``(N, 4 * planes, H', W')`` with
    ``H' = ceil(H / stride)`` and ``W' = ceil(W / stride)``. The shortcut is a strided 1x1
    convolution (``downsample``) when the stride or the channel count changes, else the identity.

    Parameters
    ----------
    in_channels
        Input channels.
    planes
        Channels of the 3x3 convolution; the block outputs ``4 * planes``.
    stride, dilation
        Of the 3x3 convolution (or of the first 1x1 with ``stride_in_1x1``).
    frozen_bn
        Use :class:`FrozenBatchNorm2d`.
    stride_in_1x1
        Put the stride on ``conv1`` (original Caffe ResNet) instead of ``conv2`` (torchvision).

    Examples
    --------
    >>> block = Bottleneck(8, 4, stride=2)
    >>> block(torch.zeros(1, 8, 9, 9)).shape
    torch.Size([1, 16, 5, 5])
    >>> block.downsample is None, Bottleneck(16, 4, dilation=2).downsample is None
    (False, True)
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        *,
        stride: int = 1,
        dilation: int = 1,
        frozen_bn: bool = True,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        in_channels = check_int("in_channels", in_channels, minimum=1, maximum=MAX_CHANNELS)
        planes = check_int("planes", planes, minimum=1, maximum=MAX_CHANNELS // self.expansion)
        stride = check_int("stride", stride, minimum=1, maximum=64)
        dilation = check_int("dilation", dilation, minimum=1, maximum=64)
        frozen_bn = check_bool("frozen_bn", frozen_bn)
        stride_in_1x1 = check_bool("stride_in_1x1", stride_in_1x1)
        self.in_channels = in_channels
        out_channels = planes * self.expansion
        stride_1x1, stride_3x3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = nn.Conv2d(in_channels, planes, 1, stride=stride_1x1, bias=False)
        self.bn1 = _norm(planes, frozen_bn)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride=stride_3x3, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = _norm(planes, frozen_bn)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = _norm(out_channels, frozen_bn)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                _norm(out_channels, frozen_bn),
            )

    def forward(self, x: Tensor) -> Tensor:
        check_images("x", x, self, channels=self.in_channels)
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


class ResNet(nn.Module):
    """A bottleneck ResNet without its classifier: images ``(N, 3, H, W)`` to features.

    Stem ``conv1`` (7x7/2) ``bn1`` ReLU ``maxpool`` (3x3/2), then four stages ``layer1`` ...
    ``layer4`` of :class:`Bottleneck` blocks with base widths 64, 128, 256, 512 (times
    ``width``), strides 1, 2, 2, 2 until the requested output stride is reached, dilation after.

    Parameters
    ----------
    layers
        Blocks per stage, e.g. :data:`RESNET101_LAYERS`.
    width
        Scales every channel count (``max(1, round(c * width))``).
    output_stride
        32 (no dilation), 16 (``layer4`` dilation 2) or 8 (``layer3`` dilation 2, ``layer4``
        dilation 4; DeepLab-LargeFOV).
    frozen_bn
        :class:`FrozenBatchNorm2d` everywhere (default, see the module docstring) or trainable
        :class:`torch.nn.BatchNorm2d`.
    stride_in_1x1
        Stride on each first block's 1x1 convolution (Caffe ResNet weights) instead of its 3x3
        convolution (torchvision weights).

    Attributes
    ----------
    out_channels : int
        ``4 * 512 * width`` (2048 for ResNet-101).
    output_stride : int
        As given.

    Examples
    --------
    >>> net = resnet_tiny(output_stride=8)
    >>> net(torch.zeros(1, 3, 64, 64)).shape, net.output_stride
    (torch.Size([1, 256, 8, 8]), 8)
    >>> net.layer4[0].conv2.dilation
    (4, 4)
    """

    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(
        self,
        layers: Sequence[int],
        *,
        width: float = 1.0,
        output_stride: int = 8,
        frozen_bn: bool = True,
        stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
            raise TypeError(f"layers: expected four block counts, got {type(layers).__name__}")
        layers = tuple(layers)
        if len(layers) != 4:
            raise ValueError(f"layers: expected four positive block counts, got {layers}")
        layers = tuple(check_int("layers", n, minimum=1, maximum=1024) for n in layers)
        check_choice("output_stride", output_stride, sorted(_STAGE_DILATIONS))
        frozen_bn = check_bool("frozen_bn", frozen_bn)
        stride_in_1x1 = check_bool("stride_in_1x1", stride_in_1x1)
        self.layers = layers
        self.width = check_real("width", width, minimum=0.0, exclusive_minimum=True)
        self.in_channels = 3
        self.min_input_size = 1
        self.frozen_bn = frozen_bn
        self.output_stride = output_stride
        stem = scale_channels(64, width)
        self.conv1 = nn.Conv2d(3, stem, 7, stride=2, padding=3, bias=False)
        self.bn1 = _norm(stem, frozen_bn)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        in_channels = stem
        for stage, (blocks, base, dilation) in enumerate(
            zip(layers, (64, 128, 256, 512), _STAGE_DILATIONS[output_stride]), start=1
        ):
            planes = scale_channels(base, width)
            stride = 2 if stage > 1 and dilation == 1 else 1
            stage_blocks = []
            for index in range(blocks):
                stage_blocks.append(
                    Bottleneck(
                        in_channels,
                        planes,
                        stride=stride if index == 0 else 1,
                        dilation=dilation,
                        frozen_bn=frozen_bn,
                        stride_in_1x1=stride_in_1x1,
                    )
                )
                in_channels = planes * Bottleneck.expansion
            self.add_module(f"layer{stage}", nn.Sequential(*stage_blocks))
        self.out_channels = in_channels
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def extra_repr(self) -> str:
        return (
            f"layers={self.layers}, width={self.width}, output_stride={self.output_stride}, "
            f"frozen_bn={self.frozen_bn}"
        )

    def forward(self, x: Tensor) -> Tensor:
        """Features ``(N, K, h, w)`` of images ``(N, 3, H, W)``, ``h = ceil(H / output_stride)``."""
        check_images("x", x, self, channels=self.in_channels)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        return self.layer4(x)


def resnet101(*, output_stride: int = 8, frozen_bn: bool = True, **kwargs) -> ResNet:
    """ResNet-101 (blocks 3, 4, 23, 3), by default the DeepLab-LargeFOV body (stride 8).

    Examples
    --------
    >>> resnet101().out_channels
    2048
    """
    return ResNet(RESNET101_LAYERS, output_stride=output_stride, frozen_bn=frozen_bn, **kwargs)


def resnet_tiny(*, output_stride: int = 8, frozen_bn: bool = True, **kwargs) -> ResNet:
    """A one-block-per-stage, 1/8-width ResNet for tests and CPU demos (256 output channels).

    Examples
    --------
    >>> resnet_tiny(output_stride=16)(torch.zeros(1, 3, 32, 32)).shape
    torch.Size([1, 256, 2, 2])
    """
    kwargs.setdefault("width", RESNET_TINY_WIDTH)
    return ResNet(RESNET_TINY_LAYERS, output_stride=output_stride, frozen_bn=frozen_bn, **kwargs)
