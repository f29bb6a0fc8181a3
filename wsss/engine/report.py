"""``report.md`` of a pipeline run: its tables, its figure and the training curves."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch import nn

from ..data.images import read_label
from ..data.sample import Sample
from ..data.transforms import Normalizer, to_tensor
from ..viz import add_titles, image_grid, line_plot, overlay, save_png
from .evaluation import predict_segmentation
from .labelling import load_attention
from .pipeline import PipelineResult
from .rundir import RunDir

__all__ = ["FIGURE_COLUMNS", "write_report"]

#: The columns of the pipeline figure, left to right.
FIGURE_COLUMNS = ("image", "ground truth", "plain CAM", "SeeNet", "proxy label", "DeepLab")

#: The trainings of a run whose loss curves the report draws: ``{folder: title}``.
_TRAININGS = {"pretrain": "backbone pretraining", "seenet": "SeeNet", "cam": "plain CAM",
              "deeplab_seenet": "DeepLab on SeeNet's proxy labels",
              "deeplab_cam": "DeepLab on the CAM's proxy labels",
              "deeplab_gt": "DeepLab on the ground truth"}


def _pipeline_figure(
    run: RunDir, dataset: Sequence[Sample], segmenter: nn.Module, normalizer: Normalizer, n: int
) -> np.ndarray:
    """One row per image (the first ``n``), the columns of :data:`FIGURE_COLUMNS` titled.

    Reads the run's ``attention_cam``, ``attention_seenet`` and ``pseudo_labels`` folders;
    ``segmenter`` is the DeepLab trained on the proxy labels.

    Returns
    -------
    numpy.ndarray
        ``uint8`` ``(H, W, 3)``.
    """
    rows = []
    device = next(segmenter.parameters()).device
    for i in range(min(n, len(dataset))):
        sample = dataset[i]
        present = np.flatnonzero(sample.classes)
        row: list[np.ndarray] = [sample.image,
                                 sample.label if sample.label is not None
                                 else np.zeros(sample.image.shape[:2], np.uint8)]
        for folder in ("attention_cam", "attention_seenet"):
            maps = load_attention(run.path / folder / f"{sample.name}.npz").fused
            peak = maps[present].max(0) if present.size else np.zeros(maps.shape[1:])
            row.append(overlay(sample.image, peak))
        row.append(read_label(run.path / "pseudo_labels" / f"{sample.name}.png"))
        image = to_tensor(sample.image, normalizer)[None].to(device)
        row.append(predict_segmentation(segmenter, image)[0].argmax(0).cpu().numpy()
                   .astype(np.uint8))
        rows.append(row)
    if not rows:
        raise ValueError("dataset: no image to draw")
    width = max(tile.shape[1] for row in rows for tile in row)
    return add_titles(image_grid(rows), FIGURE_COLUMNS, cell_width=width)


def _loss_curves(run: RunDir) -> dict[str, np.ndarray]:
    """A plot of the logged training loss of each training in the run, by folder name.

    Each plot draws ``loss`` (and the terms a step logs, such as SeeNet's ``loss_a``) against
    the iteration, from the training's ``metrics.jsonl``.
    """
    plots = {}
    for folder, title in _TRAININGS.items():
        records = list(RunDir(run.path / folder).read_metrics())
        if not records:
            continue
        keys = [k for k in records[0] if k == "loss" or k.startswith("loss_")]
        series: dict[str, tuple[Sequence[float], Sequence[float]]] = {
            k: ([float(r["iteration"]) for r in records if k in r],
                [float(r[k]) for r in records if k in r]) for k in keys}
        plots[folder] = line_plot(series, title=f"{title}: training loss", xlabel="iteration")
    return plots


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *["| " + " | ".join(str(c) for c in row) + " |" for row in rows]]


def _markdown(
    result: PipelineResult, description: Mapping[str, Any], loss_figures: Sequence[str] = (),
    extra: str = "",
) -> str:
    """The text of ``report.md`` for ``result``; ``description`` names the dataset
    (:func:`~wsss.data.describe_dataset`)."""
    arguments = json.dumps(description.get("arguments", {}), sort_keys=True)
    lines = [
        "# wsss pipeline report",
        "",
        f"Data: `{description['class']}` with arguments `{arguments}` "
        f"({len(result.class_names)} classes). Attention and proxy-label numbers are on the "
        "training images, DeepLab numbers on the validation images. Every number below was "
        "measured by this run.",
        "",
    ]
    if result.warnings:
        lines += ["## Warnings", "", *[f"- **{w}**" for w in result.warnings], ""]
    lines += [
        "## Attention maps as pseudo labels (train)",
        "",
        "Each map is turned into labels with a background threshold **tuned on ground truth** "
        "(an oracle, as is customary for CAM evaluation), so these numbers compare the maps, "
        "not a deployable method.",
        "",
        *_table([(name, f"{c.best_miou:.1%}", f"{c.best_threshold:.2f}")
                 for name, c in result.attention.items()],
                ("attention", "mIoU", "best background threshold")),
        "",
        f"SeeNet max(S_A, S_B) - plain CAM: **{result.seenet_margin * 100:+.1f} mIoU points**.",
        "",
        "## Proxy labels (train)",
        "",
        f"DeepLab trains on proxy labels made by the {result.proxy_route} route "
        "(saliency: attention fused with saliency maps; threshold: confident foreground and "
        "background by attention thresholds, the rest ignored).",
        "",
        *_table([(name, f"{q.scores.miou:.1%}", f"{q.ignored:.1%}")
                 for name, q in result.proxy.items()],
                ("from", "mIoU on labelled pixels", "ignored (255)")),
        "",
        "## DeepLab-LargeFOV (val)",
        "",
        *_table([(f"{name} proxy labels" if name != "ground truth" else
                  "ground truth (upper bound)", f"{s.miou:.1%}")
                 for name, s in result.deeplab.items()], ("trained on", "mIoU")),
        "",
        f"DeepLab on SeeNet's proxy labels / on the ground truth: **{result.ratio:.1%}**.",
        "",
    ]
    if "cam" in result.deeplab:
        gain = (result.deeplab["seenet"].miou - result.deeplab["cam"].miou) * 100
        lines += [f"SeeNet's proxy labels - the plain CAM's, after DeepLab: "
                  f"**{gain:+.1f} mIoU points**.", ""]
    lines += [
        "### Per-class IoU, DeepLab on SeeNet's proxy labels",
        "",
        result.deeplab["seenet"].to_table(),
        "",
        "## Figures",
        "",
        "Columns: " + ", ".join(FIGURE_COLUMNS) + ".",
        "",
        "![pipeline](figures/pipeline.png)",
        "",
        *[f"![{name} loss](figures/loss_{name}.png)" for name in loss_figures],
        "",
    ]
    if extra:
        lines += [extra, ""]
    lines += [
        "## Time",
        "",
        *_table([(k, f"{v:.0f}") for k, v in result.seconds.items()], ("stage", "seconds")),
        f"| **total** | **{result.total_seconds:.0f}** |",
        "",
    ]
    return "\n".join(lines)


def write_report(
    run: RunDir,
    result: PipelineResult,
    *,
    dataset: Sequence[Sample],
    description: Mapping[str, Any],
    segmenter: nn.Module | None,
    normalizer: Normalizer,
    figures: int = 4,
    extra: str = "",
) -> None:
    """Write ``report.md``, ``figures/pipeline.png`` and ``figures/loss_<training>.png``.

    The report holds the warnings of the learning checks, the attention, proxy-label and DeepLab
    tables, DeepLab's per-class IoU by class name, the figures and the time of each stage.

    Parameters
    ----------
    run
        The pipeline's run directory (its attention, proxy-label and training folders are read
        for the figures).
    result
        What :func:`~wsss.engine.run_pipeline` measured.
    dataset
        The training images (the first ``figures`` are drawn).
    description
        The dataset's record (:func:`~wsss.data.describe_dataset`): its class and arguments.
    segmenter
        DeepLab trained on SeeNet's proxy labels (for the figure; unused with ``figures=0``).
    normalizer
        Its input normalisation.
    figures
        Rows of the figure; 0 draws none.
    extra
        More Markdown, placed before the time table (e.g. the diagnostics).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from wsss.data.transforms import TORCHVISION
    >>> from wsss.engine.pipeline import ATTENTION_MAPS, PipelineResult
    >>> from wsss.engine.evaluation import LabelQuality
    >>> from wsss.metrics import CAMThresholdCurve, ConfusionMatrix
    >>> matrix = ConfusionMatrix(2, class_names=("background", "cat"))
    >>> matrix.update(np.array([[0, 1]]), np.array([[0, 1]]))
    >>> curve = CAMThresholdCurve([0.5], num_classes=2)
    >>> curve.update(np.array([[[0.9, 0.1]]]), np.array([1]), np.array([[1, 0]]))
    >>> result = PipelineResult(
    ...     Path("run"), ("cat",), {name: curve.compute() for name in ATTENTION_MAPS},
    ...     {"seenet": LabelQuality(matrix.compute(), ignored=0.1)},
    ...     {"seenet": matrix.compute(), "ground truth": matrix.compute()},
    ...     seconds={"train seenet": 3.0}, total_seconds=5.0, warnings=("a warning",))
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     write_report(RunDir(tmp), result, dataset=[], description={"class": "my.Data"},
    ...                  segmenter=None, normalizer=TORCHVISION, figures=0)
    ...     text = (Path(tmp) / "report.md").read_text()
    >>> "**a warning**" in text, "| cat | 100.0 |" in text, "**100.0%**" in text
    (True, True, True)
    """
    if figures:
        if segmenter is None:
            raise ValueError("segmenter: the figure needs the trained DeepLab")
        save_png(run.figures / "pipeline.png",
                 _pipeline_figure(run, dataset, segmenter, normalizer, figures))
    curves = _loss_curves(run)
    for name, plot in curves.items():
        save_png(run.figures / f"loss_{name}.png", plot)
    run.write_text("report.md", _markdown(result, description, list(curves), extra))
