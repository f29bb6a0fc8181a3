"""Weight loaders: every tensor of a file in a known layout lands in the right place."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from wsss.models import (
    VGG16,
    DeepLabLargeFOV,
    LoadReport,
    ResNet,
    SeeNet,
    load_deeplab_caffe_vgg16,
    load_imagenet_resnet,
    load_imagenet_vgg16,
    resnet_tiny,
)

# torchvision's vgg16: (features index, in, out) of its 13 convolutions.
TV_VGG16_CONVS = [
    (0, 3, 64), (2, 64, 64),
    (5, 64, 128), (7, 128, 128),
    (10, 128, 256), (12, 256, 256), (14, 256, 256),
    (17, 256, 512), (19, 512, 512), (21, 512, 512),
    (24, 512, 512), (26, 512, 512), (28, 512, 512),
]  # fmt: skip
OUR_VGG16_CONVS = [
    "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
    "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3",
]  # fmt: skip


def _w(c: int, width: float) -> int:
    return 3 if c == 3 else max(1, round(c * width))


def tv_vgg16_spec(width: float = 1.0) -> dict[str, tuple[int, ...]]:
    """torchvision vgg16 keys and shapes (channels scaled by ``width``)."""
    spec: dict[str, tuple[int, ...]] = {}
    for index, cin, cout in TV_VGG16_CONVS:
        spec[f"features.{index}.weight"] = (_w(cout, width), _w(cin, width), 3, 3)
        spec[f"features.{index}.bias"] = (_w(cout, width),)
    spec.update({
        "classifier.0.weight": (4096, 25088), "classifier.0.bias": (4096,),
        "classifier.3.weight": (4096, 4096), "classifier.3.bias": (4096,),
        "classifier.6.weight": (1000, 4096), "classifier.6.bias": (1000,),
    })  # fmt: skip
    return spec


def tv_resnet_spec(layers, width: float = 1.0) -> dict[str, tuple[int, ...]]:
    """torchvision ResNet (bottleneck) keys and shapes, including BN buffers and fc."""
    spec: dict[str, tuple[int, ...]] = {}

    def bn(prefix: str, c: int) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            spec[f"{prefix}.{name}"] = (c,)
        spec[f"{prefix}.num_batches_tracked"] = ()

    stem = _w(64, width)
    spec["conv1.weight"] = (stem, 3, 7, 7)
    bn("bn1", stem)
    inplanes = stem
    for stage, (blocks, base) in enumerate(zip(layers, (64, 128, 256, 512)), start=1):
        planes = _w(base, width)
        for b in range(blocks):
            p = f"layer{stage}.{b}"
            spec[f"{p}.conv1.weight"] = (planes, inplanes, 1, 1)
            bn(f"{p}.bn1", planes)
            spec[f"{p}.conv2.weight"] = (planes, planes, 3, 3)
            bn(f"{p}.bn2", planes)
            spec[f"{p}.conv3.weight"] = (planes * 4, planes, 1, 1)
            bn(f"{p}.bn3", planes * 4)
            if b == 0:
                spec[f"{p}.downsample.0.weight"] = (planes * 4, inplanes, 1, 1)
                bn(f"{p}.downsample.1", planes * 4)
            inplanes = planes * 4
    spec["fc.weight"] = (1000, inplanes)
    spec["fc.bias"] = (1000,)
    return spec


def caffe_deeplab_spec(width: float = 1.0, fc8: int | None = None) -> dict[str, tuple[int, ...]]:
    """The Caffe-converted DeepLab VGG16 init layout."""
    spec: dict[str, tuple[int, ...]] = {}
    for name, (_, cin, cout) in zip(OUR_VGG16_CONVS, TV_VGG16_CONVS):
        spec[f"{name}.weight"] = (_w(cout, width), _w(cin, width), 3, 3)
        spec[f"{name}.bias"] = (_w(cout, width),)
    head = _w(1024, width)
    spec["fc6.weight"] = (head, _w(512, width), 3, 3)
    spec["fc6.bias"] = (head,)
    spec["fc7.weight"] = (head, head, 1, 1)
    spec["fc7.bias"] = (head,)
    if fc8 is not None:
        spec["fc8.weight"] = (fc8, head, 1, 1)
        spec["fc8.bias"] = (fc8,)
    return spec


def random_state(spec, seed: int = 0, skip=()) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in spec.items():
        if key in skip:
            continue
        if key.endswith("num_batches_tracked"):
            state[key] = torch.tensor(7)
        elif key.endswith("running_var"):
            state[key] = torch.rand(shape, generator=g) + 0.5
        else:
            state[key] = torch.randn(shape, generator=g)
    return state


def save(tmp_path, state, name="weights.pth"):
    path = tmp_path / name
    torch.save(state, path)
    return path


# ----------------------------------------------------------------------------- spec sanity


def test_specs_have_the_real_parameter_counts():
    vgg = tv_vgg16_spec()
    assert sum(torch.Size(s).numel() for s in vgg.values()) == 138_357_544  # torchvision vgg16
    resnet = {
        k: s
        for k, s in tv_resnet_spec((3, 4, 23, 3)).items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    }
    assert sum(torch.Size(s).numel() for s in resnet.values()) == 44_549_160  # resnet101


def test_full_width_shapes_match_the_models():
    ours = {k: tuple(v.shape) for k, v in VGG16().state_dict().items()}
    tv = tv_vgg16_spec()
    for (index, _, _), name in zip(TV_VGG16_CONVS, OUR_VGG16_CONVS):
        assert ours[f"{name}.weight"] == tv[f"features.{index}.weight"]
    deeplab_state = DeepLabLargeFOV(VGG16("largefov")).state_dict()
    deeplab = {k: tuple(v.shape) for k, v in deeplab_state.items()}
    for key, shape in caffe_deeplab_spec(fc8=21).items():
        want = f"backbone.{key}" if key.startswith("conv") else key
        assert deeplab[want] == shape, key
    resnet = {
        k: tuple(v.shape) for k, v in ResNet((3, 4, 23, 3), frozen_bn=False).state_dict().items()
    }
    spec = {k: s for k, s in tv_resnet_spec((3, 4, 23, 3)).items() if not k.startswith("fc.")}
    assert resnet == spec


# ----------------------------------------------------------------------------- torchvision VGG16


@pytest.mark.parametrize("layout", ["seenet", "largefov"])
def test_vgg16_every_tensor_lands_in_place(tmp_path, layout):
    spec = {k: s for k, s in tv_vgg16_spec(0.125).items() if k.startswith("features.")}
    state = random_state(spec | {"classifier.6.weight": (3, 4), "classifier.6.bias": (3,)})
    net = VGG16(layout, width=0.125)
    report = load_imagenet_vgg16(net, save(tmp_path, state), strict=True)
    assert isinstance(report, LoadReport) and report.ok
    assert len(report.loaded) == 26
    assert set(report.ignored) == {k for k in state if k.startswith("classifier.")}
    for (index, _, _), name in zip(TV_VGG16_CONVS, OUR_VGG16_CONVS):
        conv = getattr(net, name)
        torch.testing.assert_close(conv.weight.detach(), state[f"features.{index}.weight"])
        torch.testing.assert_close(conv.bias.detach(), state[f"features.{index}.bias"])


def test_vgg16_full_width_loads(tmp_path):
    spec = {k: s for k, s in tv_vgg16_spec().items() if k.startswith("features.")}
    state = {k: torch.full(s, float(i)) for i, (k, s) in enumerate(spec.items())}
    net = VGG16()
    report = load_imagenet_vgg16(net, state, strict=True)
    assert len(report.loaded) == 26
    assert net.conv1_1.weight[0, 0, 0, 0].item() == 0.0  # features.0.weight is first
    assert net.conv5_3.bias[0].item() == 25.0  # features.28.bias is last


def test_vgg16_into_a_model_reports_backbone_keys():
    state = random_state({k: s for k, s in tv_vgg16_spec(0.125).items() if "classifier" not in k})
    state = {f"module.{k}": v for k, v in state.items()}  # DataParallel checkpoint
    model = SeeNet(VGG16(width=0.125), num_classes=3, hidden_channels=4)
    head_before = {k: v.clone() for k, v in model.head.state_dict().items()}
    report = load_imagenet_vgg16(model, {"state_dict": state}, strict=True)
    assert "backbone.conv4_2.weight" in report.loaded
    torch.testing.assert_close(
        model.backbone.conv4_2.weight.detach(), state["module.features.19.weight"]
    )
    for key, value in model.head.state_dict().items():
        torch.testing.assert_close(value, head_before[key])


def test_vgg16_problems_are_reported_and_strict_raises(tmp_path):
    full = random_state({k: s for k, s in tv_vgg16_spec(0.25).items() if "classifier" not in k})
    del full["features.28.bias"]
    full["features.99.weight"] = torch.zeros(1)
    net = VGG16(width=0.125)  # narrower than the file: every present tensor mismatches
    before = net.conv1_1.weight.detach().clone()
    report = load_imagenet_vgg16(net, full)
    assert report.missing == ("conv5_3.bias",)
    assert report.unexpected == ("features.99.weight",)
    assert len(report.mismatched) == 25 and not report.ok
    first = next(m for m in report.mismatched if m.key == "conv1_1.weight")
    assert first.source_key == "features.0.weight"
    assert first.expected == (8, 3, 3, 3) and first.found == (16, 3, 3, 3)
    with pytest.raises(ValueError, match="weights") as info:
        load_imagenet_vgg16(net, save(tmp_path, full), strict=True)
    message = str(info.value)
    for needle in ("conv5_3.bias", "features.99.weight", "conv1_1.weight", "(16, 3, 3, 3)"):
        assert needle in message
    torch.testing.assert_close(net.conv1_1.weight.detach(), before)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.loaded = ()


def test_vgg16_partial_load_copies_what_matches():
    state = random_state({k: s for k, s in tv_vgg16_spec(0.125).items() if "classifier" not in k})
    state["features.0.weight"] = torch.zeros(1, 1, 3, 3)
    net = VGG16(width=0.125)
    report = load_imagenet_vgg16(net, state)
    assert [m.key for m in report.mismatched] == ["conv1_1.weight"]
    assert len(report.loaded) == 25
    torch.testing.assert_close(net.conv1_1.bias.detach(), state["features.0.bias"])


def test_vgg16_bad_inputs(tmp_path):
    with pytest.raises(TypeError, match="backbone"):
        load_imagenet_vgg16(resnet_tiny(), {})
    with pytest.raises(TypeError, match="weights"):
        load_imagenet_vgg16(VGG16(width=0.125), 3)
    with pytest.raises(FileNotFoundError, match=r"missing.pth"):
        load_imagenet_vgg16(VGG16(width=0.125), tmp_path / "missing.pth")
    with pytest.raises(TypeError, match="weights"):
        load_imagenet_vgg16(VGG16(width=0.125), save(tmp_path, [torch.zeros(1)]))


# ----------------------------------------------------------------------------- torchvision ResNet


@pytest.mark.parametrize("frozen_bn", [True, False])
def test_resnet_every_tensor_lands_in_place(tmp_path, frozen_bn):
    spec = tv_resnet_spec((1, 1, 1, 1), 0.125)
    state = random_state(spec)
    net = resnet_tiny(frozen_bn=frozen_bn, output_stride=8)
    report = load_imagenet_resnet(net, save(tmp_path, state), strict=True)
    assert report.ok
    ignored = {"fc.weight", "fc.bias"}
    if frozen_bn:
        ignored |= {k for k in spec if k.endswith("num_batches_tracked")}
    assert set(report.ignored) == ignored
    ours = net.state_dict()
    assert set(report.loaded) == set(ours)
    for key, value in ours.items():
        torch.testing.assert_close(value, state[key], msg=key)


def test_resnet_loaded_frozen_bn_uses_file_statistics():
    state = random_state(tv_resnet_spec((1, 1, 1, 1), 0.125))
    net = resnet_tiny()
    load_imagenet_resnet(net, state, strict=True)
    bn = net.layer2[0].downsample[1]
    x = torch.randn(1, bn.num_features, 2, 2)
    s = "layer2.0.downsample.1."
    want = (x - state[s + "running_mean"].view(1, -1, 1, 1)) / torch.sqrt(
        state[s + "running_var"].view(1, -1, 1, 1) + 1e-5
    ) * state[s + "weight"].view(1, -1, 1, 1) + state[s + "bias"].view(1, -1, 1, 1)
    torch.testing.assert_close(bn(x), want)


def test_resnet_missing_and_old_checkpoints():
    spec = tv_resnet_spec((1, 1, 1, 1), 0.125)
    old = random_state(spec, skip={k for k in spec if k.endswith("num_batches_tracked")})
    net = resnet_tiny(frozen_bn=False)
    assert load_imagenet_resnet(net, old).ok  # num_batches_tracked is never required
    partial = random_state(spec, skip={"layer3.0.conv2.weight"})
    report = load_imagenet_resnet(resnet_tiny(), partial)
    assert report.missing == ("layer3.0.conv2.weight",)
    with pytest.raises(ValueError, match="weights"):
        load_imagenet_resnet(resnet_tiny(), partial, strict=True)
    wider = random_state(tv_resnet_spec((1, 1, 1, 1), 0.25))
    assert len(load_imagenet_resnet(resnet_tiny(), wider).mismatched) > 0


def test_resnet_into_a_deeplab_model():
    state = random_state(tv_resnet_spec((1, 1, 1, 1), 0.125))
    model = DeepLabLargeFOV(resnet_tiny(), head_channels=8)
    report = load_imagenet_resnet(model, state, strict=True)
    assert "backbone.layer4.0.conv3.weight" in report.loaded
    torch.testing.assert_close(
        model.backbone.layer4[0].conv3.weight.detach(), state["layer4.0.conv3.weight"]
    )


# ----------------------------------------------------------------------------- Caffe DeepLab


def _deeplab() -> DeepLabLargeFOV:
    return DeepLabLargeFOV(VGG16("largefov", width=0.125), num_classes=21, head_channels=128)


@pytest.mark.parametrize("prefix", ["", "module.", "module.features."])
def test_caffe_every_tensor_lands_in_place(tmp_path, prefix):
    spec = caffe_deeplab_spec(0.125, fc8=21)
    state = {prefix + k: v for k, v in random_state(spec).items()}
    model = _deeplab()
    report = load_deeplab_caffe_vgg16(model, save(tmp_path, {"model": state}), strict=True)
    assert report.ok and len(report.loaded) == 32
    for key in spec:
        target = f"backbone.{key}" if key.startswith("conv") else key
        torch.testing.assert_close(model.state_dict()[target], state[prefix + key], msg=key)


def test_caffe_fc8_is_optional_and_can_be_skipped():
    without = random_state(caffe_deeplab_spec(0.125))
    report = load_deeplab_caffe_vgg16(_deeplab(), without, strict=True)
    assert len(report.loaded) == 30 and report.missing == ()
    imagenet_fc8 = random_state(caffe_deeplab_spec(0.125, fc8=1000))
    with pytest.raises(ValueError, match="fc8"):
        load_deeplab_caffe_vgg16(_deeplab(), imagenet_fc8, strict=True)
    model = _deeplab()
    fc8_before = model.fc8.weight.detach().clone()
    report = load_deeplab_caffe_vgg16(model, imagenet_fc8, load_fc8=False, strict=True)
    assert set(report.ignored) == {"fc8.weight", "fc8.bias"}
    torch.testing.assert_close(model.fc8.weight.detach(), fc8_before)
    renamed = {
        k.replace("fc8", "fc8_voc12"): v
        for k, v in random_state(caffe_deeplab_spec(0.125, fc8=21)).items()
    }
    model = _deeplab()
    load_deeplab_caffe_vgg16(model, renamed, strict=True)
    torch.testing.assert_close(model.fc8.bias.detach(), renamed["fc8_voc12.bias"])


def test_caffe_into_a_bare_vgg_or_seenet_ignores_fc_layers():
    state = random_state(caffe_deeplab_spec(0.125, fc8=21))
    net = VGG16("seenet", width=0.125)
    report = load_deeplab_caffe_vgg16(net, state, strict=True)
    assert len(report.loaded) == 26
    assert set(report.ignored) == {f"fc{i}.{k}" for i in (6, 7, 8) for k in ("weight", "bias")}
    torch.testing.assert_close(net.conv2_1.weight.detach(), state["conv2_1.weight"])
    seenet = SeeNet(VGG16(width=0.125), num_classes=3, hidden_channels=4)
    report = load_deeplab_caffe_vgg16(seenet, state, strict=True)
    assert "backbone.conv5_1.bias" in report.loaded


def test_caffe_problems():
    state = random_state(caffe_deeplab_spec(0.125))
    del state["fc7.bias"]
    state["conv6_1.weight"] = torch.zeros(1)
    state["fc6.weight"] = torch.zeros(4096, 64, 7, 7)  # an unconverted fc6
    report = load_deeplab_caffe_vgg16(_deeplab(), state)
    assert report.missing == ("fc7.bias",)
    assert report.unexpected == ("conv6_1.weight",)
    assert [(m.key, m.found) for m in report.mismatched] == [("fc6.weight", (4096, 64, 7, 7))]
    assert "fc7.bias" in report.describe() and "conv6_1.weight" in report.describe()
    with pytest.raises(TypeError, match="model"):
        load_deeplab_caffe_vgg16(DeepLabLargeFOV(resnet_tiny(), head_channels=8), state)


# ------------------------------------------------------------ the library's own backbone files


def test_backbone_weights_round_trip_through_a_file_into_another_model(tmp_path):
    from wsss.io import save_checkpoint
    from wsss.models import create_backbone, create_model, load_backbone_weights

    torch.manual_seed(0)
    source = create_backbone("vgg16_tiny", "seenet")
    for bn in (m for m in source.modules() if isinstance(m, torch.nn.BatchNorm2d)):
        bn.running_mean.uniform_()  # buffers travel too
    path = tmp_path / "backbone.pt"
    save_checkpoint(source.state_dict(), path)
    # the classifier's backbone initialises DeepLab's (another layout, the same parameters)
    model = create_model("deeplab_largefov", backbone="vgg16_tiny")
    report = load_backbone_weights(model, path)
    assert report.ok and len(report.loaded) == len(source.state_dict())
    assert all(key.startswith("backbone.") for key in report.loaded)
    for key, value in source.state_dict().items():
        assert torch.equal(model.backbone.state_dict()[key], value), key
    # a state dict saved from a whole model (``backbone.`` and ``module.`` prefixes) loads too
    wrapped = {f"module.backbone.{k}": v for k, v in source.state_dict().items()}
    bare = create_backbone("vgg16_tiny", "seenet")
    assert load_backbone_weights(bare, wrapped).ok
    assert torch.equal(bare.conv2_1.weight, source.conv2_1.weight)


def test_backbone_weights_mismatches_are_reported_and_strict_raises():
    from wsss.models import create_backbone, load_backbone_weights

    tiny = create_backbone("vgg16_tiny", "seenet")
    full = create_backbone("vgg16_narrow_bn", "seenet")
    before = full.conv5_1.weight.clone()
    with pytest.raises(ValueError, match="missing"):
        load_backbone_weights(full, tiny.state_dict())  # no conv5 in the file
    assert torch.equal(full.conv5_1.weight, before)  # strict: nothing copied
    report = load_backbone_weights(full, tiny.state_dict(), strict=False)
    assert {"conv5_1.weight", "bn5_3.running_var"} <= set(report.missing)
    assert torch.equal(full.conv4_3.weight, tiny.conv4_3.weight)
    wide = create_backbone("vgg16_tiny", "seenet", width=0.25)
    report = load_backbone_weights(wide, tiny.state_dict(), strict=False)
    assert report.mismatched[0].key == "conv1_1.weight"
    assert report.mismatched[0].expected == (16, 3, 3, 3)
    assert report.mismatched[0].found == (8, 3, 3, 3)
    with pytest.raises(TypeError, match="backbone"):
        load_backbone_weights("vgg", tiny.state_dict())


def test_truncated_vgg_takes_the_leading_blocks_of_a_deeper_backbone():
    from wsss.models import create_backbone, load_backbone_weights

    deep = create_backbone("vgg16_tiny", "seenet")
    shallow = create_backbone("vgg16_tiny3", "seenet")
    report = load_backbone_weights(shallow, deep.state_dict())  # strict: conv4 is not an error
    assert report.ok and set(report.ignored) == {
        k for k in deep.state_dict() if k.startswith(("conv4", "bn4"))
    }
    assert torch.equal(shallow.bn3_3.running_mean, deep.bn3_3.running_mean)
    # the other way round the deeper blocks are missing, and an unknown block is unexpected
    with pytest.raises(ValueError, match="missing"):
        load_backbone_weights(deep, shallow.state_dict())
    stray = {**deep.state_dict(), "conv6_1.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match="unexpected"):
        load_backbone_weights(shallow, stray)
    resnet = create_backbone("resnet_tiny", "seenet")
    with pytest.raises(ValueError, match="unexpected"):
        load_backbone_weights(resnet, {**resnet.state_dict(), "conv4_1.weight": torch.zeros(1)})
