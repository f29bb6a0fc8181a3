"""SeeNet's training loss (:ref:`How SeeNet works, section 4 <seenet-loss>`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor, nn

from ._validation import check_float_tensor, check_labels
from .layers import SeeNetOutput

__all__ = ["SeeNetLoss", "SeeNetLossTerms", "seenet_loss"]


@dataclass(frozen=True)
class SeeNetLossTerms:
    """The total loss and its three terms (0-D tensors; ``total`` is the one to backpropagate).

    Attributes
    ----------
    total
        ``a + b + c``.
    a, b
        Multi-label soft-margin loss of S_A and S_B against the image labels.
    c
        Multi-label soft-margin loss of S_C against all zeros (the background holds no class);
        a zero (0-D, no gradient) when the head has no S_C (``output.logits_c is None``).

    Examples
    --------
    >>> import torch
    >>> z, maps = torch.zeros(1, 2), torch.zeros(1, 2, 1, 1)
    >>> terms = seenet_loss(SeeNetOutput(z, z, z, maps, maps, torch.zeros(1, 1, 1)),
    ...                     torch.tensor([[1.0, 0.0]]))
    >>> [round(t.item(), 4) for t in (terms.a, terms.b, terms.c)]  # zero logits: log 2 each
    [0.6931, 0.6931, 0.6931]
    >>> terms.total.shape, round(terms.total.item(), 4)
    (torch.Size([]), 2.0794)
    """

    total: Tensor
    a: Tensor
    b: Tensor
    c: Tensor


def _soft_margin(logits: Tensor, target: Tensor) -> Tensor:
    # Sigmoid cross-entropy averaged over classes, then over the batch (multi-label soft margin),
    # in the logits' own dtype (the three branches may differ, e.g. half and float).
    target = target.to(dtype=logits.dtype, device=logits.device)
    return F.binary_cross_entropy_with_logits(logits, target)


def seenet_loss(output: SeeNetOutput, labels: Tensor) -> SeeNetLossTerms:
    """``L = BCE(s_A, y) + BCE(s_B, y) + BCE(s_C, 0)``.

    Without a background branch (``output.logits_c is None``, the ablation
    ``SelfErasingHead(..., background_branch=False)``) the term ``c`` is absent:
    ``L = BCE(s_A, y) + BCE(s_B, y)``, and ``c`` is reported as 0.

    Each term is the sigmoid cross-entropy averaged over classes and samples, i.e.
    :func:`torch.nn.functional.multilabel_soft_margin_loss`:

    .. math:: \\ell(s, y) = -\\frac{1}{NC}\\sum_{n,c} y_{nc}\\log\\sigma(s_{nc})
              + (1 - y_{nc})\\log(1 - \\sigma(s_{nc}))

    Parameters
    ----------
    output
        The head's :class:`~wsss.SeeNetOutput`.
    labels
        Multi-hot image labels of shape ``(N, C)``.

    Returns
    -------
    SeeNetLossTerms

    Examples
    --------
    >>> import torch
    >>> z = torch.zeros(1, 2)
    >>> maps = torch.zeros(1, 2, 1, 1)
    >>> out = SeeNetOutput(z, z, z, maps, maps, torch.zeros(1, 1, 1))
    >>> terms = seenet_loss(out, torch.tensor([[1.0, 0.0]]))
    >>> round(terms.total.item(), 4), round(terms.c.item(), 4)  # 3 * log 2, log 2
    (2.0794, 0.6931)
    >>> no_c = seenet_loss(SeeNetOutput(z, z, None, maps, maps, torch.zeros(1, 1, 1)),
    ...                    torch.tensor([[1.0, 0.0]]))
    >>> round(no_c.total.item(), 4), no_c.c.item()  # 2 * log 2; no S_C term
    (1.3863, 0.0)
    """
    if not isinstance(output, SeeNetOutput):
        raise TypeError(f"output: expected a SeeNetOutput, got {type(output).__name__}")
    logits = check_float_tensor("output.logits_a", output.logits_a, 2)
    if logits.numel() == 0:  # a mean over nothing is NaN
        raise ValueError(
            f"output.logits_a: expected at least one sample and one class, got shape "
            f"{tuple(logits.shape)}"
        )
    for name in ("logits_b", "logits_c"):
        if name == "logits_c" and output.logits_c is None:
            continue
        other = check_float_tensor(f"output.{name}", getattr(output, name), 2)
        if other.shape != logits.shape:
            raise ValueError(
                f"output.{name}: shape {tuple(other.shape)} differs from output.logits_a's "
                f"{tuple(logits.shape)}"
            )
    present = check_labels("labels", labels, logits.shape[0], logits.shape[1], allow_empty=True)
    target = present.to(dtype=logits.dtype, device=logits.device)
    a = _soft_margin(output.logits_a, target)
    b = _soft_margin(output.logits_b, target)
    if output.logits_c is None:
        c = logits.new_zeros(())
    else:
        c = _soft_margin(output.logits_c, target.new_zeros(()).expand_as(target))
    return SeeNetLossTerms(total=a + b + c, a=a, b=b, c=c)


class SeeNetLoss(nn.Module):
    """Module form of :func:`seenet_loss`.

    Examples
    --------
    >>> import torch
    >>> from wsss import SelfErasingHead
    >>> _ = torch.manual_seed(0)
    >>> head = SelfErasingHead(4, 3, hidden_channels=4)
    >>> y = torch.tensor([[1.0, 0.0, 1.0]])
    >>> SeeNetLoss()(head(torch.rand(1, 4, 3, 3), y), y).total.backward()
    """

    def __init__(self) -> None:
        super().__init__()

    def forward(self, output: SeeNetOutput, labels: Tensor) -> SeeNetLossTerms:
        """``seenet_loss(output, labels)``: the head's output and image labels ``(N, C)``."""
        return seenet_loss(output, labels)
