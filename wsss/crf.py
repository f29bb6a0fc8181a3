"""Dense CRF refinement of class probabilities (Krähenbühl and Koltun, NeurIPS 2011).

The fully connected CRF minimises, over the labels ``x`` of all pixels ``i``,

.. math::

    E(x) = \\sum_i -\\log P_i(x_i)
        + \\sum_{i<j} [x_i \\ne x_j] \\Big(
          w_b \\exp\\big(-\\tfrac{|p_i - p_j|^2}{2\\theta_\\alpha^2}
                        - \\tfrac{|I_i - I_j|^2}{2\\theta_\\beta^2}\\big)
        + w_g \\exp\\big(-\\tfrac{|p_i - p_j|^2}{2\\theta_\\gamma^2}\\big) \\Big)

with positions ``p``, colours ``I``, the bilateral kernel (``w_b`` = ``bilateral_compat``,
``theta_alpha`` = ``bilateral_sxy``, ``theta_beta`` = ``bilateral_srgb``) and the Gaussian
smoothness kernel (``w_g`` = ``gaussian_compat``, ``theta_gamma`` = ``gaussian_sxy``), by
``iterations`` steps of mean-field inference. It snaps label borders to colour edges.

The solver is the C++ code of the authors, through ``pydensecrf2`` (the ``wsss[crf]`` extra; it
installs the module ``pydensecrf``). It is imported only when a CRF runs.
"""

from __future__ import annotations

import functools
import multiprocessing
import pickle
from collections.abc import Callable, Hashable, Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from ._validation import MAX_COUNT, check_bool, check_int, check_real

__all__ = [
    "CRF_PRESETS",
    "DEEPLAB_V1",
    "OAA",
    "CRFParams",
    "dense_crf",
    "refine_many",
]

_INSTALL_HINT = (
    "dense CRF needs the 'pydensecrf' module: pip install \"wsss[crf]\" (or pip install "
    "pydensecrf2). The original 'pydensecrf' package on PyPI does not build on current Python "
    "and Cython; pydensecrf2 is its maintained fork (same API), a source archive that pip "
    "compiles, so it needs a C++ compiler and the Python headers."
)

#: Largest allowed deviation of ``probs.sum(axis=0)`` from 1.
_SUM_TOLERANCE = 1e-3

#: Smallest kernel width (``*_sxy`` in pixels, ``bilateral_srgb`` in 0..255 colour units). The
#: solver's permutohedral lattice divides positions and colours by the widths: with widths of
#: 1e-6 (64 px images) to 1e-9 (4 px) pydensecrf crashes the process (segmentation fault or
#: abort). 0.1 keeps every tested size far from that (0.001 ran at 1024 px) and loses nothing: a
#: kernel 0.1 px wide already couples no two pixels (``exp(-1 / 0.02)``).
MIN_KERNEL_WIDTH = 0.1

#: Largest kernel weight: weights of 1e300 overflow the solver's float32 energies into NaN.
MAX_COMPAT = 1e6

#: Largest ``max(H, W) / sxy``: the lattice coordinate range the widths were tested with.
_MAX_LATTICE_EXTENT = 2**20


@dataclass(frozen=True)
class CRFParams:
    """Kernel parameters of the dense CRF (see the module docstring for the energy).

    The widths must be at least ``MIN_KERNEL_WIDTH`` (0.1): narrower kernels couple no pixels
    and crash the solver's process. The weights lie in ``[0, MAX_COMPAT]`` (1e6).

    Attributes
    ----------
    gaussian_sxy
        Spatial standard deviation of the smoothness kernel, in pixels (``theta_gamma``).
    gaussian_compat
        Weight of the smoothness kernel (``w_g``, Potts compatibility).
    bilateral_sxy
        Spatial standard deviation of the appearance kernel, in pixels (``theta_alpha``).
    bilateral_srgb
        Colour standard deviation of the appearance kernel, in 0..255 units (``theta_beta``).
    bilateral_compat
        Weight of the appearance kernel (``w_b``).
    iterations
        Mean-field iterations (0 returns the input, floored and renormalised).
    min_probability
        Floor applied before the unary ``-log(P)``, so that a zero probability stays finite.


    Examples
    --------
    >>> CRFParams(3, 3, 121, 5, 4, 10) == DEEPLAB_V1
    True
    >>> CRFParams(3, 3, 121, 5, 4, iterations=-1)
    Traceback (most recent call last):
    ...
    ValueError: iterations: must be >= 0, got -1
    >>> CRFParams(1e-9, 3, 121, 5, 4, 10)
    Traceback (most recent call last):
    ...
    ValueError: gaussian_sxy: must be >= 0.1, got 1e-09
    """

    gaussian_sxy: float
    gaussian_compat: float
    bilateral_sxy: float
    bilateral_srgb: float
    bilateral_compat: float
    iterations: int
    min_probability: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("gaussian_sxy", "bilateral_sxy", "bilateral_srgb"):
            check_real(name, getattr(self, name), minimum=MIN_KERNEL_WIDTH)
        for name in ("gaussian_compat", "bilateral_compat"):
            check_real(name, getattr(self, name), minimum=0.0, maximum=MAX_COMPAT)
        check_int("iterations", self.iterations, minimum=0, maximum=MAX_COUNT)
        check_real(
            "min_probability",
            self.min_probability,
            minimum=0.0,
            maximum=1.0,
            exclusive_minimum=True,
            exclusive_maximum=True,
        )


#: DeepLab v1 (Chen et al., ICLR 2015) defaults: Gaussian sxy 3 compat 3; bilateral sxy 121,
#: srgb 5, compat 4; 10 iterations.
DEEPLAB_V1 = CRFParams(3, 3, 121, 5, 4, 10)

#: The settings of the OAA release (Jiang et al., ICCV 2019; SeeNet's lab), file
#: ``examples/seg/utils.py``: Gaussian sxy 3 compat 1; bilateral sxy 67, srgb 4, compat 3;
#: 1 iteration; probabilities floored at 1e-4.
OAA = CRFParams(3, 1, 67, 4, 3, 1, min_probability=1e-4)

#: Presets by name, for command-line flags.
CRF_PRESETS: dict[str, CRFParams] = {"deeplab_v1": DEEPLAB_V1, "oaa": OAA}


def _import_densecrf() -> Any:
    """Import ``pydensecrf.densecrf``, or raise an ImportError that says how to install it."""
    try:
        import pydensecrf.densecrf as densecrf
    except ImportError as err:
        raise ImportError(_INSTALL_HINT) from err
    return densecrf


def _check_inputs(image: object, probs: object) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image: expected a numpy.ndarray, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise TypeError(f"image: expected dtype uint8 (0..255 RGB), got {image.dtype}")
    if image.ndim != 3 or image.shape[2] != 3 or 0 in image.shape[:2]:
        raise ValueError(f"image: expected shape (H, W, 3) with H, W >= 1, got {image.shape}")
    if isinstance(probs, torch.Tensor):
        probs = probs.detach().cpu().numpy()
    if not isinstance(probs, np.ndarray):
        raise TypeError(f"probs: expected a numpy.ndarray, got {type(probs).__name__}")
    if probs.dtype.kind != "f":
        raise TypeError(f"probs: expected a floating-point dtype, got {probs.dtype}")
    if probs.ndim != 3 or probs.shape[0] < 1:
        raise ValueError(f"probs: expected shape (K, H, W), got {probs.shape}")
    if probs.shape[1:] != image.shape[:2]:
        raise ValueError(
            f"probs: spatial size {probs.shape[1:]} does not match the image's {image.shape[:2]}"
        )
    if not np.isfinite(probs).all():
        raise ValueError("probs: contains NaN or infinite values")
    if probs.size and (probs.min() < 0 or probs.max() > 1):
        lo, hi = float(probs.min()), float(probs.max())
        raise ValueError(f"probs: values must lie in [0, 1], got range [{lo:.4g}, {hi:.4g}]")
    deviation = float(np.abs(probs.sum(axis=0, dtype=np.float64) - 1).max(initial=0))
    if deviation > _SUM_TOLERANCE:
        raise ValueError(
            f"probs: must sum to 1 over the K classes at every pixel (max deviation "
            f"{deviation:.3g}); apply a softmax or renormalise first"
        )
    return image, probs


def dense_crf(
    image: np.ndarray,
    probs: np.ndarray | torch.Tensor,
    params: CRFParams = DEEPLAB_V1,
) -> np.ndarray:
    """Refine per-pixel class probabilities with a fully connected CRF.

    Parameters
    ----------
    image
        ``(H, W, 3)`` uint8 RGB image (the bilateral kernel compares these colours).
    probs
        ``(K, H, W)`` float probabilities that sum to 1 over ``K`` at every pixel (e.g. a
        softmax, or fused background/foreground scores after renormalising).
    params
        Kernel parameters; :data:`DEEPLAB_V1` by default, see :data:`CRF_PRESETS`.

    Returns
    -------
    numpy.ndarray
        ``(K, H, W)`` float32 refined probabilities (the mean-field marginals), summing to 1 over
        ``K``. The unary is ``-log(max(probs, params.min_probability))``.

    Examples
    --------
    A black and a white half, each with one confident column (class 0 left, class 1 right) and
    no opinion (0.5) elsewhere: the CRF spreads each label over its own colour region.

    >>> image = np.zeros((4, 6, 3), np.uint8); image[:, 3:] = 255
    >>> probs = np.full((2, 4, 6), 0.5, np.float32)
    >>> probs[:, :, 0] = [[0.9], [0.1]]; probs[:, :, 5] = [[0.1], [0.9]]
    >>> probs.argmax(axis=0)[0].tolist()
    [0, 0, 0, 0, 0, 1]
    >>> refined = dense_crf(image, probs)
    >>> refined.shape, refined.dtype, bool(np.allclose(refined.sum(axis=0), 1, atol=1e-5))
    ((2, 4, 6), dtype('float32'), True)
    >>> refined.argmax(axis=0)[0].tolist()
    [0, 0, 0, 1, 1, 1]
    """
    image, probs = _check_inputs(image, probs)
    if not isinstance(params, CRFParams):
        raise TypeError(f"params: expected a CRFParams, got {type(params).__name__}")
    k, h, w = probs.shape
    extent = max(h, w) / min(params.gaussian_sxy, params.bilateral_sxy)
    if extent > _MAX_LATTICE_EXTENT:
        raise ValueError(
            f"params: a {h}x{w} image needs gaussian_sxy and bilateral_sxy >= "
            f"{max(h, w) / _MAX_LATTICE_EXTENT:.3g} px"
        )
    densecrf = _import_densecrf()
    floored = np.maximum(probs.astype(np.float32, copy=False), np.float32(params.min_probability))
    unary = np.ascontiguousarray(-np.log(floored).reshape(k, h * w), dtype=np.float32)
    crf = densecrf.DenseCRF2D(w, h, k)
    crf.setUnaryEnergy(unary)
    crf.addPairwiseGaussian(sxy=params.gaussian_sxy, compat=params.gaussian_compat)
    crf.addPairwiseBilateral(
        sxy=params.bilateral_sxy,
        srgb=params.bilateral_srgb,
        # pydensecrf needs a writable buffer: np.asarray(PIL image) is read-only
        rgbim=np.array(image, dtype=np.uint8, order="C", copy=True),
        compat=params.bilateral_compat,
    )
    marginals = np.asarray(crf.inference(params.iterations), dtype=np.float32)
    return marginals.reshape(k, h, w)


# --------------------------------------------------------------------------------------------
# Many images, several processes
# --------------------------------------------------------------------------------------------


def _refine_one(
    indexed_item: tuple[int, Any],
    *,
    params: CRFParams,
    loader: Callable[[Any], tuple[np.ndarray, np.ndarray]] | None,
    postprocess: Callable[[np.ndarray], Any] | None,
) -> Any:
    """Worker body: load (if a loader is given), refine, post-process one item."""
    index, item = indexed_item
    label = f"item {index}" if loader is None else f"item {index} ({item!r})"
    try:
        image, probs = loader(item) if loader is not None else item
        refined = dense_crf(image, probs, params)
        return refined if postprocess is None else postprocess(refined)
    except (ValueError, TypeError) as err:  # a bad item: the caller's input, named as such
        kind = ValueError if isinstance(err, ValueError) else TypeError
        raise kind(f"items: {label} is refused: {type(err).__name__}: {err}") from err
    except Exception as err:
        raise RuntimeError(f"refine_many: {label} failed: {type(err).__name__}: {err}") from err


def _check_picklable(name: str, fn: object) -> None:
    if fn is None:
        return
    if not callable(fn):
        raise TypeError(f"{name}: expected a callable, got {type(fn).__name__}")
    try:
        pickle.dumps(fn)
    except Exception as err:
        raise TypeError(
            f"{name}: must be picklable to reach worker processes (a module-level function or a "
            f"functools.partial of one, not a lambda or a nested function): {err}"
        ) from None


def refine_many(
    items: Iterable[tuple[np.ndarray, np.ndarray]] | Iterable[Hashable],
    params: CRFParams = DEEPLAB_V1,
    *,
    loader: Callable[[Any], tuple[np.ndarray, np.ndarray]] | None = None,
    postprocess: Callable[[np.ndarray], Any] | None = None,
    processes: int = 2,
    progress: bool = True,
    start_method: str | None = None,
) -> Iterator[Any]:
    """Run :func:`dense_crf` over many images with a pool of worker processes.

    Parameters
    ----------
    items
        Either ``(image, probs)`` pairs, or, with ``loader``, names (any picklable keys, e.g.
        image ids). Names are cheap to send to workers; big arrays are not, so for a dataset
        prefer names and a loader that reads the inputs from disk inside the worker.
    params
        CRF parameters, see :data:`CRF_PRESETS`.
    loader
        ``loader(name) -> (image, probs)``, called in the worker. It must be picklable: a
        module-level function or a :func:`functools.partial` of one (needed for the ``spawn``
        start method).
    postprocess
        Optional picklable ``f(refined_probs) -> result`` run in the worker, to send back
        something smaller than ``(K, H, W)`` float32, e.g.
        ``functools.partial(np.argmax, axis=0)``; or a function that writes a label file
        (through :func:`wsss.io.atomic_write`) and returns its path.
    processes
        Worker processes; ``1`` runs everything in this process (no pool).
    progress
        Show a tqdm progress bar.
    start_method
        ``"spawn"``, ``"fork"`` or ``"forkserver"``; ``None`` uses the platform default.

    Returns
    -------
    Iterator
        The refined probabilities (or ``postprocess`` results), lazily and **in input order**.
        The pool lives until the iterator is exhausted or closed; a failure names the item: a
        ``ValueError`` / ``TypeError`` starting ``items:`` for an item the checks refuse, a
        ``RuntimeError`` for any other failure (e.g. a file the loader cannot find).

    Examples
    --------
    >>> image = np.zeros((4, 6, 3), np.uint8)
    >>> probs = np.full((2, 4, 6), 0.5, np.float32)
    >>> out = list(refine_many([(image, probs)] * 2, processes=1, progress=False))
    >>> len(out), out[0].shape
    (2, (2, 4, 6))
    """
    if not isinstance(params, CRFParams):
        raise TypeError(f"params: expected a CRFParams, got {type(params).__name__}")
    if isinstance(items, (str, bytes)) or not isinstance(items, Iterable):
        raise TypeError(f"items: expected an iterable of items, got {type(items).__name__}")
    processes = check_int("processes", processes, minimum=1, maximum=1024)
    progress = check_bool("progress", progress)
    if start_method is not None and (
        not isinstance(start_method, str)
        or start_method not in multiprocessing.get_all_start_methods()
    ):
        raise ValueError(
            f"start_method: {start_method!r} is not one of "
            f"{multiprocessing.get_all_start_methods()}"
        )
    if processes > 1:
        _check_picklable("loader", loader)
        _check_picklable("postprocess", postprocess)
    elif loader is not None and not callable(loader):
        raise TypeError(f"loader: expected a callable, got {type(loader).__name__}")
    _import_densecrf()  # fail here, not in a worker, when the extra is missing
    task = functools.partial(_refine_one, params=params, loader=loader, postprocess=postprocess)
    total = len(items) if isinstance(items, Sized) else None
    return _run(task, items, processes, start_method, progress, total)


def _run(
    task: Callable[[tuple[int, Any]], Any],
    items: Iterable[Any],
    processes: int,
    start_method: str | None,
    progress: bool,
    total: int | None,
) -> Iterator[Any]:
    with tqdm(total=total, disable=not progress, desc="dense CRF", unit="image") as bar:
        if processes == 1:
            for indexed in enumerate(items):
                yield task(indexed)
                bar.update()
            return
        context = multiprocessing.get_context(start_method)
        with context.Pool(processes) as pool:
            for result in pool.imap(task, enumerate(items), chunksize=1):
                yield result
                bar.update()
