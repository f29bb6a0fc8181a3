"""SeeNet's ablation switches: each changes exactly what it names, the defaults change nothing."""

from __future__ import annotations

import pytest
import torch

from wsss import SelfErasingHead, conditional_relu, seenet_loss, ternary_mask
from wsss.engine.steps import seenet_step
from wsss.models import SeeNet, create_model

K, C, H = 6, 3, 5
LABELS = torch.tensor([[1, 0, 0], [0, 1, 1]])


def _features(seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    # signed features, so that the ReLU of the conditional ReLU matters
    return torch.randn(2, K, H, H, generator=g, dtype=torch.float64)


def _head(seed: int = 0, **kwargs) -> SelfErasingHead:
    torch.manual_seed(seed)
    return SelfErasingHead(K, C, hidden_channels=4, **kwargs).double().eval()


def _same_weights(source: SelfErasingHead, **kwargs) -> SelfErasingHead:
    """A head with ``kwargs`` holding ``source``'s weights for every branch both have."""
    head = _head(99, **kwargs)
    missing, unexpected = head.load_state_dict(source.state_dict(), strict=False)
    assert not missing  # every weight of the new head came from ``source``
    assert all(k.startswith("branch_c.") for k in unexpected)
    return head


def _branch_inputs(head: SelfErasingHead, features, labels) -> list[torch.Tensor]:
    """Every input the branch S_B (and S_C, when shared) receives during one forward pass."""
    seen: list[torch.Tensor] = []
    handle = head.branch_b.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    try:
        out = head(features, labels)
    finally:
        handle.remove()
    return seen, out


def _reference(head: SelfErasingHead, f: torch.Tensor, labels) -> dict[str, torch.Tensor]:
    """The paper's head, written out from the blocks (design, section 5)."""
    maps_a = head.branch_a(f)
    t = ternary_mask(maps_a.detach(), labels, delta_h=head.delta_h, delta_l=head.delta_l)
    stacked = torch.cat([conditional_relu(f, t), f * (t == -1)[:, None].to(f.dtype)])
    maps_b, maps_c = head.branch_b(stacked).chunk(2)
    return {"a": maps_a, "b": maps_b, "c": maps_c.mean(dim=(2, 3)), "t": t}


# ----------------------------------------------------------------------------- defaults


def test_defaults_are_the_paper_head_bit_for_bit():
    f = _features()
    head = _head()
    assert head.background_branch and head.reverse_background
    out, ref = head(f, LABELS), _reference(head, f, LABELS)
    assert torch.equal(out.maps_a, ref["a"])
    assert torch.equal(out.maps_b, ref["b"])
    assert torch.equal(out.logits_c, ref["c"])
    assert torch.equal(out.mask, ref["t"])
    explicit = _same_weights(head, background_branch=True, reverse_background=True)
    again = explicit(f, LABELS)
    for name in ("logits_a", "logits_b", "logits_c", "maps_a", "maps_b", "mask"):
        assert torch.equal(getattr(again, name), getattr(out, name)), name
    assert "background_branch" not in repr(head) and "reverse_background" not in repr(head)


# ----------------------------------------------------------------------------- without S_C


def test_without_background_branch_has_no_s_c():
    head = _head(background_branch=False)
    assert head.branch_c is None
    assert not any(k.startswith("branch_c.") for k in head.state_dict())
    assert "background_branch=False" in repr(head)
    full = _head()  # the same seed: S_A and S_B are drawn first, so they are the same weights
    assert torch.equal(head.branch_b[0].weight, full.branch_b[0].weight)
    assert sum(p.numel() for p in head.parameters()) == sum(
        p.numel() for p in full.parameters()
    )  # shared S_C adds no parameters
    f = _features()
    out, ref = head(f, LABELS), full(f, LABELS)
    assert out.logits_c is None
    for name in ("logits_a", "logits_b", "maps_a", "maps_b", "mask"):
        assert torch.equal(getattr(out, name), getattr(ref, name)), name
    # S_B runs once per forward pass, on the erased features only
    seen, _ = _branch_inputs(head, f, LABELS)
    assert len(seen) == 1 and seen[0].shape == f.shape
    torch.testing.assert_close(seen[0], conditional_relu(f, out.mask), rtol=0, atol=0)


def test_without_background_branch_the_loss_has_no_term_c():
    head = _head(background_branch=False)
    f = _features()
    y = LABELS.double()
    terms = seenet_loss(head(f, y), y)
    assert terms.c.item() == 0.0 and terms.c.shape == () and not terms.c.requires_grad
    assert torch.equal(terms.total, terms.a + terms.b)
    # the gradient of the total reaching S_B is that of term b alone
    grads_total = torch.autograd.grad(terms.total, list(head.branch_b.parameters()))
    out = head(f, y)
    grads_b = torch.autograd.grad(seenet_loss(out, y).b, list(head.branch_b.parameters()))
    for g_total, g_b in zip(grads_total, grads_b, strict=True):
        torch.testing.assert_close(g_total, g_b, rtol=0, atol=0)


def test_without_background_branch_through_the_registry_and_step():
    torch.manual_seed(0)
    model = create_model("seenet", backbone="vgg16_narrow", num_classes=3, background_branch=False)
    assert isinstance(model, SeeNet) and model.head.branch_c is None
    assert len(model.classifiers()) == 2
    groups = model.parameter_groups()
    ids = [id(p) for group in groups.values() for p in group]
    assert len(ids) == len(set(ids)) == len(list(model.parameters()))
    y = torch.tensor([[1.0, 0, 0]])
    loss, logs = seenet_step(model, {"image": torch.rand(1, 3, 32, 32), "classes": y})
    assert logs["loss_c"] == 0.0
    assert loss.item() == pytest.approx(logs["loss_a"] + logs["loss_b"], abs=1e-6)
    assert sorted(model.class_maps(torch.rand(1, 3, 32, 32), y)) == ["a", "b"]


# ----------------------------------------------------------------------------- no reversal


def test_without_reversal_s_b_sees_plain_erasing_and_s_c_is_unchanged():
    full = _head()
    plain = _same_weights(full, reverse_background=False)
    assert "reverse_background=False" in repr(plain)
    f = _features()
    seen_full, out_full = _branch_inputs(full, f, LABELS)
    seen_plain, out_plain = _branch_inputs(plain, f, LABELS)
    t = out_full.mask
    assert bool((t == -1).any()) and bool((t == 0).any()) and bool((t == 1).any())
    assert torch.equal(out_plain.mask, t)  # the ternary mask itself is unchanged
    b_full, c_full = seen_full[0].chunk(2)
    b_plain, c_plain = seen_plain[0].chunk(2)
    # S_B: relu(F) in the background zone instead of -relu(F); elsewhere the same
    expected = torch.relu(f) * (t != 0)[:, None].double()
    torch.testing.assert_close(b_plain, expected, rtol=0, atol=0)
    background = (t == -1)[:, None].expand_as(f)
    assert torch.equal(b_plain[~background], b_full[~background])
    assert torch.equal(b_plain[background], -b_full[background])
    # S_C sees the same background features; S_A is untouched
    assert torch.equal(c_plain, c_full)
    assert torch.equal(out_plain.logits_c, out_full.logits_c)
    assert torch.equal(out_plain.maps_a, out_full.maps_a)
    assert not torch.equal(out_plain.maps_b, out_full.maps_b)


def test_without_reversal_class_maps_match_forward_and_a_given_mask_is_used_as_is():
    plain = _head(reverse_background=False)
    f = _features()
    maps = plain.class_maps(f, LABELS)
    out = plain(f, LABELS)
    torch.testing.assert_close(maps["b"], out.maps_b)
    given = -torch.ones(2, H, H, dtype=torch.float64)
    reversed_b = plain.class_maps(f, LABELS, mask=given)["b"]
    torch.testing.assert_close(reversed_b, plain.branch_b(-torch.relu(f)))


def test_without_reversal_the_gradient_in_the_background_zone_is_positive():
    f = _features().requires_grad_()
    for reverse, sign in ((True, -1.0), (False, 1.0)):
        head = _head(reverse_background=reverse)
        t = head(f, LABELS).mask
        erased = conditional_relu(f, head._erasing_mask(t))
        (grad,) = torch.autograd.grad(erased.sum(), f)
        zone = (t == -1)[:, None].expand_as(f)
        expected = sign * (f > 0).double()
        assert torch.equal(grad[zone], expected[zone])
        erased_zone = (t == 0)[:, None].expand_as(f)
        assert bool(erased_zone.any()) and float(grad[erased_zone].abs().max()) == 0.0


def test_delta_l_zero_removes_the_background_zone():
    head = _head(delta_l=0.0)
    f = _features()
    seen, out = _branch_inputs(head, f, LABELS)
    assert not bool((out.mask == -1).any())
    erased, background = seen[0].chunk(2)
    assert torch.equal(background, torch.zeros_like(f))  # S_C sees nothing
    torch.testing.assert_close(erased, torch.relu(f) * out.mask[:, None], rtol=0, atol=0)
    # then reversing or not makes no difference
    plain = _same_weights(head, delta_l=0.0, reverse_background=False)
    assert torch.equal(plain(f, LABELS).maps_b, out.maps_b)


# ----------------------------------------------------------------------------- unshared S_C


def test_unshared_s_c_gets_only_the_background_gradient():
    head = _head(share_weights=False)
    assert head.branch_c is not head.branch_b
    b_ids = {id(p) for p in head.branch_b.parameters()}
    assert not b_ids & {id(p) for p in head.branch_c.parameters()}
    f = _features()
    y = LABELS.double()
    terms = seenet_loss(head(f, y), y)
    grads = torch.autograd.grad(
        terms.c, list(head.branch_b.parameters()) + list(head.branch_c.parameters()),
        allow_unused=True,
    )
    n_b = len(list(head.branch_b.parameters()))
    assert all(g is None for g in grads[:n_b])  # term c never reaches S_B
    assert all(g is not None and bool(g.abs().sum() > 0) for g in grads[n_b:])
    out = head(f, y)
    grads_b = torch.autograd.grad(
        seenet_loss(out, y).b, list(head.branch_c.parameters()), allow_unused=True
    )
    assert all(g is None for g in grads_b)  # term b never reaches S_C
    # shared: term c does reach S_B
    shared = _head()
    terms = seenet_loss(shared(f, y), y)
    (g,) = torch.autograd.grad(terms.c, [shared.branch_b[-1].bias])
    assert bool(g.abs().sum() > 0)


def test_unshared_s_c_computes_the_same_as_copied_weights():
    shared = _head()
    unshared = _same_weights(shared, share_weights=False)
    unshared.branch_c.load_state_dict(shared.branch_b.state_dict())
    f = _features()
    a, b = shared(f, LABELS), unshared(f, LABELS)
    torch.testing.assert_close(a.logits_c, b.logits_c)
    torch.testing.assert_close(a.maps_b, b.maps_b)


def test_switches_combine():
    head = _head(background_branch=False, reverse_background=False)
    f = _features()
    seen, out = _branch_inputs(head, f, LABELS)
    assert out.logits_c is None and len(seen) == 1
    torch.testing.assert_close(seen[0], torch.relu(f) * (out.mask != 0)[:, None].double())
