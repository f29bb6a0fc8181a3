"""Step functions: one batch in, the loss to backpropagate and the values to log out.

Each takes the (possibly DDP-wrapped) model and a batch from
:class:`~wsss.data.loader.AugmentedDataset` (``image``, ``classes`` and, for segmentation,
``label``), and is what :func:`~wsss.engine.trainer.train` calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..fusion import IGNORE_INDEX
from ..losses import seenet_loss
from ..models.acol import acol_loss

__all__ = ["acol_step", "classifier_step", "seenet_step", "segmentation_step"]


def seenet_step(model: nn.Module, batch: Mapping[str, Any]) -> tuple[Tensor, dict[str, float]]:
    """SeeNet: ``L = BCE(s_A, y) + BCE(s_B, y) + BCE(s_C, 0)``; logs each term.

    Examples
    --------
    >>> import torch
    >>> from wsss.models import create_model
    >>> _ = torch.manual_seed(0)
    >>> net = create_model("seenet", backbone="vgg16_narrow", num_classes=3)
    >>> y = torch.tensor([[1.0, 0, 0], [0, 1, 1]])
    >>> batch = {"image": torch.rand(2, 3, 32, 32), "classes": y}
    >>> loss, logs = seenet_step(net, batch)
    >>> sorted(logs), round(loss.item(), 2)  # three sigmoid cross-entropies at ~log 2
    (['loss_a', 'loss_b', 'loss_c'], 2.08)
    """
    labels = batch["classes"]
    terms = seenet_loss(model(batch["image"], labels), labels)
    logs = {"loss_a": terms.a.detach(), "loss_b": terms.b.detach(), "loss_c": terms.c.detach()}
    return terms.total, {k: float(v) for k, v in logs.items()}


def acol_step(model: nn.Module, batch: Mapping[str, Any]) -> tuple[Tensor, dict[str, float]]:
    """ACoL: ``L = BCE(s_A, y) + BCE(s_B, y)`` (:func:`~wsss.models.acol_loss`); logs each term.

    Examples
    --------
    >>> import torch
    >>> from wsss.models import create_model
    >>> _ = torch.manual_seed(0)
    >>> net = create_model("acol", backbone="vgg16_narrow", num_classes=3)
    >>> y = torch.tensor([[1.0, 0, 0], [0, 1, 1]])
    >>> loss, logs = acol_step(net, {"image": torch.rand(2, 3, 32, 32), "classes": y})
    >>> sorted(logs), round(loss.item(), 2)  # two sigmoid cross-entropies at ~log 2
    (['loss_a', 'loss_b'], 1.39)
    """
    labels = batch["classes"]
    terms = acol_loss(model(batch["image"], labels), labels)
    logs = {"loss_a": terms.a.detach(), "loss_b": terms.b.detach()}
    return terms.total, {k: float(v) for k, v in logs.items()}


def classifier_step(
    model: nn.Module, batch: Mapping[str, Any]
) -> tuple[Tensor, dict[str, float]]:
    """Plain CAM classifier: multi-label soft margin of the image logits.

    Examples
    --------
    >>> import torch
    >>> from wsss.models import create_model
    >>> net = create_model("cam_classifier", backbone="vgg16_narrow", num_classes=3)
    >>> loss, _ = classifier_step(net, {"image": torch.rand(1, 3, 32, 32),
    ...                                 "classes": torch.tensor([[0., 1, 0]])})
    >>> loss.shape
    torch.Size([])
    """
    out = model(batch["image"])
    return F.binary_cross_entropy_with_logits(out.logits, batch["classes"].to(out.logits)), {}


def segmentation_step(
    model: nn.Module, batch: Mapping[str, Any], *, class_weights: Tensor | None = None
) -> tuple[Tensor, dict[str, float]]:
    """Segmentation: pixel cross-entropy with 255 ignored; logs the labelled-pixel fraction.

    With ``class_weights`` ``w`` (``(K,)``, see :func:`~wsss.balance.class_balance_weights`)
    the loss is the weighted mean ``sum_i w[y_i] CE_i / sum_i w[y_i]`` over the labelled pixels
    ``i`` (PyTorch's weighted cross-entropy); bind it with :func:`functools.partial`.

    Examples
    --------
    >>> import torch
    >>> from wsss.models import create_model
    >>> net = create_model("deeplab_largefov", backbone="vgg16_narrow", num_classes=21)
    >>> label = torch.full((1, 32, 32), 255, dtype=torch.long)
    >>> label[:, :8] = 3
    >>> loss, logs = segmentation_step(net, {"image": torch.rand(1, 3, 32, 32), "label": label})
    >>> logs["labelled"]
    0.25
    >>> x, _ = torch.rand(1, 3, 32, 32), net.eval()
    >>> plain = segmentation_step(net, {"image": x, "label": label})[0]
    >>> twos = torch.full((21,), 2.0)  # a constant weight cancels in the weighted mean
    >>> bool(torch.isclose(segmentation_step(net, {"image": x, "label": label},
    ...                                      class_weights=twos)[0], plain))
    True
    """
    label = batch["label"]
    logits = model(batch["image"])
    valid = label != IGNORE_INDEX
    if not bool(valid.any()):  # an all-ignored batch: a zero loss that keeps the graph
        return logits.sum() * 0.0, {"labelled": 0.0}
    weight = None if class_weights is None else class_weights.to(logits.device, torch.float32)
    loss = F.cross_entropy(logits.float(), label, weight=weight, ignore_index=IGNORE_INDEX)
    return loss, {"labelled": float(valid.float().mean())}
