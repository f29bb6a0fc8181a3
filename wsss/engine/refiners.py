"""Refining proxy labels: a dense CRF (the ``crf`` extra) or PAMR (pure torch).

A refiner sees one image and the class probabilities the labelling derived for it, and returns
refined probabilities of the same shape; :func:`~wsss.engine.labelling.generate_pseudo_labels`
turns them into labels. The probabilities (:func:`proxy_scores`) have one channel for the
background and one per class of the image:

- with saliency ``S`` (the saliency route), as in SeeNet's fusion: background ``1 - S``, class
  ``c`` the harmonic mean ``2 A_c S / (A_c + S)``;
- without (the threshold route): background ``1 - max_c A_c``, class ``c`` its attention
  ``A_c``;

each clipped at ``1e-5`` and normalised to sum to 1 over the channels.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..data.sample import Sample
from ..data.transforms import TORCHVISION, to_tensor
from ..refine import pamr

__all__ = ["REFINERS", "Refiner", "crf_refiner", "make_refiner", "pamr_refiner", "proxy_scores"]

#: ``refine(sample, probs) -> probs``: ``probs`` ``float32`` ``(1 + P, H, W)`` over the background
#: and the image's ``P`` classes.
Refiner = Callable[[Sample, np.ndarray], np.ndarray]

#: The refiners :func:`~wsss.engine.refiners.make_refiner` knows.
REFINERS = ("none", "crf", "pamr")


def proxy_scores(sample: Sample, attention: np.ndarray, *, saliency: bool) -> np.ndarray:
    """Background and class probabilities ``float32`` ``(1 + P, H, W)`` of one image.

    Parameters
    ----------
    sample
        The image's :class:`~wsss.data.Sample` (its ``classes``; its ``saliency`` when
        ``saliency=True``).
    attention
        ``(C, H, W)`` attention in [0, 1] for all ``C`` classes.
    saliency
        Use the sample's saliency map (the saliency route) or not (the threshold route).

    Examples
    --------
    >>> classes = np.array([0, 1], np.float32)
    >>> attention = np.array([[[0.0, 0.0]], [[0.75, 0.25]]], np.float32)
    >>> sample = Sample("img", np.zeros((1, 2, 3), np.uint8), classes)
    >>> proxy_scores(sample, attention, saliency=False).round(2).tolist()
    [[[0.25, 0.75]], [[0.75, 0.25]]]
    """
    present = np.flatnonzero(np.asarray(sample.classes) > 0)
    if present.size == 0:
        raise ValueError(f"sample: image {sample.name} names no class")
    att = np.clip(attention[present], 0.0, 1.0)
    if saliency:
        if sample.saliency is None:
            raise ValueError(f"sample: image {sample.name} has no saliency map")
        sal = np.clip(sample.saliency, 0.0, 1.0)
        scores = np.concatenate([(1 - sal)[None], 2 * att * sal / (att + sal + 1e-5)])
    else:
        scores = np.concatenate([(1 - att.max(0))[None], att])
    probs = np.clip(scores, 1e-5, None)
    return (probs / probs.sum(0, keepdims=True)).astype(np.float32)


def crf_refiner(params: object = None) -> Refiner:
    """A dense CRF (:func:`wsss.crf.dense_crf`, the ``crf`` extra) on the probabilities.

    Parameters
    ----------
    params
        A :class:`~wsss.crf.CRFParams`; ``None`` uses :data:`~wsss.crf.DEEPLAB_V1`.

    Examples
    --------
    A 2x4 image whose left half is an attended object:

    >>> classes = np.array([0, 1], np.float32)
    >>> image = np.zeros((2, 4, 3), np.uint8); image[:, :2] = 200
    >>> attention = np.zeros((2, 2, 4), np.float32); attention[1, :, :2] = 0.8
    >>> attention[1, 0, 2] = 0.6  # a stray attended pixel on the dark half
    >>> sample = Sample("img", image, classes)
    >>> probs = proxy_scores(sample, attention, saliency=False)
    >>> crf_refiner()(sample, probs).argmax(0)
    array([[1, 1, 0, 0],
           [1, 1, 0, 0]])
    """
    from ..crf import DEEPLAB_V1, dense_crf

    crf_params = params or DEEPLAB_V1

    def refine(sample: Sample, probs: np.ndarray) -> np.ndarray:
        return dense_crf(sample.image, probs, crf_params)  # type: ignore[arg-type]

    return refine


def pamr_refiner(iterations: int = 10, dilations: tuple[int, ...] = (1, 2, 4, 8)) -> Refiner:
    """PAMR (:func:`wsss.refine.pamr`) on the probabilities, with the image as guide.

    The defaults use the paper's 10 iterations and the smaller dilations, which suit images of
    a few hundred pixels; pass ``(1, 2, 4, 8, 12, 24)`` for the paper's.

    Examples
    --------
    A mask that stops two pixels short of a sharp colour edge grows to the edge:

    >>> image = np.zeros((1, 8, 3), np.uint8); image[:, :5] = 255  # edge after pixel 4
    >>> classes = np.array([1], np.float32)
    >>> attention = np.zeros((1, 1, 8), np.float32); attention[0, 0, :3] = 1.0
    >>> sample = Sample("img", image, classes)
    >>> probs = proxy_scores(sample, attention, saliency=False)
    >>> pamr_refiner(iterations=20)(sample, probs).argmax(0)
    array([[1, 1, 1, 1, 1, 0, 0, 0]])
    """

    def refine(sample: Sample, probs: np.ndarray) -> np.ndarray:
        image = to_tensor(sample.image, TORCHVISION)[None]
        with torch.no_grad():
            refined = pamr(image, torch.from_numpy(probs)[None], iterations=iterations,
                           dilations=dilations)
        return refined[0].numpy().astype(np.float32)

    return refine


def make_refiner(name: str) -> Refiner | None:
    """The refiner called ``name`` (one of :data:`REFINERS`; ``"none"`` gives ``None``).

    Examples
    --------
    >>> make_refiner("none") is None, callable(make_refiner("pamr"))
    (True, True)
    >>> make_refiner("bilateral")
    Traceback (most recent call last):
    ...
    ValueError: refine: expected one of ('none', 'crf', 'pamr'), got 'bilateral'
    """
    if name == "none":
        return None
    if name == "crf":
        return crf_refiner()
    if name == "pamr":
        return pamr_refiner()
    raise ValueError(f"refine: expected one of {REFINERS}, got {name!r}")
