"""Draw the figures of "How SeeNet works" from a tiny SeeNet trained on the synthetic data.

Run from the repository root (under a minute on two idle CPU cores, no download)::

    python docs/figures/make_figures.py

It trains ``create_model("seenet", backbone=...)`` on :class:`wsss.data.synthetic.SyntheticVOC`
with a plain loop (:func:`wsss.seenet_loss`, Adam), then writes into ``docs/_static/figures/``:

- ``synthetic_data.png``: the training data (image, ground truth, saliency);
- ``seenet_attention.png``: S_A's map, the ternary mask, S_B's map and the fused attention;
- ``conditional_relu_transfer.png`` and ``conditional_relu.png``: C-ReLU's three zones, as
  transfer functions and on real features;
- ``saliency_fusion.png``: attention + saliency -> proxy label, next to the ground truth.

Everything shown is computed by the library; this script only arranges and colours it (numpy
and Pillow, so the docs need no plotting package). The figures illustrate the mechanism on a
model trained for a few hundred steps from scratch, not the accuracy of the method.
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run from a checkout, installed or not

import wsss  # noqa: E402
from wsss.data import TORCHVISION, colorize, to_tensor  # noqa: E402
from wsss.data.synthetic import SyntheticVOC, render_preview  # noqa: E402
from wsss.io import atomic_write  # noqa: E402
from wsss.models import create_model  # noqa: E402

OUT = ROOT / "docs" / "_static" / "figures"


@dataclass(frozen=True)
class Setup:
    """What the figures are made from (the captions on the docs page quote these values)."""

    image_size: int = 128
    train_images: int = 512
    # Large, single objects with little clutter: a from-scratch model learns them in minutes,
    # and a large object leaves room to see attention spread beyond its part.
    object_scale: tuple[float, float] = (0.45, 0.8)
    objects_per_image: tuple[int, int] = (1, 1)
    clutter: float = 0.5
    backbone: str = "vgg16_narrow_bn"
    steps: int = 300
    batch_size: int = 16
    lr: float = 1e-3
    seed: int = 0

    def dataset(self, num_images: int, split: str) -> SyntheticVOC:
        return SyntheticVOC(
            num_images,
            image_size=self.image_size,
            seed=self.seed,
            split=split,
            object_scale=self.object_scale,
            objects_per_image=self.objects_per_image,
            clutter=self.clutter,
        )


# ------------------------------------------------------------------------------------ training


def batch(samples: Sequence[wsss.data.Sample]) -> tuple[torch.Tensor, torch.Tensor]:
    """Images ``(N, 3, H, W)`` normalised for a from-scratch model, and labels ``(N, 20)``."""
    images = torch.stack([to_tensor(s.image, TORCHVISION) for s in samples])
    labels = torch.stack([torch.from_numpy(s.classes) for s in samples])
    return images, labels


def train(setup: Setup) -> nn.Module:
    """A tiny SeeNet trained with the three-branch loss; returns it in eval mode."""
    torch.manual_seed(setup.seed)
    images, labels = batch(setup.dataset(setup.train_images, "train"))
    model = create_model("seenet", backbone=setup.backbone, num_classes=20)
    # The paper's N(0, 0.01) head init assumes ImageNet features; from scratch the head's 3x3
    # convolutions start with He init so that a few hundred steps suffice.
    for module in model.head.modules():
        if isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3):
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
    optimizer = torch.optim.Adam(model.parameters(), lr=setup.lr)
    generator = torch.Generator().manual_seed(setup.seed)
    model.train()
    start = time.perf_counter()
    for step in range(setup.steps):
        index = torch.randint(0, len(images), (setup.batch_size,), generator=generator)
        flip = torch.rand(setup.batch_size, generator=generator) < 0.5
        x = torch.where(flip[:, None, None, None], images[index].flip(3), images[index])
        terms = wsss.seenet_loss(model(x, labels[index]), labels[index])
        optimizer.zero_grad()
        terms.total.backward()
        optimizer.step()
        if step % 50 == 0 or step == setup.steps - 1:
            print(
                f"step {step:4d}  L {terms.total.item():.3f} = S_A {terms.a.item():.3f} "
                f"+ S_B {terms.b.item():.3f} + S_C {terms.c.item():.3f}  "
                f"({time.perf_counter() - start:.0f} s)",
                flush=True,
            )
    return model.eval()


# ------------------------------------------------------------------------------------- drawing

# A perceptual dark-to-bright ramp (black - purple - red - orange - pale yellow).
_RAMP = np.array(
    [[0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21],
     [250, 193, 39], [252, 255, 164]],
    dtype=np.float64,
)
#: Colours of the ternary mask's zones.
ZONE_COLOURS = {0: (230, 57, 70), 1: (255, 209, 102), -1: (29, 53, 87)}
ZONE_NAMES = {0: "attention (T = 0, erased)", 1: "potential (T = +1, kept)",
              -1: "background (T = -1, reversed)"}
WHITE = (255, 255, 255)
INK = (30, 30, 30)


def heat(values: np.ndarray) -> np.ndarray:
    """``(H, W)`` values in [0, 1] -> ``uint8`` RGB through :data:`_RAMP`."""
    position = np.clip(values, 0, 1) * (len(_RAMP) - 1)
    low = np.floor(position).astype(int).clip(0, len(_RAMP) - 2)
    weight = (position - low)[..., None]
    return np.round(_RAMP[low] * (1 - weight) + _RAMP[low + 1] * weight).astype(np.uint8)


def overlay(image: np.ndarray, values: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """Blend :func:`heat` of ``values`` over a darkened grey copy of ``image``."""
    grey = image.mean(axis=2, keepdims=True).repeat(3, axis=2) * 0.8
    return np.round(grey * (1 - alpha) + heat(values) * alpha).astype(np.uint8)


def diverging(values: np.ndarray) -> np.ndarray:
    """Values in [-1, 1] -> blue (negative), white (0), red (positive)."""
    v = np.clip(values, -1, 1)[..., None]
    red, blue = np.array([180, 30, 40.0]), np.array([30, 70, 170.0])
    out = np.where(v >= 0, 255 + (red - 255) * v, 255 + (blue - 255) * (-v))
    return np.round(out).astype(np.uint8)


def zones(mask: np.ndarray) -> np.ndarray:
    """Ternary mask ``(h, w)`` in {-1, 0, 1} -> RGB with :data:`ZONE_COLOURS`."""
    out = np.zeros((*mask.shape, 3), dtype=np.uint8)
    for value, colour in ZONE_COLOURS.items():
        out[mask == value] = colour
    return out


def upsample_nearest(image: np.ndarray, size: int) -> np.ndarray:
    """Nearest-neighbour resize of a feature-resolution map, so its cells stay visible."""
    return np.asarray(Image.fromarray(image).resize((size, size), Image.NEAREST))


def font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def text_width(draw: ImageDraw.ImageDraw, text: str, typeface: ImageFont.ImageFont) -> float:
    return draw.textlength(text, font=typeface)


def grid(
    rows: Sequence[Sequence[np.ndarray]],
    titles: Sequence[str],
    *,
    gap: int = 6,
    title_height: int = 34,
    footer: Sequence[tuple[tuple[int, int, int], str]] = (),
) -> np.ndarray:
    """Tiles of equal size in rows, column titles above, an optional colour legend below."""
    height, width = rows[0][0].shape[:2]
    columns = len(titles)
    legend_height = 28 if footer else 0
    canvas = Image.new(
        "RGB",
        (columns * width + (columns + 1) * gap,
         title_height + len(rows) * (height + gap) + gap + legend_height),
        WHITE,
    )
    draw = ImageDraw.Draw(canvas)
    typeface = font(15)
    for c, title in enumerate(titles):  # one or two centred lines per column
        for k, line in enumerate(title.split("\n")):
            x = gap + c * (width + gap) + (width - text_width(draw, line, typeface)) / 2
            draw.text((x, 2 + 16 * k), line, fill=INK, font=typeface)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            canvas.paste(
                Image.fromarray(tile), (gap + c * (width + gap), title_height + r * (height + gap))
            )
    x = gap
    y = canvas.height - legend_height + 4
    for colour, label in footer:
        draw.rectangle((x, y + 2, x + 16, y + 18), fill=colour, outline=INK)
        draw.text((x + 22, y + 1), label, fill=INK, font=typeface)
        x += 22 + text_width(draw, label, typeface) + 18
    return np.asarray(canvas)


def save_png(name: str, image: np.ndarray) -> None:
    """Write ``docs/_static/figures/<name>`` atomically (optimised PNG) and report its size."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", optimize=True)
    with atomic_write(OUT / name, "wb") as f:
        f.write(buffer.getvalue())
    print(f"wrote {(OUT / name).relative_to(ROOT)} ({image.shape[1]}x{image.shape[0]}, "
          f"{len(buffer.getvalue()) / 1024:.0f} KB)")


# ------------------------------------------------------------------------------------- figures


def figure_data(setup: Setup) -> None:
    tiles = render_preview(setup.dataset(3, "train"), 3, gap=0)
    size = setup.image_size
    rows = [[tiles[r * size:(r + 1) * size, c * size:(c + 1) * size] for c in range(3)]
            for r in range(3)]
    titles = ["image", "ground truth\n(VOC colours)", "saliency\n(imperfect)"]
    save_png("synthetic_data.png", grid(rows, titles, title_height=38))


@dataclass(frozen=True)
class Maps:
    """Everything the attention figures show, for a batch of validation images."""

    images: list[np.ndarray]
    labels: torch.Tensor
    attention_a: np.ndarray  # (N, H, W): S_A alone, max over the image's classes
    attention_b: np.ndarray  # (N, H, W): S_B alone
    attention: np.ndarray  # (N, C, H, W): SeeNet's max(S_A, S_B) per class
    mask: np.ndarray  # (N, h, w): the ternary mask at feature resolution
    features: torch.Tensor  # (N, K, h, w): backbone features
    saliency: list[np.ndarray]
    ground_truth: list[np.ndarray]


@torch.no_grad()
def recognised(model: nn.Module, setup: Setup, count: int = 3, pool: int = 32) -> list[int]:
    """The first ``count`` validation images whose classes S_A all scores above 0.5.

    The figures explain the mechanism, so they show images the toy model classifies correctly;
    the captions say so.
    """
    images, labels = batch(setup.dataset(pool, "val"))
    logits = model(images, labels).logits_a
    correct = ((logits > 0) | (labels == 0)).all(dim=1)
    chosen = correct.nonzero().flatten().tolist()[:count]
    return chosen + [i for i in range(pool) if i not in chosen][: count - len(chosen)]


@torch.no_grad()
def compute_maps(model: nn.Module, setup: Setup, indices: Sequence[int]) -> Maps:
    samples = [setup.dataset(max(indices) + 1, "val")[i] for i in indices]
    images, labels = batch(samples)
    extractor = wsss.CAMExtractor(model, branches=("a", "b"), flip=True)
    maps = extractor(images, labels)
    output = model(images, labels)
    return Maps(
        images=[s.image for s in samples],
        labels=labels,
        attention_a=maps.branches["a"].amax(dim=1).numpy(),
        attention_b=maps.branches["b"].amax(dim=1).numpy(),
        attention=maps.fused.numpy(),
        mask=output.mask.numpy().astype(np.int8),
        features=model.backbone(images),
        saliency=[s.saliency for s in samples],
        ground_truth=[s.label for s in samples],
    )


def figure_attention(maps: Maps, size: int) -> None:
    rows = []
    for n, image in enumerate(maps.images):
        rows.append([
            image,
            overlay(image, maps.attention_a[n]),
            upsample_nearest(zones(maps.mask[n]), size),
            overlay(image, maps.attention_b[n]),
            overlay(image, maps.attention[n].max(axis=0)),
        ])
    titles = ["image", "S_A: class map", "ternary mask T", "S_B: on C-ReLU(F, T)",
              "attention\nmax(S_A, S_B)"]
    legend = [(ZONE_COLOURS[v], ZONE_NAMES[v]) for v in (0, 1, -1)]
    save_png("seenet_attention.png", grid(rows, titles, title_height=38, footer=legend))


def figure_transfer() -> None:
    """C-ReLU(x) = max(x, 0) * B for B = +1, 0, -1: three lines on one axis, labelled."""
    width, height, half = 360, 200, 80
    canvas = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(canvas)
    centre = (110, height / 2)

    def point(x: float, y: float) -> tuple[float, float]:
        return centre[0] + x * half, centre[1] - y * half

    grey = (150, 150, 150)
    draw.line((point(-1.2, 0), point(1.2, 0)), fill=grey, width=1)
    draw.line((point(0, -1.15), point(0, 1.15)), fill=grey, width=1)
    xs = torch.linspace(-1, 1, 101)
    for value in (1, -1, 0):
        mask = torch.full((1, 1, 1), float(value))
        ys = wsss.conditional_relu(xs.view(1, 1, 1, -1), mask).flatten()
        draw.line([point(float(x), float(y)) for x, y in zip(xs, ys)],
                  fill=ZONE_COLOURS[value], width=4)
    typeface = font(14)
    draw.text(point(0.06, 1.2), "C-ReLU(x)", fill=INK, font=typeface)
    draw.text(point(1.22, -0.02), "x", fill=INK, font=typeface)
    for value, y in ((1, 1.0), (0, 0.3), (-1, -0.9)):
        name = ZONE_NAMES[value].split(" (")[0]
        draw.text(point(1.12, y), f"B = {value:+d}: {name}".replace("+0", "0"), fill=INK,
                  font=typeface)
    save_png("conditional_relu_transfer.png", np.asarray(canvas))


def figure_conditional_relu(maps: Maps, size: int) -> None:
    features = torch.relu(maps.features)
    mask = torch.from_numpy(maps.mask).float()
    erased = wsss.conditional_relu(maps.features, mask)
    rows = []
    for n, image in enumerate(maps.images[:2]):
        before = features[n].sum(0)
        after = erased[n].sum(0)
        scale = float(before.abs().max()) or 1.0
        rows.append([
            image,
            upsample_nearest(zones(maps.mask[n]), size),
            upsample_nearest(diverging((before / scale).numpy()), size),
            upsample_nearest(diverging((after / scale).numpy()), size),
        ])
    titles = ["image", "ternary mask T", "features F\n(sum over K)", "C-ReLU(F, T)\n(sum over K)"]
    legend = [(ZONE_COLOURS[v], ZONE_NAMES[v].split(" (")[0]) for v in (0, 1, -1)]
    save_png("conditional_relu.png", grid(rows, titles, title_height=38, footer=legend))


def figure_fusion(maps: Maps) -> None:
    rows = []
    for n, image in enumerate(maps.images):
        classes = maps.labels[n].numpy()
        proxy = wsss.fuse_saliency(maps.attention[n], maps.saliency[n], classes)
        rows.append([
            image,
            overlay(image, maps.attention[n].max(axis=0)),
            np.repeat(np.round(maps.saliency[n] * 255).astype(np.uint8)[..., None], 3, axis=2),
            colorize(proxy),
            colorize(maps.ground_truth[n]),
        ])
    titles = ["image", "attention A_c", "saliency S", "proxy label\n(fuse_saliency)",
              "ground truth"]
    legend = [(tuple(int(v) for v in wsss.data.voc_palette()[255]), "ignored (255)"),
              ((0, 0, 0), "background (0)")]
    save_png("saliency_fusion.png", grid(rows, titles, title_height=38, footer=legend))


# ---------------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=Setup.steps, help="training steps")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument(
        "--weights", type=Path, default=None,
        help="reuse this state dict if it exists, else save the trained model there",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    setup = Setup(steps=args.steps)
    start = time.perf_counter()

    figure_data(setup)
    if args.weights is not None and args.weights.is_file():
        model = create_model("seenet", backbone=setup.backbone, num_classes=20)
        model.load_state_dict(wsss.io.load_checkpoint(args.weights))
        model.eval()
    else:
        model = train(setup)
        if args.weights is not None:
            wsss.io.save_checkpoint(model.state_dict(), args.weights)
    indices = recognised(model, setup)
    print(f"validation images shown: {indices}")
    maps = compute_maps(model, setup, indices)
    figure_attention(maps, setup.image_size)
    figure_transfer()
    figure_conditional_relu(maps, setup.image_size)
    figure_fusion(maps)
    print(f"done in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
