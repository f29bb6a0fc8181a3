"""SeeNet loss: hand values and agreement with PyTorch's multi-label soft margin."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from wsss import SeeNetLoss, SeeNetOutput, SelfErasingHead, seenet_loss


def output(a, b, c) -> SeeNetOutput:
    maps = torch.zeros(a.shape[0], a.shape[1], 1, 1)
    return SeeNetOutput(a, b, c, maps, maps, torch.zeros(a.shape[0], 1, 1))


def test_golden_values():
    a = torch.tensor([[2.0, -1.0]])
    b = torch.tensor([[0.0, 0.0]])
    c = torch.tensor([[1.0, -3.0]])
    y = torch.tensor([[1.0, 0.0]])
    terms = seenet_loss(output(a, b, c), y)
    softplus = lambda v: math.log1p(math.exp(v))  # noqa: E731
    want_a = (softplus(-2.0) + softplus(-1.0)) / 2  # -log sig(2), -log(1 - sig(-1))
    want_b = math.log(2.0)
    want_c = (softplus(1.0) + softplus(-3.0)) / 2  # target all zeros
    assert terms.a.item() == pytest.approx(want_a, rel=1e-6)
    assert terms.b.item() == pytest.approx(want_b, rel=1e-6)
    assert terms.c.item() == pytest.approx(want_c, rel=1e-6)
    assert terms.total.item() == pytest.approx(want_a + want_b + want_c, rel=1e-6)


def test_agrees_with_multilabel_soft_margin_and_module():
    g = torch.Generator().manual_seed(0)
    a, b, c = (torch.randn(4, 5, generator=g, dtype=torch.float64) for _ in range(3))
    y = (torch.rand(4, 5, generator=g) > 0.5).double()
    terms = seenet_loss(output(a, b, c), y)
    torch.testing.assert_close(terms.a, F.multilabel_soft_margin_loss(a, y))
    torch.testing.assert_close(terms.b, F.multilabel_soft_margin_loss(b, y))
    torch.testing.assert_close(terms.c, F.multilabel_soft_margin_loss(c, torch.zeros_like(y)))
    module_terms = SeeNetLoss()(output(a, b, c), y)
    torch.testing.assert_close(module_terms.total, terms.total)


def test_backward_reaches_all_branches():
    torch.manual_seed(0)
    head = SelfErasingHead(4, 3, hidden_channels=4)
    y = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    seenet_loss(head(torch.rand(2, 4, 5, 5), y), y).total.backward()
    assert all(p.grad is not None for p in head.parameters())


def test_bad_input():
    a = torch.zeros(2, 3)
    with pytest.raises(TypeError, match="output"):
        seenet_loss((a, a, a), torch.ones(2, 3))
    with pytest.raises(ValueError, match="labels"):
        seenet_loss(output(a, a, a), torch.ones(2, 4))
    with pytest.raises(ValueError, match="labels"):
        seenet_loss(output(a, a, a), torch.full((2, 3), 0.3))
