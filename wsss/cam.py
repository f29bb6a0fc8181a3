"""Class activation / attention maps at image resolution.

See :ref:`How SeeNet works, section 5 <seenet-inference>`.

:class:`CAMExtractor` turns class maps into normalised attention maps, with test-time
augmentation. It reads class maps in one of two ways:

- from a model that returns them explicitly through ``model.class_maps(images, labels)``, a
  mapping from branch name to raw maps ``(N, C, h, w)`` (``wsss``'s SeeNet returns
  ``{"a": Z_A, "b": Z_B}``; its plain CAM classifier ``{"cam": Z}``). Each branch is upsampled,
  clamped at 0 and normalised on its own, then the branches are fused by maximum: SeeNet's
  ``A_c = max(A_A, A_B)``;
- from any classifier, given its feature layer and its linear (or 1x1 conv) classifier
  (:meth:`CAMExtractor.from_classifier`): ``CAM_c = sum_k w_ck F_k``. A forward hook reads the
  features; it lives inside a context manager that removes it, and restores the model's
  train/eval state, even when the forward pass raises.

Per image and class, with scales ``s`` and an optional horizontal flip:

.. math::

    A_c = \\mathrm{norm}\\Big(\\mathop{\\mathrm{fuse}}_{s}\\;
          \\mathop{\\mathrm{fuse}}_{\\mathrm{flip}} \\;
          \\max\\big(0, \\mathrm{up}(Z_c(x_{s, \\mathrm{flip}}))\\big)\\Big)

where ``up`` resizes to the input size, each ``fuse`` is ``"max"`` or ``"sum"``, and ``norm``
divides by the spatial maximum (``"max"``) or min-max normalises (``"minmax"``). All flips and
images of one scale go through the network in one forward pass.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._validation import (
    MAX_SIDE,
    check_bool,
    check_choice,
    check_eps,
    check_float_tensor,
    check_labels,
    check_reals,
)

__all__ = [
    "FIELD_SCALES",
    "AttentionMaps",
    "CAMExtractor",
    "ClassMapModel",
    "capture_output",
    "evaluating",
]

#: The scales the WSSS field uses for multi-scale CAM inference.
FIELD_SCALES: tuple[float, ...] = (1.0, 0.5, 1.5, 2.0)

Fusion = Literal["max", "sum"]
Normalization = Literal["max", "minmax"]
ClassMapFn = Callable[[Tensor, Tensor], Mapping[str, Tensor]]


@runtime_checkable
class ClassMapModel(Protocol):
    """A model that returns its raw class maps explicitly, by branch name.

    ``class_maps(images, labels)`` returns a mapping from branch name to raw class maps of
    shape ``(N, C, h, w)`` (no ReLU, no normalisation); ``labels`` ``(N, C)`` name the classes
    asked for (SeeNet builds its ternary mask from them).

    Examples
    --------
    >>> class Maps(nn.Module):
    ...     def class_maps(self, images, labels=None):
    ...         return {"cam": images[:, :2]}
    >>> isinstance(Maps(), ClassMapModel), isinstance(nn.Linear(1, 1), ClassMapModel)
    (True, False)
    """

    def class_maps(self, images: Tensor, labels: Tensor | None = None) -> Mapping[str, Tensor]:
        """Raw class maps ``(N, C, h, w)`` per branch; ``labels`` ``(N, C)`` name the classes."""
        ...


@dataclass(frozen=True)
class AttentionMaps:
    """Normalised attention at image resolution.

    Attributes
    ----------
    fused
        ``(N, C, H, W)`` in [0, 1] (float32 unless the model computes in float64): the maximum
        over the selected branches; zero for classes that were not asked for.
    branches
        Each selected branch's normalised maps, ``(N, C, H, W)``, by branch name.

    Examples
    --------
    >>> class FirstChannels(nn.Module):  # class maps: the first two image channels
    ...     def class_maps(self, images, labels=None):
    ...         return {"cam": images[:, :2]}
    >>> images = torch.tensor([[[[0.0, 2.0, 4.0]], [[1.0, 1.0, 1.0]], [[5.0, 5.0, 5.0]]]])
    >>> att = CAMExtractor(FirstChannels(), eps=0.0)(images, torch.tensor([[1, 0]]))
    >>> att.fused.shape, list(att.branches)
    (torch.Size([1, 2, 1, 3]), ['cam'])
    >>> att.fused[0, :, 0]  # class 0 divided by its maximum; class 1 was not asked for
    tensor([[0.0000, 0.5000, 1.0000],
            [0.0000, 0.0000, 0.0000]])
    """

    fused: Tensor
    branches: Mapping[str, Tensor] = field(default_factory=dict)


@contextlib.contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for a block, then restore every submodule's own mode.

    Examples
    --------
    >>> net = nn.Sequential(nn.Dropout(), nn.Dropout()).train()
    >>> net[1].eval()  # doctest: +ELLIPSIS
    Dropout(...)
    >>> with evaluating(net):
    ...     print(net[0].training)
    False
    >>> net[0].training, net[1].training
    (True, False)
    """
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        yield model
    finally:
        for module, mode in modes:
            module.training = mode


class _Captured:
    value: Tensor | None = None


@contextlib.contextmanager
def capture_output(layer: nn.Module) -> Iterator[_Captured]:
    """Record ``layer``'s output in ``.value`` during a block; the hook is always removed.

    Examples
    --------
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    >>> with capture_output(net[0]) as seen:
    ...     _ = net(torch.zeros(1, 2))
    >>> seen.value.shape, len(net[0]._forward_hooks)
    (torch.Size([1, 3]), 0)
    """
    captured = _Captured()

    def hook(module: nn.Module, inputs: object, output: Tensor) -> None:
        captured.value = output

    handle = layer.register_forward_hook(hook)
    try:
        yield captured
    finally:
        handle.remove()


def _classifier_weight(classifier: nn.Module) -> tuple[Tensor, Tensor | None]:
    if isinstance(classifier, nn.Linear):
        return classifier.weight[:, :, None, None], classifier.bias
    if isinstance(classifier, nn.Conv2d) and classifier.kernel_size == (1, 1):
        return classifier.weight, classifier.bias
    raise TypeError(
        f"classifier: expected nn.Linear or a 1x1 nn.Conv2d, got {type(classifier).__name__}"
    )


def _submodule(model: nn.Module, name: str, value: object) -> nn.Module:
    """``value`` itself if it is a module, or ``model``'s submodule of that name."""
    if isinstance(value, str):
        try:
            return model.get_submodule(value)
        except AttributeError:
            names = [n for n, _ in model.named_modules() if n][:12]
            raise ValueError(
                f"{name}: the model has no submodule {value!r}; it has {names}"
            ) from None
    if not isinstance(value, nn.Module):
        raise TypeError(f"{name}: expected an nn.Module or its name, got {type(value).__name__}")
    return value


def _fuse(a: Tensor, b: Tensor, how: Fusion) -> Tensor:
    return torch.maximum(a, b) if how == "max" else a + b


def _normalize(maps: Tensor, how: Normalization, eps: float) -> Tensor:
    # A map that is all zero (max == min) gives 0, never NaN, even with eps == 0.
    flat = maps.flatten(2)
    tiny = torch.finfo(maps.dtype).tiny
    hi = flat.amax(dim=2, keepdim=True)
    if how == "max":
        return (flat / (hi + eps).clamp_min(tiny)).view_as(maps)
    lo = flat.amin(dim=2, keepdim=True)
    return ((flat - lo) / (hi - lo + eps).clamp_min(tiny)).view_as(maps)


class CAMExtractor:
    """Attention maps at input resolution for the classes asked for, with flip and scales.

    Parameters
    ----------
    model
        A module with ``class_maps(images, labels) -> {branch: (N, C, h, w)}`` (see
        :class:`ClassMapModel`); for other classifiers use :meth:`from_classifier`.
    branches
        Names of the branches fused by maximum (``None``: all that the model returns). For
        SeeNet, ``("a",)`` gives S_A alone and ``("a", "b")`` gives ``max(S_A, S_B)``.
    scales
        Input scales; :data:`FIELD_SCALES` is the field's ``(1.0, 0.5, 1.5, 2.0)``.
    flip
        Also run the horizontally flipped images.
    flip_fusion
        How the maps of an image and of its mirror image (flipped back) are combined: ``"max"``
        (SeeNet) or ``"sum"`` (IRN/PSA). Used only with ``flip=True``; applied within each
        scale to the raw maps (ReLU-ed, upsampled to the input size), before normalisation.
    scale_fusion
        How the maps of the different ``scales`` are combined: ``"sum"`` (the field's multi-scale
        inference) or ``"max"``; applied after the flip fusion, before normalisation.
    normalization
        ``"max"`` (divide by the spatial maximum, the field's convention) or ``"minmax"``.
    interpolation
        ``"bilinear"`` (default) or ``"bicubic"`` (the released SeeNet code) for the upsampling.
    amp_dtype
        If set (e.g. ``torch.bfloat16`` on CUDA), run the forward passes under
        :class:`torch.autocast`; maps are fused in float32. Leave ``None`` on CPU, where bf16 is
        slow.
    eps
        Added to normalisation denominators.

    Examples
    --------
    >>> from wsss import SelfErasingHead
    >>> class Tiny(nn.Module):  # any model with class_maps() works
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.stem = nn.Conv2d(3, 8, 3, stride=4, padding=1)
    ...         self.head = SelfErasingHead(8, num_classes=4, hidden_channels=8)
    ...     def class_maps(self, images, labels=None):
    ...         out = self.head(torch.relu(self.stem(images)), labels)
    ...         return {"a": out.maps_a, "b": out.maps_b}
    >>> _ = torch.manual_seed(0)
    >>> extractor = CAMExtractor(Tiny(), scales=(1.0, 0.5), flip=True)
    >>> att = extractor(torch.rand(2, 3, 32, 48), torch.tensor([[1, 0, 0, 1], [0, 1, 0, 0]]))
    >>> att.fused.shape, sorted(att.branches)
    (torch.Size([2, 4, 32, 48]), ['a', 'b'])
    >>> float(att.fused[0, 1].abs().max())  # a class that was not asked for
    0.0
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        branches: Sequence[str] | None = None,
        scales: Sequence[float] = (1.0,),
        flip: bool = False,
        flip_fusion: Fusion = "max",
        scale_fusion: Fusion = "sum",
        normalization: Normalization = "max",
        interpolation: Literal["bilinear", "bicubic"] = "bilinear",
        amp_dtype: torch.dtype | None = None,
        eps: float = 1e-5,
        _class_maps: ClassMapFn | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
        if _class_maps is None:
            if not isinstance(model, ClassMapModel):
                raise TypeError(
                    "model: it has no class_maps(images, labels) method; use "
                    "CAMExtractor.from_classifier(model, feature_layer, classifier)"
                )
            _class_maps = model.class_maps
        scales = check_reals("scales", scales, minimum=0.0, exclusive_minimum=True)
        flip = check_bool("flip", flip)
        for arg, value, allowed in (
            ("flip_fusion", flip_fusion, ("max", "sum")),
            ("scale_fusion", scale_fusion, ("max", "sum")),
            ("normalization", normalization, ("max", "minmax")),
            ("interpolation", interpolation, ("bilinear", "bicubic")),
        ):
            check_choice(arg, value, allowed)
        if branches is not None:
            if isinstance(branches, (str, bytes)) or not isinstance(branches, Sequence):
                raise TypeError(
                    f"branches: expected a sequence of branch names or None, got "
                    f"{type(branches).__name__}"
                )
            branches = tuple(branches)
            if not branches:
                raise ValueError("branches: name at least one branch, or pass None for all")
            if not all(isinstance(b, str) for b in branches):
                raise TypeError(f"branches: expected branch names (str), got {branches!r}")
        if amp_dtype is not None and not (
            isinstance(amp_dtype, torch.dtype) and amp_dtype.is_floating_point
        ):
            raise TypeError(
                f"amp_dtype: expected None or a floating torch.dtype, got {amp_dtype!r}"
            )
        eps = check_eps("eps", eps)
        self.model = model
        self.branches = branches
        self.scales = scales
        self.flip = flip
        self.flip_fusion: Fusion = flip_fusion
        self.scale_fusion: Fusion = scale_fusion
        self.normalization: Normalization = normalization
        self.interpolation = interpolation
        self.amp_dtype = amp_dtype
        self.eps = eps
        self._class_maps = _class_maps

    @classmethod
    def from_classifier(
        cls,
        model: nn.Module,
        feature_layer: nn.Module | str,
        classifier: nn.Module | str,
        *,
        include_bias: bool = False,
        **kwargs: object,
    ) -> CAMExtractor:
        """Plain CAM for any classifier: ``CAM_c = sum_k w_ck F_k`` (Zhou et al. 2016).

        Parameters
        ----------
        model
            The classifier; ``model(images)`` must run the feature layer.
        feature_layer
            The module (or its name in ``model``) whose output are the features ``(N, K, h, w)``
            that the classifier pools.
        classifier
            The ``nn.Linear(K, C)`` or 1x1 ``nn.Conv2d(K, C)`` (or its name) after pooling.
        include_bias
            Add the classifier's bias to the maps (not part of the original CAM).
        **kwargs
            The other :class:`CAMExtractor` arguments.

        Examples
        --------
        >>> net = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), nn.ReLU(),
        ...                     nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 2))
        >>> cam = CAMExtractor.from_classifier(net, net[1], net[4], flip=True)
        >>> cam(torch.rand(1, 3, 8, 8), torch.tensor([[0, 1]])).fused.shape
        torch.Size([1, 2, 8, 8])
        """
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
        feature_layer = _submodule(model, "feature_layer", feature_layer)
        classifier = _submodule(model, "classifier", classifier)
        weight, bias = _classifier_weight(classifier)
        include_bias = check_bool("include_bias", include_bias)
        layer = feature_layer

        def class_maps(images: Tensor, labels: Tensor) -> dict[str, Tensor]:
            with capture_output(layer) as captured:
                model(images)
            feats = captured.value
            if not isinstance(feats, Tensor) or feats.ndim != 4:
                raise ValueError(
                    "feature_layer: its output must be a (N, K, h, w) tensor, got "
                    f"{getattr(feats, 'shape', type(feats).__name__)}"
                )
            if feats.shape[1] != weight.shape[1]:
                raise ValueError(
                    f"classifier: it takes {weight.shape[1]} features, the feature layer gives "
                    f"{feats.shape[1]} channels"
                )
            w = weight.to(feats.dtype)
            b = bias.to(feats.dtype) if include_bias and bias is not None else None
            return {"cam": F.conv2d(feats, w, b)}

        return cls(model, _class_maps=class_maps, **kwargs)  # type: ignore[arg-type]

    def _run(self, images: Tensor, present: Tensor) -> Mapping[str, Tensor]:
        if self.amp_dtype is None:
            return self._class_maps(images, present)
        with torch.autocast(images.device.type, dtype=self.amp_dtype):
            return self._class_maps(images, present)

    def __call__(self, images: Tensor, labels: Tensor) -> AttentionMaps:
        """Attention maps for ``images`` ``(N, 3, H, W)`` and the classes ``labels`` ``(N, C)``.

        The model runs in evaluation mode without gradients, once per scale (on the image and,
        with ``flip``, its mirror image in the same batch); the model's training mode is
        restored afterwards.

        Parameters
        ----------
        images
            Float images ``(N, 3, H, W)``, normalised the way the model expects; moved to the
            model's device and dtype.
        labels
            Multi-hot image labels ``(N, C)`` (bool, or integers / floats that are 0 or 1;
            every image names at least one class): the classes to compute maps for. They are
            passed on to the model's ``class_maps`` (SeeNet builds its ternary mask from them).

        Returns
        -------
        AttentionMaps
            ``fused`` and per-branch maps of shape ``(N, C, H, W)`` in [0, 1], zero for classes
            not asked for.
        """
        check_float_tensor("images", images, 4)
        n, _, height, width = images.shape
        if n == 0 or height == 0 or width == 0:
            raise ValueError(
                f"images: expected a non-empty batch (N, 3, H, W), got shape {tuple(images.shape)}"
            )
        present = check_labels("labels", labels, n, None)
        params = next(self.model.parameters(), None)
        device = params.device if params is not None else images.device
        # the model's own precision (autocast, when asked for, picks the compute dtype itself)
        dtype = params.dtype if params is not None and params.is_floating_point() else None
        images = images.to(device, dtype if self.amp_dtype is None else None)
        if not bool(torch.isfinite(images).all()):
            raise ValueError(f"images: values overflow the model's dtype {images.dtype}")
        present = present.to(device)
        wanted = present.any(dim=0).nonzero().flatten()  # classes some image asks for
        accumulated: dict[str, Tensor] = {}
        with evaluating(self.model), torch.inference_mode():
            for scale in self.scales:
                x = images
                if scale != 1.0:
                    size = (max(1, round(height * scale)), max(1, round(width * scale)))
                    if max(size) > MAX_SIDE:
                        raise ValueError(
                            f"scales: scale {scale} makes a {size[0]}x{size[1]} input, larger "
                            f"than {MAX_SIDE} px"
                        )
                    x = F.interpolate(images, size=size, mode="bilinear", align_corners=False)
                y = present
                if self.flip:
                    x, y = torch.cat([x, x.flip(-1)]), torch.cat([present, present])
                maps = self._run(x, y)
                names = self.branches if self.branches is not None else tuple(maps)
                for name in names:
                    if name not in maps:
                        raise ValueError(
                            f"branches: the model has no branch {name!r}; it returns {sorted(maps)}"
                        )
                    raw = maps[name]
                    if raw.ndim != 4 or raw.shape[:2] != (x.shape[0], present.shape[1]):
                        raise ValueError(
                            f"labels: the model's {name!r} maps have shape {tuple(raw.shape)}, "
                            f"expected ({x.shape[0]}, {present.shape[1]}, h, w)"
                        )
                    raw = raw[:, wanted]
                    if raw.dtype in (torch.float16, torch.bfloat16):
                        raw = raw.float()
                    up = F.interpolate(
                        raw,
                        size=(height, width),
                        mode=self.interpolation,
                        align_corners=False,
                    ).clamp_min(0)
                    if self.flip:
                        up = _fuse(up[:n], up[n:].flip(-1), self.flip_fusion)
                    previous = accumulated.get(name)
                    accumulated[name] = (
                        up if previous is None else _fuse(previous, up, self.scale_fusion)
                    )
        keep = present[:, wanted, None, None].float()
        branches = {}
        for name, branch_maps in accumulated.items():
            full = branch_maps.new_zeros((n, present.shape[1], height, width))
            full[:, wanted] = _normalize(branch_maps, self.normalization, self.eps) * keep
            branches[name] = full
        fused = torch.stack(list(branches.values())).amax(dim=0)
        return AttentionMaps(fused=fused, branches=branches)
