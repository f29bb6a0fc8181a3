"""Conditional ReLU and the self-erasing head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from wsss import ConditionalReLU, SelfErasingHead, conditional_relu, ternary_mask


def test_conditional_relu_golden():
    x = torch.tensor([[[[1.0, -2.0], [3.0, 4.0]], [[-1.0, 2.0], [0.5, -4.0]]]])
    b = torch.tensor([[[0.0, 1.0], [-1.0, 1.0]]])
    want = torch.tensor([[[[0.0, 0.0], [-3.0, 4.0]], [[0.0, 2.0], [-0.5, 0.0]]]])
    assert torch.equal(conditional_relu(x, b), want)
    assert torch.equal(ConditionalReLU()(x, b), want)
    assert torch.equal(conditional_relu(x, b[:, None]), want)


def test_conditional_relu_gradcheck_float64():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64, generator=g)
    x = torch.where(x.abs() < 0.05, x.sign() * 0.05 + x, x).requires_grad_(True)
    mask = torch.randint(-1, 2, (2, 4, 5), generator=g).double()
    assert torch.autograd.gradcheck(lambda t: conditional_relu(t, mask), (x,))


def test_gradient_is_mask_times_step_at_every_channel():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 6, 3, 3, generator=g, requires_grad=True)
    mask = torch.randint(-1, 2, (2, 3, 3), generator=g).float().requires_grad_(True)
    upstream = torch.randn(2, 6, 3, 3, generator=g)
    conditional_relu(x, mask).backward(upstream)
    want = upstream * mask.detach()[:, None] * (x.detach() > 0)
    torch.testing.assert_close(x.grad, want)
    assert mask.grad is None  # no gradient reaches the mask


def test_mask_is_resized_nearest():
    x = torch.ones(1, 2, 4, 4)
    b = torch.tensor([[[1.0, 0.0], [-1.0, 1.0]]])
    want = b.repeat_interleave(2, dim=1).repeat_interleave(2, dim=2)
    assert torch.equal(conditional_relu(x, b)[0, 1], want[0])


@pytest.mark.parametrize(
    ("x", "mask", "exc", "name"),
    [
        (torch.ones(1, 2, 3), torch.ones(1, 2, 3), ValueError, "x"),
        (torch.ones(1, 2, 3, 3, dtype=torch.int32), torch.ones(1, 3, 3), TypeError, "x"),
        (torch.ones(1, 2, 3, 3), torch.ones(2, 3, 3), ValueError, "mask"),
        (torch.ones(1, 2, 3, 3), torch.ones(1, 2, 3, 3), ValueError, "mask"),
        (torch.ones(1, 2, 3, 3), torch.full((1, 3, 3), float("nan")), ValueError, "mask"),
        (torch.ones(1, 2, 3, 3), np.ones((1, 3, 3)), TypeError, "mask"),
    ],
)
def test_conditional_relu_bad_input(x, mask, exc, name):
    with pytest.raises(exc, match=name):
        conditional_relu(x, mask)


def make_head(**kw) -> SelfErasingHead:
    torch.manual_seed(0)
    head = SelfErasingHead(6, num_classes=4, hidden_channels=5, **kw).double()
    for p in head.parameters():  # larger weights so the maps are not all near zero
        nn.init.normal_(p, std=0.5)
    return head


def reference_head(head: SelfErasingHead, f: torch.Tensor, y: torch.Tensor) -> dict:
    """The head written out step by step (float64, eval mode, no batching of S_B and S_C)."""
    za = head.branch_a(f)
    t = torch.from_numpy(
        np.stack([ternary_mask(za[i : i + 1], y[i : i + 1])[0].numpy() for i in range(len(f))])
    )
    zb = head.branch_b(torch.relu(f) * t[:, None])
    zc = head.branch_c(f * (t == -1)[:, None].double())
    return {"a": za.mean((2, 3)), "b": zb.mean((2, 3)), "c": zc.mean((2, 3)), "t": t, "zb": zb}


@pytest.mark.parametrize("share", [True, False])
def test_head_matches_reference(share):
    head = make_head(share_weights=share).eval()
    g = torch.Generator().manual_seed(3)
    f = torch.rand(3, 6, 5, 4, dtype=torch.float64, generator=g)
    y = torch.tensor([[1, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1]])
    out = head(f, y)
    ref = reference_head(head, f, y)
    torch.testing.assert_close(out.logits_a, ref["a"])
    torch.testing.assert_close(out.logits_b, ref["b"])
    torch.testing.assert_close(out.logits_c, ref["c"])
    torch.testing.assert_close(out.maps_b, ref["zb"])
    assert torch.equal(out.mask, ref["t"])
    assert {-1.0, 1.0} <= set(out.mask.unique().tolist())
    assert (head.branch_c is head.branch_b) == share


def test_head_masks_are_per_sample():
    head = make_head().eval()
    f = torch.rand(2, 6, 5, 5, dtype=torch.float64)
    y = torch.tensor([[1, 0, 0, 0], [0, 0, 1, 0]])
    out = head(f, y)
    for i in range(2):
        alone = head(f[i : i + 1], y[i : i + 1])
        assert torch.equal(out.mask[i], alone.mask[0])
        torch.testing.assert_close(out.logits_b[i], alone.logits_b[0])


def test_gradients_reach_backbone_but_not_branch_a_through_mask():
    head = make_head()
    f = torch.rand(2, 6, 4, 4, dtype=torch.float64, requires_grad=True)
    out = head(f, torch.tensor([[1, 0, 0, 0], [0, 1, 0, 0]]))
    (out.logits_b.sum() + out.logits_c.sum()).backward()
    assert all(p.grad is None for p in head.branch_a.parameters())
    assert f.grad is not None and float(f.grad.abs().sum()) > 0
    assert all(p.grad is not None for p in head.branch_b.parameters())


def test_init_and_dropout_placement():
    torch.manual_seed(0)
    head = SelfErasingHead(256, num_classes=20, hidden_channels=256)
    w = head.branch_a[0].weight
    assert abs(float(w.detach().std()) - 0.01) < 0.0005
    assert all(float(m.bias.detach().abs().max()) == 0
               for m in head.modules() if isinstance(m, nn.Conv2d))
    assert any(isinstance(m, nn.Dropout) for m in head.branch_a)
    assert not any(isinstance(m, nn.Dropout) for m in head.branch_b)


def test_labels_none_uses_predicted_classes():
    head = make_head().eval()
    f = torch.rand(2, 6, 4, 4, dtype=torch.float64)
    out = head(f)
    predicted = SelfErasingHead.predicted_classes(out.logits_a)
    assert predicted.any(1).all()
    assert torch.equal(head(f, predicted).mask, out.mask)


def test_forward_has_no_side_effects_on_mode():
    head = make_head().train()
    head(torch.rand(1, 6, 3, 3, dtype=torch.float64), torch.tensor([[1, 0, 0, 0]]))
    assert head.training


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"delta_h": 0.1, "delta_l": 0.2}, "delta_l"),
        ({"dropout": 1.0}, "dropout"),
        ({"hidden_channels": 0}, "hidden_channels"),
    ],
)
def test_head_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SelfErasingHead(4, 3, **kwargs)


def test_head_bad_labels():
    head = SelfErasingHead(4, 3, hidden_channels=2)
    with pytest.raises(ValueError, match="labels"):
        head(torch.rand(1, 4, 3, 3), torch.ones(1, 5))
    with pytest.raises(ValueError, match="features"):
        head(torch.rand(4, 3, 3), torch.ones(1, 3))


def test_class_maps_with_a_given_mask_erase_exactly_that_zone():
    torch.manual_seed(0)
    head = SelfErasingHead(6, num_classes=3, hidden_channels=4).eval()
    f = torch.randn(2, 6, 5, 5)
    y = torch.tensor([[1, 0, 1], [0, 1, 0]])
    mask = torch.randint(-1, 2, (2, 5, 5)).float()
    maps = head.class_maps(f, y, mask=mask)
    expected = head.branch_b(torch.relu(f) * mask[:, None])  # C-ReLU written out
    torch.testing.assert_close(maps["b"], expected)
    learned = head.class_maps(f, y)
    torch.testing.assert_close(maps["a"], learned["a"])  # S_A does not see the mask
    torch.testing.assert_close(learned["b"], head(f, y).maps_b)  # None: S_A's own mask
    assert not torch.allclose(maps["b"], learned["b"])
    with pytest.raises(ValueError, match="mask: batch size"):
        head.class_maps(f, y, mask=torch.ones(3, 5, 5))


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"init_std": float("inf")}, ValueError, "init_std"),
        ({"init_std": float("nan")}, ValueError, "init_std"),
        ({"init_std": -0.01}, ValueError, "init_std"),
        ({"dropout": None}, TypeError, "dropout"),
        ({"dropout": 1.0}, ValueError, "dropout"),
        ({"share_weights": None}, TypeError, "share_weights"),
        ({"hidden_channels": 2**40}, ValueError, "hidden_channels"),
        ({"delta_h": None}, TypeError, "delta_h"),
    ],
)
def test_head_arguments_are_checked(kwargs, exc, name):
    with pytest.raises(exc, match=f"^{name}: "):
        SelfErasingHead(4, 2, **{"hidden_channels": 4, **kwargs})
