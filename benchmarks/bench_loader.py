"""Data loading: img/s per worker of the VOC training chain at 321^2 crops; PIL's JPEG draft.

VOC-size inputs are generated in a temporary directory: ``--images`` JPEGs of 500x375 at
quality 90 (smooth colour fields with textured ellipses, about the file size of a VOC photo)
and their palette PNG labels. Each image goes through what the DeepLab recipe's training
loader does per image: ``read_image`` and ``read_label`` (as ``VOCSegmentation`` reads them),
``RandomScale(0.7, 1.3)``, ``RandomHorizontalFlip``, ``RandomCrop(321)`` and ``to_tensor``
(``AugmentedDataset``, seeded per image).

1. Stages, in this process: the time of each step per image (best of the repeats), their sum,
   the img/s one worker sustains (``DataLoader`` workers run one torch thread each, so one
   worker is one core) and the workers needed for ``--target`` img/s (default 300: a GPU
   training DeepLab-LargeFOV). With ``--threads 1`` the CPU time is the one to trust on a
   busy machine.
2. ``DataLoader`` throughput (batch 10) with each ``--workers`` count, once its workers run.
3. ``PIL.Image.draft``: a JPEG can be decoded at 1/2, 1/4 or 1/8 scale in the DCT domain.
   ``draft(mode, size)`` picks the largest of those reductions that still leaves at least
   ``size``, so for a random scale ``s`` it reduces only when ``s <= 1/2``. The script draws
   the recipe's scales, counts how often draft would reduce, and times decoding with and
   without it; then, for reference, what the 1/2 reduction saves where it applies.

    python benchmarks/bench_loader.py                          # ~30 s at one thread
    python benchmarks/bench_loader.py --images 128 --workers 0 2 4 --repeats 3
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _common import (
    add_common_args,
    best,
    interleaved_times,
    median,
    print_load,
    print_result,
    print_table,
    setup,
)
from PIL import Image
from torch.utils.data import DataLoader

from wsss.data.images import read_image, read_label
from wsss.data.loader import AugmentedDataset
from wsss.data.sample import Sample
from wsss.data.transforms import (
    CAFFE,
    Compose,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
    to_tensor,
)

WIDTH, HEIGHT, CROP, QUALITY = 500, 375, 321, 90
SCALES = (0.7, 1.3)


def make_images(folder: Path, count: int, seed: int = 0) -> list[tuple[Path, Path]]:
    """``count`` (JPEG, label PNG) pairs of 500x375 in ``folder``: colour fields and ellipses."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    pairs = []
    for i in range(count):
        low = rng.random((3, 4, 6), dtype=np.float32)
        field = torch.nn.functional.interpolate(
            torch.from_numpy(low)[None], size=(HEIGHT, WIDTH), mode="bicubic", align_corners=False
        )[0].permute(1, 2, 0).numpy()
        rgb = 255 * np.clip(field, 0, 1)
        label = np.zeros((HEIGHT, WIDTH), np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            cy, cx = rng.uniform(60, HEIGHT - 60), rng.uniform(60, WIDTH - 60)
            ry, rx = rng.uniform(30, 120), rng.uniform(30, 160)
            inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
            colour = rng.uniform(0, 255, 3)
            texture = rng.normal(0, 18, (HEIGHT, WIDTH, 1))
            rgb[inside] = np.clip(colour + texture[inside], 0, 255)
            label[inside] = int(rng.integers(1, 21))
        rgb += rng.normal(0, 12, rgb.shape)  # sensor noise: JPEG sizes like real photos
        image_path, label_path = folder / f"{i:05d}.jpg", folder / f"{i:05d}.png"
        Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(image_path, quality=QUALITY)
        Image.fromarray(label, mode="L").save(label_path)
        pairs.append((image_path, label_path))
    return pairs


class JPEGFolder(torch.utils.data.Dataset):
    """Samples read from (JPEG, label PNG) pairs, as ``VOCSegmentation`` reads them."""

    def __init__(self, pairs: list[tuple[Path, Path]]) -> None:
        self.pairs = pairs

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> Sample:
        image_path, label_path = self.pairs[index]
        label = read_label(label_path)
        classes = np.zeros(20, np.float32)
        present = np.unique(label)
        classes[present[(present > 0) & (present < 255)] - 1] = 1.0
        return Sample(image_path.stem, read_image(image_path), classes, label=label)


def training_chain() -> Compose:
    """The DeepLab recipe's augmentation (``wsss.engine.stages``), with Caffe's padding colour."""
    return Compose((RandomScale(*SCALES), RandomHorizontalFlip(),
                    RandomCrop(CROP, image_fill=CAFFE.fill)))


def stage_times(pairs: list[tuple[Path, Path]], repeats: int) -> dict[str, list[float]]:
    """Seconds per image of each stage: ``{stage: [best over repeats for each image]}``."""
    chain = training_chain()
    scale, flip, crop = chain.transforms
    names = ("decode JPEG", "decode label PNG", "RandomScale", "flip", "RandomCrop(321)",
             "to_tensor")
    per_image: dict[str, list[float]] = {name: [] for name in names}
    data = AugmentedDataset(JPEGFolder(pairs), None, CAFFE, seed=0)
    for index, (image_path, label_path) in enumerate(pairs):
        bests = dict.fromkeys(names, math.inf)
        for _ in range(repeats):
            rng = data.rng(index)
            marks = [time.process_time()]
            image = read_image(image_path)
            marks.append(time.process_time())
            label = read_label(label_path)
            marks.append(time.process_time())
            sample = scale(Sample("x", image, np.zeros(20, np.float32), label=label), rng)
            marks.append(time.process_time())
            sample = flip(sample, rng)
            marks.append(time.process_time())
            sample = crop(sample, rng)
            marks.append(time.process_time())
            to_tensor(sample.image, CAFFE)
            torch.from_numpy(sample.label.astype(np.int64))
            marks.append(time.process_time())
            for name, t0, t1 in zip(names, marks, marks[1:]):
                bests[name] = min(bests[name], t1 - t0)
        for name in names:
            per_image[name].append(bests[name])
    return per_image


def loader_rate(dataset: AugmentedDataset, workers: int, batch: int) -> float:
    """Images per second of a ``DataLoader`` pass over ``dataset``, after its first batch.

    The clock starts when the first batch arrives, so that starting the workers is not
    counted (the training loop starts them once per run).
    """
    loader = iter(DataLoader(dataset, batch_size=batch, num_workers=workers, shuffle=False))
    next(loader)
    start = time.perf_counter()
    count = sum(len(item["image"]) for item in loader)
    return count / (time.perf_counter() - start)


def draft_decode(path: Path, scale: float) -> tuple[int, int]:
    """Decode ``path`` after ``draft('RGB', scaled size)``; the decoded size."""
    with Image.open(path) as img:
        img.draft("RGB", (round(img.width * scale), round(img.height * scale)))
        img.load()
        return img.size


def plain_decode(path: Path) -> tuple[int, int]:
    """Decode ``path`` at full size; the decoded size."""
    with Image.open(path) as img:
        img.load()
        return img.size


def halved(path: Path) -> tuple[int, int]:
    """Decode ``path`` at full size and resize it to half (bilinear); the new size."""
    with Image.open(path) as img:
        return img.resize((img.width // 2, img.height // 2), Image.Resampling.BILINEAR).size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=48, help="generated JPEGs (default 48)")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2],
                        help="DataLoader worker counts to run (default 0 1 2)")
    parser.add_argument("--batch", type=int, default=10, help="DataLoader batch (default 10)")
    parser.add_argument("--target", type=float, default=300.0,
                        help="img/s the loader must feed (default 300)")
    add_common_args(parser, repeats=3, warmup=1)
    args = parser.parse_args()
    if (args.batch < 1 or args.images < 2 * args.batch or min(args.workers) < 0
            or not args.target > 0):
        raise SystemExit("--batch must be >= 1, --images >= 2 batches, --workers >= 0, "
                         "--target > 0")
    setup(args, f"Data loading: VOC training chain, {WIDTH}x{HEIGHT} JPEG q{QUALITY} -> "
          f"{CROP}^2 crops, {args.images} images")

    with tempfile.TemporaryDirectory() as tmp:
        pairs = make_images(Path(tmp), args.images)
        kib = np.mean([p.stat().st_size for p, _ in pairs]) / 1024
        print(f"   generated {len(pairs)} JPEGs, mean {kib:.0f} KiB")

        # 1. stages
        per_image = stage_times(pairs, args.repeats)
        total = sum(np.mean(v) for v in per_image.values())
        rows = [(name, f"{1e3 * np.mean(v):.2f}", f"{100 * np.mean(v) / total:.0f} %")
                for name, v in per_image.items()]
        rows.append(("sum", f"{1e3 * total:.2f}", "100 %"))
        print("\n== 1. stages, CPU time per image (mean over images of the best repeat)")
        print_table(("stage", "ms / image", "share"), rows)
        per_worker = 1.0 / total
        needed = math.ceil(args.target / per_worker)
        print(f"   one worker: {per_worker:.0f} img/s; {args.target:.0f} img/s need {needed} "
              "worker(s) (one core each)")

        # 2. DataLoader
        data = AugmentedDataset(JPEGFolder(pairs), training_chain(), CAFFE, seed=0)
        loader_rate(data, 0, args.batch)  # warm the page cache and the allocator
        rows = []
        for workers in args.workers:
            rates = [loader_rate(data, workers, args.batch) for _ in range(args.repeats)]
            per = max(rates) / max(workers, 1)
            rows.append((workers, f"{max(rates):.0f}", f"{np.median(rates):.0f}", f"{per:.0f}"))
        print(f"\n== 2. DataLoader, batch {args.batch}, one pass over the images (wall clock)")
        print_table(("workers", "img/s (best)", "img/s (median)", "img/s per worker"), rows)

        # 3. PIL draft
        rng = np.random.default_rng(1)
        draws = rng.uniform(SCALES[0], 1.0, size=len(pairs))  # the recipe's scales below 1
        reduced = sum(draft_decode(path, s)[0] < WIDTH for (path, _), s in zip(pairs, draws))
        print(f"\n== 3. PIL.Image.draft at the recipe's scales < 1 ({SCALES[0]} ... 1.0): "
              f"draft reduces {reduced} of {len(pairs)} decodes")

        def decode_all(fn) -> None:
            for (path, _), s in zip(pairs, draws):
                fn(path, s)

        cases = {
            "decode (full size)": lambda: decode_all(lambda p, s: plain_decode(p)),
            "draft(scale), decode": lambda: decode_all(draft_decode),
            "full decode, resize to 1/2": lambda: decode_all(lambda p, s: halved(p)),
            "draft(1/2), decode": lambda: decode_all(lambda p, s: draft_decode(p, 0.5)),
        }
        times = interleaved_times(cases, args.repeats, args.warmup)
        n = len(pairs)
        print_table(("decode", "ms / image (best cpu)", "ms / image (median cpu)"),
                    [(name, f"{1e3 * best(t.cpu) / n:.2f}", f"{1e3 * median(t.cpu) / n:.2f}")
                     for name, t in times.items()])
        gain = best(times["decode (full size)"].cpu) / best(times["draft(scale), decode"].cpu)
        half_gain = (best(times["full decode, resize to 1/2"].cpu)
                     / best(times["draft(1/2), decode"].cpu))
        print(f"   at the recipe's scales draft decodes {gain:.2f}x as fast as the plain decode "
              f"({reduced} reductions); only at scales <= 0.5, outside the recipe, would it "
              f"pay ({half_gain:.1f}x for the 1/2 reduction)")

    print_result("loader", f"img/s per worker (one core), {CROP}^2 crops of {WIDTH}x{HEIGHT} "
                 "JPEGs", per_worker, f"{args.target:.0f} img/s with {needed} worker(s)", None)
    print_load()


if __name__ == "__main__":
    main()
