"""ACoL: adversarial complementary learning (Zhang et al., CVPR 2018), a baseline for SeeNet.

Two classifier heads with weights of their own share one backbone. Head A sees the backbone
features ``F``; its class maps give an attention zone, which is zeroed in ``F`` at every channel
before head B sees it, so that B must find the object's other parts:

.. math::

    M = \\max_{c:\\,y_c = 1} \\frac{P_c - \\min P_c}{\\max P_c - \\min P_c + \\epsilon},
    \\quad P_c = \\max(Z_{A,c}, 0), \\qquad
    F_B = F \\cdot \\mathbb{1}[M < \\delta]

(``M`` is :func:`wsss.attention_map` of head A's maps, built without gradient; ``delta`` is
``threshold``, 0.6 by default). Both heads train with the multi-label soft margin against the
image labels (:func:`acol_loss`), and the attention is the maximum of both heads' normalised
maps, which :class:`wsss.CAMExtractor` computes from :meth:`ACoL.class_maps` as it does for
SeeNet.

Head A has the layers of SeeNet's S_A (``conv3x3 ReLU conv3x3 ReLU Dropout conv1x1``) and head
B those of S_B (no dropout), under the same names (``branch_a``, ``branch_b``): the comparison
with SeeNet then changes the erasing only. ACoL is SeeNet's head without S_C and without the
background reversal, with ``delta_h = threshold``, up to the tie ``M == threshold`` (ACoL erases
it, SeeNet's ternary mask does not) and the ReLU SeeNet's conditional ReLU applies to ``F``
(the identity for the usual backbones, whose features come out of a ReLU).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import (
    MAX_CHANNELS,
    backbone_input,
    check_float_tensor,
    check_images,
    check_int,
    check_labels,
)
from ..layers import SelfErasingHead, _branch, init_head_
from ..masks import attention_map

__all__ = ["ACoL", "ACoLHead", "ACoLLossTerms", "ACoLOutput", "acol_loss"]


@dataclass(frozen=True)
class ACoLOutput:
    """What :class:`ACoLHead` (and :class:`ACoL`) computes for a batch.

    Attributes
    ----------
    logits_a, logits_b
        Image-level logits of heads A and B, ``(N, C)``: the spatial mean of their maps.
    maps_a, maps_b
        Raw class maps of heads A and B, ``(N, C, h, w)`` (no ReLU, no normalisation).
    zone
        Head A's attention zone, ``(N, h, w)`` bool: ``True`` where head B's features were
        zeroed (``M >= threshold``).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> out = ACoLHead(4, num_classes=2, hidden_channels=4)(torch.rand(1, 4, 3, 3),
    ...                                                     torch.tensor([[1, 0]]))
    >>> out.logits_b.shape, out.maps_a.shape, out.zone.dtype
    (torch.Size([1, 2]), torch.Size([1, 2, 3, 3]), torch.bool)
    """

    logits_a: Tensor
    logits_b: Tensor
    maps_a: Tensor
    maps_b: Tensor
    zone: Tensor


class ACoLHead(nn.Module):
    """ACoL's two heads on backbone features ``F`` ``(N, K, h, w)`` (see the module docstring).

    Parameters
    ----------
    in_channels
        Channels ``K`` of the features.
    num_classes
        Foreground classes ``C``.
    hidden_channels
        Width of the two 3x3 convolutions of each head.
    threshold
        ``delta``: head A's attention zone is ``M >= threshold``, in (0, 1]; 0.6 by default.
    dropout
        Dropout probability in head A (0 disables it).
    init_std
        Gaussian std of the init of the new layers (0.01); ``None`` for Kaiming init of the 3x3
        convolutions (see :func:`wsss.layers.init_head_`).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> head = ACoLHead(8, num_classes=3, hidden_channels=4)
    >>> f = torch.rand(2, 8, 5, 5)
    >>> out = head(f, torch.tensor([[1, 0, 0], [0, 1, 1]]))
    >>> out.logits_a.shape, out.maps_b.shape, out.zone.shape
    (torch.Size([2, 3]), torch.Size([2, 3, 5, 5]), torch.Size([2, 5, 5]))
    >>> head.branch_a is head.branch_b
    False
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        hidden_channels: int = 512,
        threshold: float = 0.6,
        dropout: float = 0.5,
        init_std: float | None = 0.01,
    ) -> None:
        super().__init__()
        for arg, value in (
            ("in_channels", in_channels),
            ("num_classes", num_classes),
            ("hidden_channels", hidden_channels),
        ):
            check_int(arg, value, minimum=1, maximum=MAX_CHANNELS)
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise TypeError(f"threshold: expected a float, got {type(threshold).__name__}")
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold: expected a value in (0, 1], got {threshold}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)):
            raise TypeError(f"dropout: expected a float, got {type(dropout).__name__}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout}")
        self.num_classes = num_classes
        self.threshold = float(threshold)
        self.branch_a = _branch(in_channels, hidden_channels, num_classes, float(dropout))
        self.branch_b = _branch(in_channels, hidden_channels, num_classes, 0.0)
        init_head_(self, init_std)

    def extra_repr(self) -> str:
        return f"num_classes={self.num_classes}, threshold={self.threshold}"

    def _check_features(self, features: Tensor) -> None:
        check_float_tensor("features", features, 4)
        first = self.branch_a[0]
        if features.shape[1] != first.in_channels or 0 in features.shape[2:]:
            raise ValueError(
                f"features: expected shape (N, {first.in_channels}, h, w) with h, w >= 1, got "
                f"{tuple(features.shape)}"
            )
        if features.dtype != first.weight.dtype and not torch.is_autocast_enabled(
            features.device.type
        ):
            raise TypeError(
                f"features: dtype {features.dtype} differs from the head's weights "
                f"({first.weight.dtype}); convert the features or the head"
            )

    def _zone(self, maps_a: Tensor, labels: Tensor | None) -> Tensor:
        """``M >= threshold`` from head A's detached maps and the labels (or its predictions)."""
        if labels is None:
            present = SelfErasingHead.predicted_classes(maps_a.detach().mean(dim=(2, 3)))
        else:
            present = check_labels("labels", labels, maps_a.shape[0], self.num_classes)
        return attention_map(maps_a.detach(), present.to(maps_a.device)) >= self.threshold

    def forward(self, features: Tensor, labels: Tensor | None = None) -> ACoLOutput:
        """Run head A, zero its attention zone in ``features``, run head B.

        Parameters
        ----------
        features
            Backbone features ``F`` ``(N, K, h, w)``.
        labels
            Multi-hot classes ``(N, C)`` the zone is built from: the ground truth in training,
            the classes asked for at inference; ``None`` uses head A's predicted classes
            (``sigmoid > 0.5`` plus the top one).
        """
        self._check_features(features)
        maps_a = self.branch_a(features)
        zone = self._zone(maps_a, labels)
        maps_b = self.branch_b(features * (~zone).unsqueeze(1).to(features.dtype))
        return ACoLOutput(
            logits_a=maps_a.mean(dim=(2, 3)),
            logits_b=maps_b.mean(dim=(2, 3)),
            maps_a=maps_a,
            maps_b=maps_b,
            zone=zone,
        )


class ACoL(nn.Module):
    """Backbone + :class:`ACoLHead`: images and labels to an :class:`ACoLOutput`.

    Parameters
    ----------
    backbone
        Any module mapping images ``(N, 3, H, W)`` to features ``(N, K, h, w)``, with an int
        ``out_channels`` attribute.
    num_classes
        Foreground classes ``C``.
    **head_kwargs
        Passed to :class:`ACoLHead` (``hidden_channels``, ``threshold``, ``dropout``,
        ``init_std``).

    Examples
    --------
    >>> from wsss.models import VGG16
    >>> _ = torch.manual_seed(0)
    >>> model = ACoL(VGG16(width=0.125), num_classes=3, hidden_channels=8)
    >>> out = model(torch.rand(2, 3, 32, 32), torch.tensor([[1, 0, 0], [0, 1, 1]]))
    >>> out.logits_b.shape, out.zone.shape
    (torch.Size([2, 3]), torch.Size([2, 2, 2]))
    >>> {k: tuple(v.shape) for k, v in model.class_maps(torch.rand(1, 3, 32, 32)).items()}
    {'a': (1, 3, 2, 2), 'b': (1, 3, 2, 2)}
    """

    def __init__(self, backbone: nn.Module, num_classes: int, **head_kwargs: Any) -> None:
        super().__init__()
        in_channels = getattr(backbone, "out_channels", None)
        if not isinstance(in_channels, int):
            raise TypeError("backbone: expected a module with an int attribute 'out_channels'")
        self.num_classes = num_classes
        self.backbone = backbone
        self.head = ACoLHead(in_channels, num_classes, **head_kwargs)

    def forward(self, images: Tensor, labels: Tensor | None = None) -> ACoLOutput:
        """Run the backbone and both heads on images ``(N, 3, H, W)`` (see :class:`ACoLHead`)."""
        channels, min_size = backbone_input(self.backbone)
        # the head refuses non-finite features (its zone needs finite maps): say so here
        check_images("images", images, self, channels=channels, min_size=min_size, finite=True)
        return self.head(self.backbone(images), labels)

    def class_maps(self, images: Tensor, labels: Tensor | None = None) -> dict[str, Tensor]:
        """Raw class maps of both heads, ``{"a": Z_A, "b": Z_B}``, each ``(N, C, h, w)``.

        ``labels`` choose the classes head A's zone is built from (``None``: its predictions).
        :class:`wsss.CAMExtractor` normalises each and fuses them by maximum: ACoL's attention.
        """
        out = self(images, labels)
        return {"a": out.maps_a, "b": out.maps_b}

    def classifiers(self) -> list[nn.Conv2d]:
        """The final 1x1 convolution of each head (their weights are the class weights)."""
        return [cast(nn.Conv2d, self.head.branch_a[-1]), cast(nn.Conv2d, self.head.branch_b[-1])]

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Parameters by role: ``backbone``, ``new`` (the heads' 3x3 convs), ``classifier``."""
        classifier = [p for conv in self.classifiers() for p in conv.parameters()]
        chosen = {id(p) for p in classifier}
        return {
            "backbone": list(self.backbone.parameters()),
            "new": [p for p in self.head.parameters() if id(p) not in chosen],
            "classifier": classifier,
        }


@dataclass(frozen=True)
class ACoLLossTerms:
    """The total loss and its two terms (0-D tensors; ``total`` is the one to backpropagate).

    Attributes
    ----------
    total
        ``a + b``.
    a, b
        Multi-label soft-margin loss of heads A and B against the image labels.

    Examples
    --------
    >>> z, maps = torch.zeros(1, 2), torch.zeros(1, 2, 1, 1)
    >>> terms = acol_loss(ACoLOutput(z, z, maps, maps, torch.zeros(1, 1, 1, dtype=torch.bool)),
    ...                   torch.tensor([[1.0, 0.0]]))
    >>> round(terms.total.item(), 4), round(terms.b.item(), 4)  # 2 log 2, log 2
    (1.3863, 0.6931)
    """

    total: Tensor
    a: Tensor
    b: Tensor


def acol_loss(output: ACoLOutput, labels: Tensor) -> ACoLLossTerms:
    """``L = BCE(s_A, y) + BCE(s_B, y)``, each averaged over classes and samples.

    The sigmoid cross-entropy of :func:`wsss.seenet_loss` (multi-label soft margin), on both
    heads: PASCAL VOC images hold several classes, so the softmax of ACoL's single-label
    benchmarks becomes one sigmoid per class.

    Parameters
    ----------
    output
        An :class:`ACoLOutput`.
    labels
        Multi-hot image labels ``(N, C)``.

    Returns
    -------
    ACoLLossTerms

    Examples
    --------
    >>> z, maps = torch.zeros(1, 2), torch.zeros(1, 2, 1, 1)
    >>> out = ACoLOutput(torch.tensor([[20.0, -20.0]]), z, maps, maps,
    ...                  torch.zeros(1, 1, 1, dtype=torch.bool))
    >>> terms = acol_loss(out, torch.tensor([[1, 0]]))
    >>> round(terms.a.item(), 6), round(terms.total.item(), 4)  # head A is right; B at log 2
    (0.0, 0.6931)
    """
    if not isinstance(output, ACoLOutput):
        raise TypeError(f"output: expected an ACoLOutput, got {type(output).__name__}")
    logits = check_float_tensor("output.logits_a", output.logits_a, 2)
    if logits.numel() == 0:
        raise ValueError(
            f"output.logits_a: expected at least one sample and one class, got shape "
            f"{tuple(logits.shape)}"
        )
    other = check_float_tensor("output.logits_b", output.logits_b, 2)
    if other.shape != logits.shape:
        raise ValueError(
            f"output.logits_b: shape {tuple(other.shape)} differs from output.logits_a's "
            f"{tuple(logits.shape)}"
        )
    present = check_labels("labels", labels, logits.shape[0], logits.shape[1], allow_empty=True)
    a = F.binary_cross_entropy_with_logits(logits, present.to(logits))
    b = F.binary_cross_entropy_with_logits(other, present.to(other))
    return ACoLLossTerms(total=a + b, a=a, b=b)
