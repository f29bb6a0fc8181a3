"""``report.md`` of a method comparison: the tables over seeds and the figures."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..data.erasing import ErasedImages
from ..data.sample import Sample
from ..viz import add_titles, image_grid, overlay, save_png
from .compare import CompareConfig, attention_folder
from .compare_results import CompareResult, MeanSD
from .labelling import load_attention
from .rundir import RunDir

__all__ = ["erasing_figure", "methods_figure", "write_compare_report"]


def _peak(sample: Sample, folder: Path) -> np.ndarray:
    """The stored attention of ``sample``'s classes, their maximum, ``(H, W)``."""
    maps = load_attention(folder / f"{sample.name}.npz").fused
    present = np.flatnonzero(sample.classes)
    return maps[present].max(0) if present.size else np.zeros(maps.shape[1:], np.float32)


def _truth(sample: Sample) -> np.ndarray:
    return sample.label if sample.label is not None else np.zeros(sample.image.shape[:2], np.uint8)


def _grid(rows: list[list[np.ndarray]], titles: Sequence[str]) -> np.ndarray:
    if not rows:
        raise ValueError("dataset: no image to draw")
    width = max(tile.shape[1] for row in rows for tile in row)
    return add_titles(image_grid(rows), titles, cell_width=width)


def methods_figure(
    dataset: Sequence[Sample], folders: Mapping[str, str | Path], n: int
) -> np.ndarray:
    """The first ``n`` images, their ground truth and each method's attention over them.

    Parameters
    ----------
    dataset
        The images the attention was made for.
    folders
        ``{column title: attention folder}`` (``<name>.npz`` files), left to right.
    n
        Rows.

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(H, W, 3)``: one row per image, columns image, ground truth, then one
        heat-map overlay (peak over the image's classes) per folder, titled.

    Examples
    --------
    >>> import tempfile
    >>> from wsss.engine import DataConfig, ModelConfig, build_model, load_dataset
    >>> from wsss.engine import make_attention
    >>> config = ModelConfig("cam_classifier", backbone="resnet_tiny")
    >>> images = load_dataset(DataConfig(synthetic_train=2, image_size=48), "train")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = make_attention(build_model(config, 20), images, tmp,
    ...                        normalizer=config.normalizer, progress=False)
    ...     figure = methods_figure(images, {"cam": tmp, "cam again": tmp}, n=2)
    >>> figure.shape  # a 14 px title band; 2 rows and 4 columns of 48 px tiles, 2 px gaps
    (116, 202, 3)
    """
    rows = []
    for i in range(min(n, len(dataset))):
        sample = dataset[i]
        rows.append([sample.image, _truth(sample),
                     *[overlay(sample.image, _peak(sample, Path(f))) for f in folders.values()]])
    return _grid(rows, ("image", "ground truth", *folders))


def erasing_figure(
    dataset: Sequence[Sample], steps: Sequence[str | Path], n: int, threshold: float
) -> np.ndarray:
    """Adversarial erasing step by step: the accumulated attention after each step and the
    erased images the next step trains on.

    Parameters
    ----------
    dataset
        The (unerased) training images.
    steps
        The accumulated attention folder of steps ``1 .. k`` (attention of steps ``1 .. j``).
    n
        Rows.
    threshold
        The erasing threshold the run used.

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(H, W, 3)``; columns image, ground truth, ``steps 1``, then for each
        ``j >= 2`` the images step ``j`` saw and ``steps 1-j``.

    Examples
    --------
    >>> import tempfile
    >>> from wsss.engine import DataConfig, ModelConfig, build_model, load_dataset
    >>> from wsss.engine import make_attention
    >>> config = ModelConfig("cam_classifier", backbone="resnet_tiny")
    >>> images = load_dataset(DataConfig(synthetic_train=1, image_size=48), "train")
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     _ = make_attention(build_model(config, 20), images, tmp,
    ...                        normalizer=config.normalizer, progress=False)
    ...     figure = erasing_figure(images, [tmp, tmp], n=1, threshold=0.7)
    >>> figure.shape  # 5 columns: image, ground truth, steps 1, erased 2, steps 1-2
    (66, 252, 3)
    """
    titles = ["image", "ground truth", "steps 1"]
    for j in range(2, len(steps) + 1):
        titles += [f"erased {j}", f"steps 1-{j}"]
    erased = [ErasedImages(dataset, steps[j - 1], threshold=threshold)
              for j in range(1, len(steps))]
    rows = []
    for i in range(min(n, len(dataset))):
        sample = dataset[i]
        row = [sample.image, _truth(sample), overlay(sample.image, _peak(sample, Path(steps[0])))]
        for j in range(1, len(steps)):
            row += [erased[j - 1][i].image, overlay(sample.image, _peak(sample, Path(steps[j])))]
        rows.append(row)
    return _grid(rows, titles)


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(str(c) for c in row) + " |" for row in rows]]


def _markdown(result: CompareResult, config: CompareConfig, description: Mapping[str, Any],
              figures: Sequence[str]) -> str:
    recipe = config.resolved_recipe()
    train = recipe.classifier_train
    pretrained = config.pipeline().pretrains()
    seeds = ", ".join(str(s) for s in config.seeds)
    start = ("the backbone pretrained once on the training images' labels "
             "(`pretrain/backbone.pt`, shared by every method and seed)" if pretrained
             else f"the weights `{config.weights}`" if config.weights else "scratch")
    lines = [
        "# wsss method comparison",
        "",
        f"Data: `{description['class']}` ({len(result.class_names)} classes). Seeds: {seeds}. "
        f"Every method trains a `{recipe.classifier.backbone}` classifier from {start}, for "
        f"{train.iterations} iterations of batch {train.batch_size} ({train.optimizer}, "
        f"lr {train.lr:g}), and its attention is taken at scales "
        f"{', '.join(f'{s:g}' for s in recipe.attention_scales)} with flipping. Adversarial "
        f"erasing trains {config.ae_steps} such classifiers (threshold "
        f"{config.ae_threshold:g}). Numbers are on the training images"
        + (", DeepLab's on the validation images" if config.deeplab or config.ground_truth
           else "")
        + "; every number below was measured by this run.",
        "",
        f"## Mean ± sd over {len(config.seeds)} seed(s), percent",
        "",
        "Attention mIoU turns each map into labels with a background threshold **tuned on "
        "ground truth** (an oracle, as is customary for CAM evaluation). *On objects* and *on "
        "background* are the mean attention of the image's classes on the ground truth's "
        "object and background pixels; their ratio (background / objects, lower is better) "
        "measures how far the attention leaks off the objects. Proxy labels fuse the attention "
        "with saliency. For SeeNet, the attention is `max(S_A, S_B)`; *S_A alone* scores its "
        "first branch by itself.",
        "",
    ]
    header = ["method", "attention mIoU (oracle)", "S_A alone", "on objects", "on background",
              "background / objects", "proxy-label mIoU"]
    if config.deeplab:
        header.append("DeepLab mIoU (val)")
    rows = []
    for name, s in result.summary.items():
        row = [f"{s.label} (`{name}`)", s.attention_miou.format(),
               s.branch_a_miou.format() if s.branch_a_miou else "-", s.on_object.format(),
               s.on_background.format(), s.leak_ratio.format(scale=1, digits=3),
               s.proxy_miou.format()]
        if config.deeplab:
            row.append(_with_n(s.deeplab_miou, len(config.seeds)))
        rows.append(row)
    if rows:
        lines += [*_table(rows, header), ""]
    truth = result.ground_truth_miou
    if truth is not None:
        lowest = min(r.min_class_iou for r in result.ground_truth)
        lines += ["## DeepLab on the ground truth", "",
                  f"DeepLab-LargeFOV trained on the ground-truth masks (the fully supervised upper "
                  f"bound, same backbone and schedule): **{truth.format()} %** mIoU on the "
                  f"validation images over {truth.n} seed(s); the lowest IoU of a class present "
                  f"there is {lowest:.1%}.", ""]
        if config.deeplab:
            lines += ["DeepLab on each method's proxy labels, as a share of it (same seeds):", ""]
            lines += _table(_ratios(result), ("method", "DeepLab on proxy labels / on ground "
                                              "truth"))
            lines.append("")
        names = ("background", *result.class_names)
        lines += _table([(r.seed, f"{r.miou:.1%}", *(
            "-" if v is None else f"{v:.1%}" for v in r.class_iou)) for r in result.ground_truth],
            ("seed", "mIoU", *names))
        lines.append("")
    if "ae" in result.summary:
        steps = result.summary["ae"].step_miou
        lines += ["## Adversarial erasing, step by step", "",
                  "The attention of steps 1 .. j is the element-wise maximum of their maps.", "",
                  *_table([(f"1-{j}" if j > 1 else "1", s.format())
                           for j, s in enumerate(steps, start=1)],
                          ("steps", "attention mIoU (oracle)")), ""]
    lines += ["## Every run", ""]
    lines += _table([(r.method, r.seed, f"{r.attention_miou:.1%}", f"{r.attention_threshold:.2f}",
                      f"{r.leak.on_object:.1%}", f"{r.leak.on_background:.1%}",
                      f"{r.leak.ratio:.3f}", f"{r.proxy_miou:.1%}", f"{r.proxy_ignored:.1%}",
                      "-" if r.deeplab_miou is None else f"{r.deeplab_miou:.1%}",
                      f"{r.seconds:.0f}") for r in result.runs],
                    ("method", "seed", "attention mIoU", "threshold", "on objects",
                     "on background", "ratio", "proxy mIoU", "ignored", "DeepLab", "seconds"))
    lines += ["", f"Total wall time of this call: {result.total_seconds:.0f} s "
              "(runs finished before a resume keep their own time).", ""]
    if figures:
        lines += ["## Figures", ""]
        if "methods" in figures:
            lines += [f"The same images under each method (seed {config.seeds[0]}):", "",
                      "![methods](figures/methods.png)", ""]
        if "ae_steps" in figures:
            lines += ["Adversarial erasing: the attention after each step and the erased "
                      "images the next step trains on:", "", "![ae](figures/ae_steps.png)", ""]
    return "\n".join(lines)


def _with_n(stat: MeanSD | None, seeds: int) -> str:
    """``stat`` formatted, with the number of seeds behind it when fewer than ``seeds``."""
    if stat is None:
        return "-"
    return stat.format() if stat.n == seeds else f"{stat.format()} (n = {stat.n})"


def _ratios(result: CompareResult) -> list[tuple[str, str]]:
    """Per method: mean over seeds of DeepLab on its proxies / DeepLab on the ground truth, on
    the seeds that trained both."""
    truth = {r.seed: r.miou for r in result.ground_truth}
    rows = []
    for name, summary in result.summary.items():
        ratios = [r.deeplab_miou / truth[r.seed] for r in result.runs
                  if r.method == name and r.deeplab_miou is not None and r.seed in truth
                  and truth[r.seed] > 0]
        if ratios:
            rows.append((f"{summary.label} (`{name}`)", MeanSD.of(ratios).format()))
    return rows


def write_compare_report(
    run: RunDir,
    result: CompareResult,
    config: CompareConfig,
    *,
    dataset: Sequence[Sample],
    description: Mapping[str, Any],
) -> None:
    """Write ``report.md``, ``figures/methods.png`` and (with AE) ``figures/ae_steps.png``.

    Parameters
    ----------
    run
        The comparison's run directory (the figures read its attention folders).
    result, config
        What :func:`~wsss.engine.compare.compare_methods` measured, and its config.
    dataset
        The training images (the first ``config.figures`` are drawn).
    description
        The dataset's record (:func:`~wsss.data.describe_dataset`).

    Examples
    --------
    >>> import tempfile
    >>> from wsss.engine.compare_results import MethodRun, summarise
    >>> from wsss.engine.leak import AttentionLeak
    >>> runs = [MethodRun("cam", s, 0.5, 0.3, AttentionLeak(0.8, 0.2, 10, 30), 0.6, 0.1)
    ...         for s in (0, 1)]
    >>> result = CompareResult(Path("run"), ("cat",), tuple(runs),
    ...                        summarise(runs, {"cam": "plain CAM"}), 5.0)
    >>> config = CompareConfig(methods=("cam",), seeds=(0, 1), figures=0)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_compare_report(RunDir(tmp), result, config, dataset=[],
    ...                          description={"class": "my.Data"})
    ...     text = (Path(tmp) / "report.md").read_text()
    >>> "| plain CAM (`cam`) | 50.0 ± 0.0 | - | 80.0 ± 0.0 | 20.0 ± 0.0 | 0.250 ± 0.000 |" in text
    True
    """
    figures = []
    if config.figures:
        seed = config.seeds[0]
        folders = {name: attention_folder(run.path, name, seed, config.ae_steps)
                   for name in config.methods}
        save_png(run.figures / "methods.png", methods_figure(dataset, folders, config.figures))
        figures.append("methods")
        if "ae" in config.methods:
            steps = [run.path / f"seed_{seed}" / "ae" / f"step_{j}" / "accumulated"
                     for j in range(1, config.ae_steps + 1)]
            save_png(run.figures / "ae_steps.png",
                     erasing_figure(dataset, steps, config.figures, config.ae_threshold))
            figures.append("ae_steps")
    run.write_text("report.md", _markdown(result, config, description, figures))

