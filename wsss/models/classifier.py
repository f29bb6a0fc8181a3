"""The plain CAM baseline: a backbone plus exactly the layers of SeeNet's branch S_A.

Class activation maps (Zhou et al. 2016) of this classifier are its class maps ``Z`` (the 1x1
classifier applied at every position); the image logits are their global average ``GAP(Z)``.
Training it with the multi-label soft-margin loss gives the CAM numbers SeeNet is compared with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from torch import Tensor, nn

from .._validation import (
    MAX_CHANNELS,
    backbone_input,
    check_dropout,
    check_images,
    check_init_std,
    check_int,
)
from ..layers import init_head_

__all__ = ["CAMClassifier", "ClassifierOutput"]


@dataclass(frozen=True)
class ClassifierOutput:
    """What :class:`CAMClassifier` computes for a batch.

    Attributes
    ----------
    logits
        Image-level logits ``(N, C)``, the spatial mean of ``maps``.
    maps
        Raw class maps ``(N, C, h, w)`` at feature resolution (no ReLU, no normalisation).

    Both have the model's dtype.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> backbone = nn.Conv2d(3, 4, 4, stride=4)  # any module with an out_channels attribute
    >>> out = CAMClassifier(backbone, num_classes=2, hidden_channels=4)(torch.rand(1, 3, 8, 12))
    >>> out.logits.shape, out.maps.shape
    (torch.Size([1, 2]), torch.Size([1, 2, 2, 3]))
    >>> torch.allclose(out.logits, out.maps.mean(dim=(2, 3)))
    True
    """

    logits: Tensor
    maps: Tensor


class CAMClassifier(nn.Module):
    """Backbone + ``conv3x3 ReLU conv3x3 ReLU Dropout conv1x1`` (SeeNet's S_A), logits ``GAP(Z)``.

    ``head`` is an :class:`torch.nn.Sequential` laid out like ``branch_a`` of
    :class:`~wsss.SelfErasingHead` (indices 0, 2 and 5 are the convolutions), so the two
    exchange weights by ``load_state_dict`` (the head drops its dropout layer when
    ``dropout=0``; this one keeps it as an identity, so its indices never move). The head's
    layers are new: Gaussian weights with std 0.01 and zero bias.

    Parameters
    ----------
    backbone
        Any module mapping images to features, with an ``out_channels`` attribute.
    num_classes
        Foreground classes ``C``.
    hidden_channels
        Width of the two 3x3 convolutions.
    dropout
        Dropout probability before the classifier (0 keeps the layer as an identity).
    init_std
        Gaussian std of the head's init (0.01, as S_A); ``None``: Kaiming for the 3x3
        convolutions (see :func:`wsss.layers.init_head_`).

    Examples
    --------
    >>> import torch
    >>> from wsss.models import VGG16
    >>> _ = torch.manual_seed(0)
    >>> model = CAMClassifier(VGG16(width=0.125), num_classes=3, hidden_channels=8)
    >>> out = model(torch.rand(2, 3, 32, 32))
    >>> out.logits.shape, out.maps.shape
    (torch.Size([2, 3]), torch.Size([2, 3, 2, 2]))
    >>> sorted(model.class_maps(torch.rand(1, 3, 32, 32)))
    ['cam']
    """

    def __init__(
        self,
        backbone: nn.Module,
        num_classes: int,
        hidden_channels: int = 512,
        dropout: float = 0.5,
        init_std: float | None = 0.01,
    ) -> None:
        super().__init__()
        for arg, value in (("num_classes", num_classes), ("hidden_channels", hidden_channels)):
            check_int(arg, value, minimum=1, maximum=MAX_CHANNELS)
        dropout = check_dropout(dropout)
        init_std = check_init_std(init_std)
        if not isinstance(backbone, nn.Module):
            raise TypeError(f"backbone: expected an nn.Module, got {type(backbone).__name__}")
        in_channels = getattr(backbone, "out_channels", None)
        if not isinstance(in_channels, int):
            raise TypeError("backbone: expected a module with an int attribute 'out_channels'")
        self.num_classes = num_classes
        self.backbone = backbone
        self.head = nn.Sequential(
            nn.Conv2d(in_channels, hidden_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden_channels, hidden_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Conv2d(hidden_channels, num_classes, 1),
        )
        init_head_(self.head, init_std)

    @property
    def classifier(self) -> nn.Conv2d:
        """The final 1x1 convolution (its weights are CAM's class weights)."""
        return cast(nn.Conv2d, self.head[-1])

    def forward(self, images: Tensor) -> ClassifierOutput:
        """Logits ``(N, C)`` and class maps ``(N, C, h, w)`` of images ``(N, 3, H, W)``."""
        channels, min_size = backbone_input(self.backbone)
        check_images("images", images, self, channels=channels, min_size=min_size)
        maps = self.head(self.backbone(images))
        return ClassifierOutput(logits=maps.mean(dim=(2, 3)), maps=maps)

    def class_maps(self, images: Tensor, labels: Tensor | None = None) -> dict[str, Tensor]:
        """Raw class maps ``{"cam": (N, C, h, w)}``; ``labels`` is accepted and ignored."""
        return {"cam": self(images).maps}

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by role: ``backbone``, ``new`` (the 3x3 convs), ``classifier`` (the 1x1)."""
        classifier = list(self.classifier.parameters())
        chosen = {id(p) for p in classifier}
        return {
            "backbone": list(self.backbone.parameters()),
            "new": [p for p in self.head.parameters() if id(p) not in chosen],
            "classifier": classifier,
        }
