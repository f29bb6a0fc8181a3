"""DeepLab-LargeFOV, the segmentation network trained on the proxy labels.

See :ref:`How SeeNet works, section 7 <seenet-deeplab>`.
"""

from __future__ import annotations

from typing import cast

import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import (
    MAX_CHANNELS,
    backbone_input,
    check_choice,
    check_dropout,
    check_images,
    check_int,
)

__all__ = ["DeepLabLargeFOV"]

_HEAD_ROLES = ("backbone", "new")


class DeepLabLargeFOV(nn.Module):
    """A stride-8 backbone + the LargeFOV head; logits upsampled to the input size.

    ``fc6`` 3x3 conv with dilation 12 to ``head_channels`` (1024), ReLU, Dropout(0.5), ``fc7``
    1x1 to ``head_channels``, ReLU, Dropout(0.5), ``fc8`` 1x1 to ``num_classes``; the logits
    ``(N, num_classes, h, w)`` are upsampled bilinearly (``align_corners=False``) to ``(H, W)``.

    Initialisation: ``fc8`` Gaussian with std 0.01 and zero bias (DeepLab v1); ``fc6`` and
    ``fc7`` Kaiming-normal (fan-in, ReLU) with zero bias until weights are loaded, usually from
    the Caffe-converted DeepLab init file (:func:`wsss.models.load_deeplab_caffe_vgg16`), which
    carries them.

    Parameters
    ----------
    backbone
        Module mapping images to features, with ``out_channels`` (e.g.
        ``VGG16("largefov")`` or ``resnet101(output_stride=8)``).
    num_classes
        Classes including background (21 on PASCAL VOC).
    head_channels
        Width of ``fc6`` and ``fc7`` (1024; scale it with a narrow backbone).
    dilation
        Dilation of ``fc6`` (12 gives the "large field of view").
    dropout
        Dropout probability after ``fc6`` and ``fc7``.
    head_role
        The role of ``fc6``/``fc7`` in :meth:`parameter_groups`: ``"backbone"`` (learning rate
        x1, as in DeepLab v1's prototxt where they come pretrained with VGG16) or ``"new"`` (x10,
        for a backbone such as ResNet-101 whose init file has no ``fc6``/``fc7``).

    Examples
    --------
    >>> import torch
    >>> from wsss.models import VGG16
    >>> model = DeepLabLargeFOV(VGG16("largefov", width=0.125), num_classes=21, head_channels=16)
    >>> model(torch.zeros(1, 3, 50, 42)).shape
    torch.Size([1, 21, 50, 42])
    """

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int = 21,
        *,
        head_channels: int = 1024,
        dilation: int = 12,
        dropout: float = 0.5,
        head_role: str = "backbone",
    ) -> None:
        super().__init__()
        for arg, value in (
            ("num_classes", num_classes),
            ("head_channels", head_channels),
            ("dilation", dilation),
        ):
            check_int(arg, value, minimum=1, maximum=MAX_CHANNELS)
        dropout = check_dropout(dropout)
        check_choice("head_role", head_role, _HEAD_ROLES)
        if not isinstance(backbone, nn.Module):
            raise TypeError(f"backbone: expected an nn.Module, got {type(backbone).__name__}")
        in_channels = getattr(backbone, "out_channels", None)
        if not isinstance(in_channels, int):
            raise TypeError("backbone: expected a module with an int attribute 'out_channels'")
        self.num_classes = num_classes
        self.head_role = head_role
        self.backbone = backbone
        self.fc6 = nn.Conv2d(in_channels, head_channels, 3, padding=dilation, dilation=dilation)
        self.relu6 = nn.ReLU(inplace=True)
        self.drop6 = nn.Dropout(dropout)
        self.fc7 = nn.Conv2d(head_channels, head_channels, 1)
        self.relu7 = nn.ReLU(inplace=True)
        self.drop7 = nn.Dropout(dropout)
        self.fc8 = nn.Conv2d(head_channels, num_classes, 1)
        for conv in (self.fc6, self.fc7):
            nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            nn.init.zeros_(cast(Tensor, conv.bias))
        nn.init.normal_(self.fc8.weight, std=0.01)
        nn.init.zeros_(cast(Tensor, self.fc8.bias))

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, head_role={self.head_role!r}"

    def logits(self, images: Tensor) -> Tensor:
        """Logits at feature resolution, ``(N, num_classes, h, w)``."""
        channels, min_size = backbone_input(self.backbone)
        check_images("images", images, self, channels=channels, min_size=min_size)
        x = self.backbone(images)
        x = self.drop6(self.relu6(self.fc6(x)))
        x = self.drop7(self.relu7(self.fc7(x)))
        return self.fc8(x)

    def forward(self, images: Tensor) -> Tensor:
        """Logits ``(N, num_classes, H, W)`` of images ``(N, 3, H, W)``."""
        logits = self.logits(images)
        return F.interpolate(logits, size=images.shape[-2:], mode="bilinear", align_corners=False)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by role: ``fc8`` is ``classifier``, ``fc6``/``fc7`` follow ``head_role``."""
        head = [*self.fc6.parameters(), *self.fc7.parameters()]
        groups: dict[str, list[nn.Parameter]] = {
            "backbone": list(self.backbone.parameters()),
            "new": [],
            "classifier": list(self.fc8.parameters()),
        }
        groups[self.head_role].extend(head)
        return groups
