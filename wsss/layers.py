"""SeeNet's layers: the conditional ReLU and the self-erasing head.

What they compute, with the formulas: :ref:`How SeeNet works, sections 2 <seenet-conditional-relu>`
and :ref:`3 <seenet-branches>`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._validation import (
    MAX_CHANNELS,
    check_bool,
    check_dropout,
    check_float_tensor,
    check_init_std,
    check_int,
    check_labels,
    check_thresholds,
)
from .masks import ternary_mask

__all__ = [
    "ConditionalReLU",
    "SeeNetOutput",
    "SelfErasingHead",
    "conditional_relu",
    "init_head_",
]


def _mask_like(name: str, mask: Tensor, x: Tensor) -> Tensor:
    """Return ``mask`` as ``(N, 1, H, W)`` in ``x``'s dtype and size (nearest resize), detached."""
    if not isinstance(mask, Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(mask).__name__}")
    if mask.ndim == 3:
        mask = mask[:, None]
    elif mask.ndim != 4 or mask.shape[1] != 1:
        raise ValueError(
            f"{name}: expected shape (N, H, W) or (N, 1, H, W), got {tuple(mask.shape)}"
        )
    if mask.shape[0] != x.shape[0]:
        raise ValueError(f"{name}: batch size {mask.shape[0]} does not match x's {x.shape[0]}")
    if mask.is_complex():
        raise TypeError(f"{name}: complex dtype {mask.dtype} is not supported")
    mask = mask.detach().to(dtype=x.dtype, device=x.device)
    if not bool(torch.isfinite(mask).all()):
        raise ValueError(f"{name}: contains NaN or infinite values")
    if mask.shape[-2:] != x.shape[-2:]:
        if 0 in mask.shape[-2:] or 0 in x.shape[-2:]:
            raise ValueError(
                f"{name}: spatial size {tuple(mask.shape[-2:])} cannot be resized to x's "
                f"{tuple(x.shape[-2:])}"
            )
        mask = F.interpolate(mask, size=x.shape[-2:], mode="nearest")
    return mask


def conditional_relu(x: Tensor, mask: Tensor) -> Tensor:
    """Conditional ReLU: ``C-ReLU(x) = max(x, 0) * B`` with ``B`` broadcast over channels.

    With SeeNet's ternary mask, one operation erases the attention zone (``B = 0``), reverses
    the background zone (``B = -1``) and passes the potential zone (``B = +1``). The mask carries
    no gradient; the gradient with respect to ``x`` is ``B * 1[x > 0]`` at every channel and
    position.

    Parameters
    ----------
    x
        Features of shape ``(N, K, H, W)``, floating point.
    mask
        ``B`` of shape ``(N, H', W')`` or ``(N, 1, H', W')``; resized (nearest) to ``(H, W)``
        when the sizes differ.

    Returns
    -------
    Tensor
        Shape ``(N, K, H, W)``.

    Examples
    --------
    >>> x = torch.tensor([[[[1.0, -2.0, 3.0]], [[4.0, 5.0, -6.0]]]])
    >>> conditional_relu(x, torch.tensor([[[0.0, 1.0, -1.0]]]))
    tensor([[[[ 0.,  0., -3.]],
    <BLANKLINE>
             [[ 0.,  5., -0.]]]])
    """
    check_float_tensor("x", x, 4)
    return torch.relu(x) * _mask_like("mask", mask, x)


class ConditionalReLU(nn.Module):
    """Module form of :func:`conditional_relu`; it has no parameters.

    Examples
    --------
    >>> layer = ConditionalReLU()
    >>> layer(torch.ones(1, 2, 2, 2), -torch.ones(1, 2, 2)).sum()
    tensor(-8.)
    """

    def __init__(self) -> None:
        super().__init__()

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """``conditional_relu(x, mask)``: features ``(N, K, H, W)``, mask ``(N, H', W')``."""
        return conditional_relu(x, mask)


@dataclass(frozen=True)
class SeeNetOutput:
    """What :class:`SelfErasingHead` computes for a batch.

    Attributes
    ----------
    logits_a, logits_b, logits_c
        Image-level logits of the branches S_A, S_B and S_C, shape ``(N, C)`` (global average
        pooling of the class maps). ``logits_c`` is ``None`` when the head has no S_C
        (``background_branch=False``); :func:`~wsss.seenet_loss` then has no term ``c``.
    maps_a, maps_b
        Raw class maps of S_A and S_B, shape ``(N, C, h, w)`` (no ReLU, no normalisation).
    mask
        The ternary mask built from ``maps_a``, shape ``(N, h, w)``, values in {-1, 0, +1}.

    All tensors have the features' dtype.

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> head = SelfErasingHead(4, num_classes=2, hidden_channels=4)
    >>> out = head(torch.rand(1, 4, 3, 3), torch.tensor([[1, 0]]))
    >>> out.logits_c.shape, out.maps_b.shape, out.mask.shape
    (torch.Size([1, 2]), torch.Size([1, 2, 3, 3]), torch.Size([1, 3, 3]))
    >>> set(out.mask.unique().tolist()) <= {-1.0, 0.0, 1.0}
    True
    """

    logits_a: Tensor
    logits_b: Tensor
    logits_c: Tensor | None
    maps_a: Tensor
    maps_b: Tensor
    mask: Tensor


def init_head_(module: nn.Module, init_std: float | None = 0.01) -> None:
    """Initialise the new layers of a head in place (zero biases).

    ``init_std`` given: every convolution gets Gaussian weights with that std (the paper's 0.01,
    meant for 512-channel heads on ImageNet-initialised backbones). ``None``: the 3x3 convolutions
    get Kaiming-normal weights (fan-in, ReLU) and the 1x1 classifiers std 0.01; use it for narrow
    heads trained from scratch, where std 0.01 shrinks every activation about fourfold per layer.

    Examples
    --------
    >>> conv = nn.Conv2d(64, 64, 3)
    >>> init_head_(conv, None)
    >>> round(float(conv.weight.detach().std()) * (9 * 64) ** 0.5 / 2 ** 0.5, 1)
    1.0
    """
    if not isinstance(module, nn.Module):
        raise TypeError(f"module: expected an nn.Module, got {type(module).__name__}")
    init_std = check_init_std(init_std)
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            if init_std is None and m.kernel_size != (1, 1):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            else:
                nn.init.normal_(m.weight, std=0.01 if init_std is None else init_std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _branch(in_channels: int, hidden: int, num_classes: int, dropout: float) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(in_channels, hidden, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(hidden, hidden, 3, padding=1),
        nn.ReLU(inplace=True),
    ]
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    layers.append(nn.Conv2d(hidden, num_classes, 1))
    return nn.Sequential(*layers)


class SelfErasingHead(nn.Module):
    """SeeNet's three branches on top of backbone features ``F``.

    See :ref:`How SeeNet works, section 3 <seenet-branches>`.

    - S_A: ``conv3x3 - ReLU - conv3x3 - ReLU - Dropout - conv1x1`` gives class maps ``Z_A``
      and logits ``s_A = GAP(Z_A)``.
    - The ternary mask ``T`` is built from ``Z_A`` and the labels (:func:`~wsss.ternary_mask`),
      one mask per sample, without gradient.
    - S_B: the same layers without dropout on ``C-ReLU(F, T)``: maps ``Z_B``, logits ``s_B``.
    - S_C: S_B's weights (unless ``share_weights=False``) on the background features
      ``F * 1[T = -1]``: logits ``s_C``, trained towards "no class" by :func:`~wsss.seenet_loss`.

    Three switches give the ablations of SeeNet's design (the defaults are the paper's model,
    and leave its outputs bit for bit unchanged):

    - ``background_branch=False``: no S_C at all (no layers, ``logits_c is None``, no loss term
      ``c``);
    - ``reverse_background=False``: S_B sees ``C-ReLU(F, T')`` with ``T' = 0`` in the attention
      zone and ``+1`` elsewhere: plain erasing, the background zone is passed, not reversed.
      S_C still sees the background zone ``T = -1`` unless it is switched off too. Setting
      ``delta_l=0`` instead removes the background zone itself (``M < 0`` never holds), so S_B
      erases plainly and S_C sees all-zero features;
    - ``share_weights=False``: S_C gets weights of its own instead of S_B's.

    New layers are initialised from a Gaussian with std 0.01 and zero bias.

    Parameters
    ----------
    in_channels
        Channels ``K`` of the features.
    num_classes
        Foreground classes ``C`` (no background channel).
    hidden_channels
        Width of the two 3x3 convolutions of each branch.
    delta_h, delta_l
        Ternary-mask thresholds, ``delta_l < delta_h``.
    dropout
        Dropout probability in S_A (0 disables it).
    share_weights
        S_C uses S_B's weights (the paper). ``False`` gives S_C weights of its own.
    background_branch
        Build and run S_C (the paper). ``False`` drops it: ``logits_c`` is ``None``.
    reverse_background
        S_B sees the background zone reversed (``x -1``, the paper). ``False``: passed (``x 1``).
    init_std
        Std of the Gaussian init of the new layers (the paper: 0.01); ``None`` for Kaiming
        init of the 3x3 convolutions, better for narrow heads trained from scratch (see
        :func:`init_head_`).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> head = SelfErasingHead(8, num_classes=3, hidden_channels=4)
    >>> out = head(torch.rand(2, 8, 5, 5), torch.tensor([[1, 0, 0], [0, 1, 1]]))
    >>> out.logits_a.shape, out.maps_b.shape, out.mask.shape
    (torch.Size([2, 3]), torch.Size([2, 3, 5, 5]), torch.Size([2, 5, 5]))
    >>> head.branch_c is head.branch_b
    True
    >>> plain = SelfErasingHead(8, 3, hidden_channels=4, background_branch=False)
    >>> plain.branch_c is None, plain(torch.rand(1, 8, 5, 5), torch.tensor([[1, 0, 0]])).logits_c
    (True, None)
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        *,
        hidden_channels: int = 512,
        delta_h: float = 0.7,
        delta_l: float = 0.05,
        dropout: float = 0.5,
        share_weights: bool = True,
        init_std: float | None = 0.01,
        background_branch: bool = True,
        reverse_background: bool = True,
    ) -> None:
        super().__init__()
        for arg, value in (
            ("in_channels", in_channels),
            ("num_classes", num_classes),
            ("hidden_channels", hidden_channels),
        ):
            check_int(arg, value, minimum=1, maximum=MAX_CHANNELS)
        check_thresholds(delta_h, delta_l)
        dropout = check_dropout(dropout)
        share_weights = check_bool("share_weights", share_weights)
        init_std = check_init_std(init_std)
        self.num_classes = num_classes
        self.delta_h = float(delta_h)
        self.delta_l = float(delta_l)
        self.share_weights = share_weights
        self.background_branch = bool(background_branch)
        self.reverse_background = bool(reverse_background)
        self.branch_a = _branch(in_channels, hidden_channels, num_classes, dropout)
        self.branch_b = _branch(in_channels, hidden_channels, num_classes, 0.0)
        self.branch_c: nn.Module | None
        if not self.background_branch:
            self.branch_c = None
        elif share_weights:
            self.branch_c = self.branch_b
        else:
            self.branch_c = _branch(in_channels, hidden_channels, num_classes, 0.0)
        init_head_(self, init_std)

    def extra_repr(self) -> str:
        text = (
            f"num_classes={self.num_classes}, delta_h={self.delta_h}, delta_l={self.delta_l}, "
            f"share_weights={self.share_weights}"
        )
        if not self.background_branch:
            text += ", background_branch=False"
        if not self.reverse_background:
            text += ", reverse_background=False"
        return text

    def _erasing_mask(self, mask: Tensor) -> Tensor:
        """The mask S_B's conditional ReLU uses: ``mask``, or with ``-1`` turned into ``+1``."""
        if self.reverse_background:
            return mask
        return mask.abs()  # {-1, 0, +1} -> {1, 0, 1}: plain erasing of the attention zone

    @staticmethod
    def predicted_classes(logits: Tensor) -> Tensor:
        """Classes with ``sigmoid(logit) > 0.5`` plus the top-scoring one, ``(N, C)`` bool."""
        present = logits > 0
        present[torch.arange(logits.shape[0], device=logits.device), logits.argmax(1)] = True
        return present

    def _check_features(self, features: Tensor) -> None:
        """``features`` must fit the first convolution (channels, dtype) and not be empty."""
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

    def _attend(self, features: Tensor, labels: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        """S_A's maps ``Z_A``, its logits and the ternary mask built from them."""
        self._check_features(features)
        maps_a = self.branch_a(features)
        logits_a = maps_a.mean(dim=(2, 3))
        if labels is None:
            present = self.predicted_classes(logits_a.detach())
        else:
            present = check_labels("labels", labels, features.shape[0], self.num_classes)
        mask = ternary_mask(
            maps_a.detach(), present, delta_h=self.delta_h, delta_l=self.delta_l
        ).to(features.dtype)
        return maps_a, logits_a, mask

    def forward(self, features: Tensor, labels: Tensor | None = None) -> SeeNetOutput:
        """Run S_A, build the ternary mask, run S_B and S_C.

        Parameters
        ----------
        features
            Backbone features ``F`` of shape ``(N, K, h, w)``.
        labels
            Multi-hot classes ``(N, C)`` the mask is built from: the ground truth during
            training, the classes the caller asks for at inference. ``None`` uses the classes
            S_A predicts (see :meth:`predicted_classes`).
        """
        maps_a, logits_a, mask = self._attend(features, labels)
        erased = conditional_relu(features, self._erasing_mask(mask))
        logits_c: Tensor | None = None
        if self.branch_c is None:
            maps_b = self.branch_b(erased)
        else:
            background = features * (mask == -1).unsqueeze(1).to(features.dtype)
            if self.branch_c is self.branch_b:
                maps_b, maps_c = self.branch_b(torch.cat([erased, background])).chunk(2)
            else:
                maps_b, maps_c = self.branch_b(erased), self.branch_c(background)
            logits_c = maps_c.mean(dim=(2, 3))
        return SeeNetOutput(
            logits_a=logits_a,
            logits_b=maps_b.mean(dim=(2, 3)),
            logits_c=logits_c,
            maps_a=maps_a,
            maps_b=maps_b,
            mask=mask,
        )

    def class_maps(
        self, features: Tensor, labels: Tensor | None = None, *, mask: Tensor | None = None
    ) -> dict[str, Tensor]:
        """Raw class maps of S_A and S_B, ``{"a": Z_A, "b": Z_B}``, without running S_C.

        The same ``Z_A`` and ``Z_B`` as :meth:`forward` (arguments alike), for what attention
        maps need at inference (:ref:`How SeeNet works, section 5 <seenet-inference>`): S_C
        only serves the training loss, and
        skipping it saves a third of the head's cost.

        ``mask`` replaces the ternary mask built from S_A's maps with the caller's, ``(N, h, w)``
        with values in ``{-1, 0, 1}`` (any mask :func:`conditional_relu` takes): S_B then sees
        ``C-ReLU(F, mask)``. It serves ablations, such as erasing a known part instead of S_A's
        attention zone (as :func:`wsss.diagnostics.erasing_ablation` does). ``labels`` still
        choose the classes of S_A's maps. A given ``mask`` is used as is, also when
        ``reverse_background=False``.

        Examples
        --------
        >>> _ = torch.manual_seed(0)
        >>> head = SelfErasingHead(8, num_classes=3, hidden_channels=4).eval()
        >>> f, y = torch.rand(2, 8, 5, 5), torch.tensor([[1, 0, 0], [0, 1, 1]])
        >>> maps = head.class_maps(f, y)
        >>> sorted(maps), bool(torch.allclose(maps["b"], head(f, y).maps_b, atol=1e-6))
        (['a', 'b'], True)
        >>> nothing_erased = torch.ones(2, 5, 5)
        >>> maps = head.class_maps(f, y, mask=nothing_erased)
        >>> bool(torch.allclose(maps["b"], head.branch_b(f.clamp_min(0)), atol=1e-6))
        True
        """
        maps_a, _, learned = self._attend(features, labels)
        erasing = self._erasing_mask(learned) if mask is None else mask
        return {"a": maps_a, "b": self.branch_b(conditional_relu(features, erasing))}
