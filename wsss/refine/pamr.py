"""PAMR: pixel-adaptive mask refinement (Araslanov and Roth, CVPR 2020).

Masks (class scores or attention) are repeatedly replaced by a weighted average of their values
at neighbouring pixels, with weights from the image: a neighbour of similar colour gets a high
weight, one across a colour edge almost none, so mask borders move to image edges.

For each dilation ``d`` in ``dilations``, the neighbours of pixel ``p`` are the eight pixels
``q = p + d (a, b)``, ``a, b in {-1, 0, 1}``, ``(a, b) != (0, 0)``; pixels outside the image
repeat the nearest border pixel (replicate padding), for the image and the masks alike. With
image channels ``I_k`` (``k = 1 .. K``):

.. math::

    \\sigma_{d,k}(p) = \\operatorname{std}\\{I_k(p), I_k(q) : q \\in N_d(p)\\}, \\qquad
    \\kappa_d(p, q) = -\\frac{1}{K} \\sum_k \\frac{|I_k(p) - I_k(q)|}{\\sigma_{d,k}(p) + \\epsilon}

.. math::

    \\alpha_d(p, q) = \\frac{\\exp \\kappa_d(p, q)}{\\sum_{q' \\in N_d(p)} \\exp \\kappa_d(p, q')},
    \\qquad
    m^{(t+1)}(p) = \\frac{1}{|D|} \\sum_{d \\in D} \\sum_{q \\in N_d(p)} \\alpha_d(p, q)\\,
                   m^{(t)}(q)

(the standard deviation is the population one over the nine pixels of the dilated 3x3 window;
the softmax runs over each dilation's eight neighbours, then the dilations are averaged, so the
weights of a pixel sum to 1). The update runs ``iterations`` times. The paper's settings are
dilations ``(1, 2, 4, 8, 12, 24)`` and 10 iterations, the defaults here.

The weights depend on the image only and carry no gradient; the refined masks are a linear
function of the input masks, and gradients flow through them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._validation import MAX_COUNT, MAX_SIDE, check_float_tensor, check_int

__all__ = ["PAMR", "PAMR_DILATIONS", "pamr", "pamr_affinities"]

#: The dilations of the paper.
PAMR_DILATIONS: tuple[int, ...] = (1, 2, 4, 8, 12, 24)

_OFFSETS = tuple((a, b) for a in (-1, 0, 1) for b in (-1, 0, 1) if (a, b) != (0, 0))


def _neighbours(x: Tensor, d: int) -> Tensor:
    """``(N, K, 8, H, W)``: ``x`` at ``p + d (a, b)`` for the eight offsets (replicate padding)."""
    h, w = x.shape[-2:]
    padded = F.pad(x, (d, d, d, d), mode="replicate")
    return torch.stack(
        [padded[..., d + a * d : d + a * d + h, d + b * d : d + b * d + w] for a, b in _OFFSETS],
        dim=2,
    )


def _check_dilations(dilations: Sequence[int]) -> tuple[int, ...]:
    if isinstance(dilations, (str, bytes)) or not isinstance(dilations, Sequence):
        raise TypeError(f"dilations: expected a sequence of ints, got {type(dilations).__name__}")
    values = tuple(dilations)
    if not values or any(
        isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values
    ):
        raise ValueError(f"dilations: expected one or more positive ints, got {dilations!r}")
    return tuple(check_int("dilations", v, maximum=MAX_SIDE) for v in values)


def _check_nonempty(name: str, x: Tensor, dims: str) -> None:
    if 0 in x.shape:
        raise ValueError(f"{name}: expected a non-empty {dims} tensor, got {tuple(x.shape)}")


def _check_eps(eps: float) -> float:
    if isinstance(eps, bool) or not isinstance(eps, (int, float)):
        raise TypeError(f"eps: expected a float, got {type(eps).__name__}")
    if not 0 < eps < float("inf"):
        raise ValueError(f"eps: expected a finite positive number, got {eps}")
    return float(eps)


@torch.no_grad()
def pamr_affinities(
    image: Tensor, dilations: Sequence[int] = PAMR_DILATIONS, *, eps: float = 1e-5
) -> Tensor:
    """PAMR's weights ``alpha_d(p, q) / |D|`` for every dilation and neighbour.

    Parameters
    ----------
    image
        ``(N, K, H, W)`` float, any colour space (e.g. the network's normalised input).
    dilations
        Neighbourhood dilations ``D``, positive ints.
    eps
        Added to the local standard deviation.

    Returns
    -------
    Tensor
        ``(N, |D|, 8, H, W)`` in the image's dtype (at least float32), no gradient: for each
        pixel, dilation and neighbour (offsets ``d (a, b)`` in row-major order of ``(a, b)``,
        the centre skipped) the weight of that neighbour. Each pixel's weights sum to 1.

    Examples
    --------
    >>> image = torch.zeros(1, 1, 3, 3)
    >>> image[..., 2] = 1.0  # a vertical edge before the last column
    >>> alpha = pamr_affinities(image, dilations=(1,))
    >>> alpha.shape, round(float(alpha[0, 0, :, 1, 1].sum()), 6)
    (torch.Size([1, 1, 8, 3, 3]), 1.0)
    >>> [round(v, 4) for v in alpha[0, 0, :, 1, 1].tolist()]  # low across the edge
    [0.1866, 0.1866, 0.0224, 0.1866, 0.0224, 0.1866, 0.1866, 0.0224]
    """
    check_float_tensor("image", image, 4)
    _check_nonempty("image", image, "(N, K, H, W)")
    dilations = _check_dilations(dilations)
    eps = _check_eps(eps)
    x = image.detach()
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    out = []
    for d in dilations:
        near = _neighbours(x, d)  # (N, K, 8, H, W)
        window = torch.cat([x.unsqueeze(2), near], dim=2)  # the nine pixels
        std = window.std(dim=2, unbiased=False, keepdim=True)
        kappa = -((x.unsqueeze(2) - near).abs() / (std + eps)).mean(dim=1)  # (N, 8, H, W)
        out.append(torch.softmax(kappa, dim=1))
    return torch.stack(out, dim=1) / len(dilations)


def pamr(
    image: Tensor,
    masks: Tensor,
    *,
    iterations: int = 10,
    dilations: Sequence[int] = PAMR_DILATIONS,
    eps: float = 1e-5,
) -> Tensor:
    """Refine ``masks`` with the image's local affinities (see the module docstring).

    Parameters
    ----------
    image
        ``(N, K, H, W)`` float (e.g. the normalised RGB input). Resized bilinearly to the
        masks' size when the sizes differ.
    masks
        ``(N, C, h, w)`` float: class scores, probabilities or attention maps.
    iterations
        Number of refinement steps (0 returns the masks unchanged).
    dilations
        Neighbourhood dilations (the paper's ``(1, 2, 4, 8, 12, 24)``).
    eps
        Added to the local standard deviation.

    Returns
    -------
    Tensor
        ``(N, C, h, w)`` in the masks' dtype. Each step is a convex combination of neighbouring
        values, so the refined masks stay within the input masks' range (per channel), and
        masks that sum to 1 over the channels still do.

    Examples
    --------
    >>> image = torch.zeros(1, 3, 1, 6)
    >>> image[..., 3:] = 1.0  # colour edge between columns 2 and 3
    >>> mask = torch.tensor([[[[1.0, 1.0, 0.0, 0.0, 0.0, 0.0]]]])  # ends one pixel early
    >>> refined = pamr(image, mask, iterations=20, dilations=(1,))
    >>> (refined > 0.5).int().flatten().tolist()
    [1, 1, 1, 0, 0, 0]
    """
    check_float_tensor("masks", masks, 4)
    check_float_tensor("image", image, 4)
    if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"iterations: expected a non-negative int, got {iterations!r}")
    check_int("iterations", iterations, maximum=MAX_COUNT)
    _check_nonempty("masks", masks, "(N, C, h, w)")
    if image.shape[0] != masks.shape[0]:
        raise ValueError(
            f"image: batch size {image.shape[0]} does not match the masks' {masks.shape[0]}"
        )
    _check_nonempty("image", image, "(N, K, H, W)")
    dilations = _check_dilations(dilations)
    image = image.detach().to(masks.device)
    if image.shape[-2:] != masks.shape[-2:]:
        work = torch.promote_types(image.dtype, torch.float32)
        image = F.interpolate(
            image.to(work), size=masks.shape[-2:], mode="bilinear", align_corners=False
        )
    alpha = pamr_affinities(image, dilations, eps=eps)  # (N, D, 8, h, w)
    work = torch.promote_types(masks.dtype, alpha.dtype)
    alpha = alpha.to(work).unsqueeze(1)  # (N, 1, D, 8, h, w)
    m = masks.to(work)
    for _ in range(iterations):
        near = torch.stack([_neighbours(m, d) for d in dilations], dim=2)  # (N, C, D, 8, h, w)
        m = (near * alpha).sum(dim=(2, 3))
    return m.to(masks.dtype)


class PAMR(nn.Module):
    """Module form of :func:`pamr`; it has no parameters.

    Parameters
    ----------
    iterations, dilations, eps
        As for :func:`pamr`.

    Examples
    --------
    >>> refine = PAMR(iterations=5, dilations=(1, 2))
    >>> refine
    PAMR(iterations=5, dilations=(1, 2), eps=1e-05)
    >>> refine(torch.rand(2, 3, 8, 8), torch.rand(2, 4, 8, 8)).shape
    torch.Size([2, 4, 8, 8])
    """

    def __init__(
        self,
        iterations: int = 10,
        dilations: Sequence[int] = PAMR_DILATIONS,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < 0:
            raise ValueError(f"iterations: expected a non-negative int, got {iterations!r}")
        check_int("iterations", iterations, maximum=MAX_COUNT)
        self.iterations = iterations
        self.dilations = _check_dilations(dilations)
        self.eps = _check_eps(eps)

    def extra_repr(self) -> str:
        return f"iterations={self.iterations}, dilations={self.dilations}, eps={self.eps}"

    def forward(self, image: Tensor, masks: Tensor) -> Tensor:
        return pamr(
            image, masks, iterations=self.iterations, dilations=self.dilations, eps=self.eps
        )
