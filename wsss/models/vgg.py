"""VGG16 feature extractors in the two layouts of the pipeline.

See :ref:`How SeeNet works, sections 3 <seenet-backbone>` and :ref:`7 <seenet-deeplab>`.

``"seenet"``
    conv1_1 ... conv5_3 with ReLU, a 2x2/2 max-pool after conv1_2, conv2_2, conv3_3 and conv4_3,
    no pool5: output stride 16, output ``relu(conv5_3)`` with 512 channels. This is the
    classification network of SeeNet and of the CAM baseline.
``"largefov"``
    The body of DeepLab-LargeFOV: 3x3 max-pools with padding 1, stride 2 for pool1-pool3 and
    stride 1 for pool4 and pool5, conv5_x with dilation 2, then a 3x3/1 average pool (padding 1)
    after pool5: output stride 8.

The convolutions are named submodules ``conv1_1`` ... ``conv5_3`` so that weight files map onto
them by name (:mod:`wsss.models.weights`). Pools use PyTorch's floor rounding; for the odd crop
sizes of the DeepLab recipe (321 px) this equals Caffe's ceil rounding.
"""

from __future__ import annotations

from typing import cast

import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import (
    MAX_CHANNELS,
    check_bool,
    check_choice,
    check_images,
    check_int,
    check_real,
)

__all__ = ["VGG16", "VGG16_CHANNELS", "VGG16_NARROW_WIDTH", "VGG_LAYOUTS", "scale_channels"]

#: Output channels of the convolutions of each of VGG16's five blocks.
VGG16_CHANNELS: tuple[tuple[int, ...], ...] = (
    (64, 64),
    (128, 128),
    (256, 256, 256),
    (512, 512, 512),
    (512, 512, 512),
)

#: Width of the narrow VGG16 (backbone ``"vgg16_narrow"``): 1/8 of every channel count, a
#: network small enough to train on a CPU for demos and tests.
VGG16_NARROW_WIDTH = 0.125

#: The layouts :class:`VGG16` can build.
VGG_LAYOUTS = ("seenet", "largefov")


def scale_channels(channels: int, width: float) -> int:
    """Return ``max(1, round(channels * width))``, the channel count of a width-scaled network.

    Examples
    --------
    >>> scale_channels(512, 0.125), scale_channels(3, 0.1)
    (64, 1)
    """
    channels = check_int("channels", channels, minimum=1, maximum=MAX_CHANNELS)
    width = check_real("width", width, minimum=0.0, exclusive_minimum=True)
    out = max(1, round(channels * width))
    if out > MAX_CHANNELS:
        raise ValueError(f"width: {width} makes {out} channels, more than {MAX_CHANNELS}")
    return out


class VGG16(nn.Module):
    """VGG16 convolutions ``conv1_1`` ... ``conv5_3`` as a feature extractor.

    Parameters
    ----------
    layout
        ``"seenet"`` (output stride 16) or ``"largefov"`` (output stride 8, DeepLab-LargeFOV);
        see the module docstring.
    width
        Scales every channel count (``max(1, round(c * width))``); ``1.0`` is the real VGG16,
        :data:`VGG16_NARROW_WIDTH` the narrow CPU variant.
    output_stride
        ``"seenet"`` layout only: 16 (the paper) or 8 (pool4 removed, conv5 dilated by 2, as
        in DeepLab), for small images whose objects would span only a few cells at stride 16
        (the embedded synthetic dataset).
    batch_norm
        Insert a batch norm ``bn<block>_<index>`` between every convolution and its ReLU. For
        networks trained from scratch (the CPU demos: a plain narrow VGG16 barely trains without
        ImageNet weights); the ImageNet / DeepLab weight files have no batch norm.
    num_blocks
        5 (the whole VGG16), 4: stop after ``conv4_3`` (no pool4, no conv5, no pool5), or 3:
        stop after ``pool3`` (no ``conv4``); output stride 8 in both layouts either way. The
        truncated networks see less: the receptive field is 92 px at 4 blocks (99 px in the
        ``"largefov"`` layout) and 44 px at 3 (51 px), against 196 px for the whole
        ``"seenet"`` layout and 243 px for ``"largefov"``, which keeps the class activation maps
        of small images local (backbones ``"vgg16_tiny"`` and ``"vgg16_tiny3"``, the synthetic
        recipe).

    Attributes
    ----------
    out_channels : int
        Channels ``K`` of the output features (512 at ``width=1``).
    in_channels : int
        3 (RGB).
    min_input_size : int
        The smallest input height and width: ``2 ** (number of 2x2 pools)`` for ``"seenet"``
        (a smaller image pools to nothing), 1 for ``"largefov"``; smaller inputs are refused.
    output_stride : int
        Input size / feature size: 16 for ``"seenet"``, 8 for ``"largefov"``, ``"seenet"`` with
        ``output_stride=8`` and ``num_blocks < 5``.

    Notes
    -----
    Input ``(N, 3, H, W)``, output ``(N, K, h, w)`` with ``h = floor(H / s)`` for ``"seenet"``
    at output stride ``s`` and ``h = ceil(H / 8)`` for ``"largefov"`` (likewise for ``w``).
    Convolutions are initialised with Kaiming-normal weights (fan-out, ReLU) and zero bias;
    load ImageNet weights with :func:`wsss.models.load_imagenet_vgg16` or
    :func:`wsss.models.load_deeplab_caffe_vgg16`.

    Examples
    --------
    >>> import torch
    >>> net = VGG16("seenet", width=VGG16_NARROW_WIDTH)
    >>> net(torch.zeros(1, 3, 64, 64)).shape, net.out_channels, net.output_stride
    (torch.Size([1, 64, 4, 4]), 64, 16)
    >>> VGG16("largefov", width=0.125)(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 64, 8, 8])
    >>> tiny = VGG16("seenet", width=0.125, num_blocks=4)
    >>> tiny(torch.zeros(1, 3, 64, 64)).shape, tiny.output_stride, hasattr(tiny, "conv5_1")
    (torch.Size([1, 64, 8, 8]), 8, False)
    >>> VGG16("seenet", width=0.125, num_blocks=3)(torch.zeros(1, 3, 64, 64)).shape
    torch.Size([1, 32, 8, 8])
    """

    def __init__(
        self,
        layout: str = "seenet",
        width: float = 1.0,
        batch_norm: bool = False,
        output_stride: int | None = None,
        num_blocks: int = 5,
    ) -> None:
        super().__init__()
        check_choice("layout", layout, VGG_LAYOUTS)
        width = check_real("width", width, minimum=0.0, exclusive_minimum=True)
        batch_norm = check_bool("batch_norm", batch_norm)
        integer = isinstance(num_blocks, int) and not isinstance(num_blocks, bool)
        if not integer or num_blocks not in (3, 4, 5):
            raise ValueError(f"num_blocks: expected 3, 4 or 5, got {num_blocks!r}")
        self.layout = layout
        self.num_blocks = int(num_blocks)
        largefov = layout == "largefov"
        truncated = num_blocks < 5
        if not isinstance(output_stride, (int, type(None))) or output_stride not in (
            (None, 8) if largefov or truncated else (None, 8, 16)
        ):
            raise ValueError(
                f"output_stride: expected 16 or 8 for 'seenet', 8 for 'largefov' or "
                f"num_blocks < 5, got {output_stride!r}"
            )
        stride8 = layout == "seenet" and (output_stride == 8 or truncated)
        self.width = width
        self.batch_norm = batch_norm
        self.in_channels = in_channels = 3
        pools = 0
        for block, block_channels in enumerate(VGG16_CHANNELS[:num_blocks], start=1):
            dilation = 2 if (largefov or stride8) and block == 5 else 1
            for index, channels in enumerate(block_channels, start=1):
                out_channels = scale_channels(channels, width)
                conv = nn.Conv2d(in_channels, out_channels, 3, padding=dilation, dilation=dilation)
                self.add_module(f"conv{block}_{index}", conv)
                if batch_norm:
                    self.add_module(f"bn{block}_{index}", nn.BatchNorm2d(out_channels))
                in_channels = out_channels
            if block == num_blocks == 4:
                break  # ends at conv4_3 (stride 8 already); at 3 blocks pool3 makes stride 8
            if largefov:
                stride = 2 if block <= 3 else 1
                self.add_module(f"pool{block}", nn.MaxPool2d(3, stride=stride, padding=1))
            elif block <= (3 if stride8 else 4):
                self.add_module(f"pool{block}", nn.MaxPool2d(2, stride=2))
                pools += 1
        if largefov and not truncated:
            self.add_module("pool5a", nn.AvgPool2d(3, stride=1, padding=1))
        self.out_channels = in_channels
        self.output_stride = 8 if largefov or stride8 else 16
        # 2x2/2 pools floor the size (a smaller input pools to nothing); 3x3/2 ones with padding
        # 1 never reach zero
        self.min_input_size = 2**pools
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(cast(Tensor, module.bias))

    def extra_repr(self) -> str:
        return (
            f"layout={self.layout!r}, width={self.width}, batch_norm={self.batch_norm}, "
            f"num_blocks={self.num_blocks}"
        )

    def forward(self, x: Tensor) -> Tensor:
        """Features ``(N, K, h, w)`` of images ``x`` ``(N, 3, H, W)``; ReLU after every conv."""
        check_images("x", x, self, channels=self.in_channels, min_size=self.min_input_size)
        if self.batch_norm and self.training:
            side = self.min_input_size
            cells = x.shape[0] * (x.shape[2] // side) * (x.shape[3] // side)
            if cells < 2:
                raise ValueError(
                    f"x: batch norm in training needs more than one value per channel; "
                    f"{tuple(x.shape)} leaves one after the pools (use a bigger batch or image, "
                    "or eval())"
                )
        activate_after = nn.BatchNorm2d if self.batch_norm else nn.Conv2d
        for module in self.children():
            x = module(x)
            if isinstance(module, activate_after):
                x = F.relu(x, inplace=True)
        return x
