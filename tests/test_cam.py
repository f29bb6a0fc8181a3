"""CAMExtractor: golden values, a per-image float64 reference loop, hooks and modes."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from wsss import FIELD_SCALES, CAMExtractor


class ChannelMaps(nn.Module):
    """class_maps = chosen input channels (exactly known maps), with a dropout to see modes."""

    def __init__(self, branches: dict[str, tuple[slice, float]]):
        super().__init__()
        self.branches = branches
        self.drop = nn.Dropout(0.5)
        self.calls: list[int] = []

    def class_maps(self, images, labels=None):
        self.calls.append(images.shape[0])
        return {k: self.drop(images[:, sl]) * w for k, (sl, w) in self.branches.items()}


class ConvMaps(nn.Module):
    """A random conv net (not flip-equivariant), stride 2, with two branches."""

    def __init__(self, c: int = 3):
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Conv2d(3, 6, 3, stride=2, padding=1)
        self.a = nn.Conv2d(6, c, 3, padding=1)
        self.b = nn.Conv2d(6, c, 1)

    def class_maps(self, images, labels=None):
        f = torch.relu(self.body(images))
        return {"a": self.a(f), "b": self.b(f)}


def test_golden_single_scale():
    x = torch.zeros(1, 3, 2, 2)
    x[0, 0] = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    x[0, 1] = torch.tensor([[-1.0, 0.0], [0.0, -2.0]])
    x[0, 2] = torch.tensor([[9.0, 9.0], [9.0, 9.0]])
    model = ChannelMaps({"a": (slice(0, 3), 1.0)})
    out = CAMExtractor(model, eps=0.0)(x, torch.tensor([[1, 1, 0]]))
    want = torch.zeros(1, 3, 2, 2)
    want[0, 0] = torch.tensor([[0.25, 0.5], [0.75, 1.0]])  # divided by its max
    # class 1 is all <= 0 -> 0 (never NaN); class 2 was not asked for -> 0
    torch.testing.assert_close(out.fused, want)
    minmax = CAMExtractor(model, normalization="minmax", eps=0.0)(x, torch.tensor([[1, 0, 0]]))
    torch.testing.assert_close(minmax.fused[0, 0], (x[0, 0] - 1) / 3)


def test_branches_fuse_by_max_of_individually_normalised_maps():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 4, 5, 5, generator=g, dtype=torch.float64)
    model = ChannelMaps({"a": (slice(0, 2), 1.0), "b": (slice(2, 4), 7.0)})
    y = torch.tensor([[1, 1], [0, 1]])
    out = CAMExtractor(model, eps=0.0)(x, y)
    na = x[:, 0:2] / x[:, 0:2].amax(dim=(2, 3), keepdim=True)
    nb = x[:, 2:4] / x[:, 2:4].amax(dim=(2, 3), keepdim=True)
    keep = y[:, :, None, None].double()
    torch.testing.assert_close(out.branches["a"], na * keep)
    torch.testing.assert_close(out.branches["b"], nb * keep)  # the x7 does not matter
    torch.testing.assert_close(out.fused, torch.maximum(na, nb) * keep)
    only_a = CAMExtractor(model, branches=("a",), eps=0.0)(x, y)
    torch.testing.assert_close(only_a.fused, na * keep)


def reference_loop(model, images, labels, scales, flip, flip_fusion, scale_fusion, norm, eps):
    """The field's usual per-image, per-scale, per-flip loop, in float64."""
    n, _, h, w = images.shape
    outs = []
    for i in range(n):
        per_branch = {}
        for s in scales:
            x = images[i : i + 1]
            if s != 1.0:
                x = F.interpolate(x, size=(round(h * s), round(w * s)), mode="bilinear",
                                  align_corners=False)
            views = [x, x.flip(-1)] if flip else [x]
            fused_views = {}
            for v, view in enumerate(views):
                for name, m in model.class_maps(view, labels[i : i + 1]).items():
                    m = F.interpolate(m, size=(h, w), mode="bilinear", align_corners=False)
                    m = m.clamp_min(0)
                    if v == 1:
                        m = m.flip(-1)
                    prev = fused_views.get(name)
                    fused_views[name] = m if prev is None else (
                        torch.maximum(prev, m) if flip_fusion == "max" else prev + m)
            for name, m in fused_views.items():
                prev = per_branch.get(name)
                per_branch[name] = m if prev is None else (
                    torch.maximum(prev, m) if scale_fusion == "max" else prev + m)
        normed = []
        for m in per_branch.values():
            hi, lo = m.amax(dim=(2, 3), keepdim=True), m.amin(dim=(2, 3), keepdim=True)
            m = m / (hi + eps) if norm == "max" else (m - lo) / (hi - lo + eps)
            normed.append(m * labels[i : i + 1, :, None, None].double())
        outs.append(torch.stack(normed).amax(0))
    return torch.cat(outs)


@pytest.mark.parametrize(
    ("scales", "flip", "flip_fusion", "scale_fusion", "norm"),
    [
        ((1.0,), False, "max", "sum", "max"),
        ((1.0,), True, "max", "sum", "max"),
        (FIELD_SCALES, True, "max", "sum", "max"),
        (FIELD_SCALES, True, "sum", "max", "minmax"),
        ((0.75, 1.25), True, "sum", "sum", "max"),
    ],
)
def test_batched_extractor_matches_per_image_reference(scales, flip, flip_fusion, scale_fusion,
                                                       norm):
    model = ConvMaps().double()
    g = torch.Generator().manual_seed(1)
    images = torch.rand(3, 3, 18, 22, generator=g, dtype=torch.float64)
    labels = torch.tensor([[1, 0, 1], [0, 1, 0], [1, 1, 1]])
    ext = CAMExtractor(model, scales=scales, flip=flip, flip_fusion=flip_fusion,
                       scale_fusion=scale_fusion, normalization=norm)
    got = ext(images, labels).fused
    want = reference_loop(model, images, labels, scales, flip, flip_fusion, scale_fusion, norm,
                          1e-5)
    torch.testing.assert_close(got, want)
    assert float(got.max()) <= 1.0 and float(got.min()) >= 0.0


def test_one_forward_per_scale_with_flips_batched():
    model = ChannelMaps({"a": (slice(0, 2), 1.0)})
    ext = CAMExtractor(model, scales=FIELD_SCALES, flip=True)
    ext(torch.rand(3, 3, 8, 8), torch.ones(3, 2))
    assert model.calls == [6, 6, 6, 6]


def test_eval_mode_during_extraction_and_restored_after():
    model = ChannelMaps({"a": (slice(0, 2), 1.0)}).train()
    x = torch.rand(1, 3, 6, 6) + 0.1
    ext = CAMExtractor(model)
    first, second = ext(x, torch.ones(1, 2)).fused, ext(x, torch.ones(1, 2)).fused
    assert torch.equal(first, second)  # dropout was off
    assert model.training and model.drop.training


def make_classifier() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(), nn.Dropout(0.3),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 4),
    ).double()


def test_from_classifier_matches_cam_formula():
    net = make_classifier()
    x = torch.rand(2, 3, 7, 9, dtype=torch.float64)
    y = torch.tensor([[1, 0, 0, 1], [0, 1, 1, 0]])
    got = CAMExtractor.from_classifier(net, "2", "5", eps=0.0)(x, y).fused
    feats = torch.relu(net[0](x))
    cam = torch.einsum("ck,nkhw->nchw", net[5].weight, feats).clamp_min(0)
    want = cam / cam.amax(dim=(2, 3), keepdim=True) * y[:, :, None, None]
    torch.testing.assert_close(got, want)
    assert not net[2]._forward_hooks


def test_from_classifier_accepts_1x1_conv_and_bias_option():
    torch.manual_seed(0)
    feats = nn.Conv2d(3, 4, 1)
    cls = nn.Conv2d(4, 2, 1)
    net = nn.Sequential(feats, cls).double()
    with torch.no_grad():
        cls.bias.fill_(3.0)  # every class map has a positive maximum
    x = torch.rand(1, 3, 4, 4, dtype=torch.float64)
    y = torch.tensor([[1, 1]])
    with_bias = CAMExtractor.from_classifier(net, feats, cls, include_bias=True, eps=0.0)(x, y)
    raw = net(x).clamp_min(0)
    torch.testing.assert_close(with_bias.fused, raw / raw.amax(dim=(2, 3), keepdim=True))


class Exploding(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Conv2d(3, 4, 1)
        self.drop = nn.Dropout()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        self.features(x)
        raise RuntimeError("boom")


def test_hooks_removed_and_mode_restored_on_error():
    net = Exploding().train()
    net.drop.eval()
    ext = CAMExtractor.from_classifier(net, net.features, net.fc)
    with pytest.raises(RuntimeError, match="boom"):
        ext(torch.rand(1, 3, 4, 4), torch.tensor([[1, 0]]))
    assert not net.features._forward_hooks
    assert net.training and net.features.training and not net.drop.training


@pytest.mark.parametrize(
    ("make", "exc", "name"),
    [
        (lambda: CAMExtractor(nn.Linear(2, 2)), TypeError, "model"),
        (lambda: CAMExtractor(ConvMaps(), scales=()), ValueError, "scales"),
        (lambda: CAMExtractor(ConvMaps(), scales=(1.0, -0.5)), ValueError, "scales"),
        (lambda: CAMExtractor(ConvMaps(), flip_fusion="mean"), ValueError, "flip_fusion"),
        (lambda: CAMExtractor(ConvMaps(), normalization="l2"), ValueError, "normalization"),
        (lambda: CAMExtractor.from_classifier(make_classifier(), "0", "0"), TypeError,
         "classifier"),
    ],
)
def test_bad_construction(make, exc, name):
    with pytest.raises(exc, match=name):
        make()


def test_bad_calls():
    ext = CAMExtractor(ConvMaps())
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match="labels"):
        ext(x, torch.ones(2, 5))
    with pytest.raises(ValueError, match="labels"):
        ext(x, torch.tensor([[1, 0, 0], [0, 0, 0]]))
    with pytest.raises(TypeError, match="images"):
        ext(x.to(torch.uint8), torch.ones(2, 3))
    with pytest.raises(ValueError, match="images"):
        ext(x[0], torch.ones(1, 3))
    with pytest.raises(ValueError, match="branches"):
        CAMExtractor(ConvMaps(), branches=("c",))(x, torch.ones(2, 3))
    wrong = CAMExtractor.from_classifier(make_classifier().float(), "0", nn.Linear(7, 4))
    with pytest.raises(ValueError, match="classifier"):
        wrong(x, torch.ones(2, 4))


@pytest.mark.parametrize(
    ("kwargs", "exc", "name"),
    [
        ({"scales": 1.0}, TypeError, "scales"),
        ({"scales": (float("inf"),)}, ValueError, "scales"),
        ({"scales": (1.0, -0.5)}, ValueError, "scales"),
        ({"scales": ()}, ValueError, "scales"),
        ({"eps": float("nan")}, ValueError, "eps"),
        ({"eps": -1.0}, ValueError, "eps"),
        ({"eps": None}, TypeError, "eps"),
        ({"flip": None}, TypeError, "flip"),
        ({"branches": "a"}, TypeError, "branches"),
        ({"amp_dtype": torch.int8}, TypeError, "amp_dtype"),
        ({"normalization": []}, ValueError, "normalization"),
    ],
)
def test_constructor_arguments_are_checked(kwargs, exc, name):
    with pytest.raises(exc, match=f"^{name}"):
        CAMExtractor(ConvMaps(), **kwargs)


def test_huge_scale_is_refused_by_name():
    ext = CAMExtractor(ConvMaps(), scales=(1e9,))
    with pytest.raises(ValueError, match=r"^scales: "):
        ext(torch.rand(1, 3, 4, 4), torch.ones(1, 3))


def test_from_classifier_names_a_missing_layer():
    net = make_classifier().float()
    with pytest.raises(ValueError, match=r"^feature_layer: .*'nope'"):
        CAMExtractor.from_classifier(net, "nope", net[5])
    with pytest.raises(ValueError, match=r"^classifier: "):
        CAMExtractor.from_classifier(net, net[1], "nope")
    with pytest.raises(TypeError, match=r"^feature_layer: "):
        CAMExtractor.from_classifier(net, 3, net[5])
