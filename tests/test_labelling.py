"""Per-image stages: attention files, proxy labels, evaluation, skip-existing and skip-bad."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from wsss.cam import CAMExtractor
from wsss.data.images import read_label, write_label
from wsss.data.sample import VOC_CLASSES
from wsss.data.synthetic import SyntheticVOC
from wsss.data.transforms import TORCHVISION
from wsss.engine.distributed import DistContext
from wsss.engine.evaluation import evaluate_label_dir, evaluate_segmentation
from wsss.engine.labelling import (
    generate_attention,
    generate_pseudo_labels,
    load_attention,
    save_attention,
)
from wsss.fusion import fuse_saliency
from wsss.models import create_model


@pytest.fixture(scope="module")
def data():
    return SyntheticVOC(6, image_size=48, seed=2)


@pytest.fixture(scope="module")
def seenet():
    torch.manual_seed(0)
    return create_model("seenet", backbone="vgg16", backbone_kwargs={"width": 1 / 16},
                        num_classes=20)


def test_attention_files_round_trip_and_skip_existing(tmp_path, data, seenet):
    extractor = CAMExtractor(seenet, flip=True)
    first = generate_attention(extractor, data, tmp_path, TORCHVISION, progress=False)
    assert sorted(first.written) == sorted(data.names) and not first.skipped
    stored = load_attention(tmp_path / f"{data.names[0]}.npz")
    sample = data[0]
    np.testing.assert_array_equal(stored.classes, sample.classes)
    assert stored.fused.shape == (20, 48, 48) and set(stored.branches) == {"a", "b"}
    image = torch.from_numpy(np.ascontiguousarray(sample.image)).permute(2, 0, 1)[None]
    mean = torch.tensor(TORCHVISION.mean).view(1, 3, 1, 1)
    std = torch.tensor(TORCHVISION.std).view(1, 3, 1, 1)
    direct = extractor((image.float() / 255 - mean) / std, torch.from_numpy(sample.classes)[None])
    np.testing.assert_allclose(stored.fused, direct.fused[0].numpy(), atol=1e-3)  # float16
    absent = sample.classes == 0
    assert float(np.abs(stored.fused[absent]).max()) == 0.0
    (tmp_path / f"{data.names[1]}.npz").unlink()
    again = generate_attention(extractor, data, tmp_path, TORCHVISION, progress=False)
    assert again.written == (data.names[1],) and len(again.skipped) == 5


def test_sharding_covers_every_image_once(tmp_path, data, seenet):
    extractor = CAMExtractor(seenet)
    parts = [generate_attention(extractor, data, tmp_path, TORCHVISION, progress=False,
                                ctx=DistContext(rank=r, world_size=2)) for r in range(2)]
    assert sorted(parts[0].written + parts[1].written) == sorted(data.names)
    assert not set(parts[0].written) & set(parts[1].written)


def test_pseudo_labels_equal_fuse_saliency(tmp_path, data, seenet):
    generate_attention(CAMExtractor(seenet), data, tmp_path / "att", TORCHVISION,
                       progress=False)
    report = generate_pseudo_labels(data, tmp_path / "att", tmp_path / "labels", progress=False)
    assert len(report.written) == len(data)
    for sample in data:
        stored = load_attention(tmp_path / "att" / f"{sample.name}.npz")
        want = fuse_saliency(stored.fused, sample.saliency, sample.classes)
        np.testing.assert_array_equal(read_label(tmp_path / "labels" / f"{sample.name}.png"),
                                      want)


def test_bad_attention_file_fails_or_is_skipped(tmp_path, data, seenet):
    generate_attention(CAMExtractor(seenet), data, tmp_path / "att", TORCHVISION,
                       progress=False)
    bad = tmp_path / "att" / f"{data.names[2]}.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match=data.names[2]):
        generate_pseudo_labels(data, tmp_path / "att", tmp_path / "l1", progress=False)
    report = generate_pseudo_labels(data, tmp_path / "att", tmp_path / "l2", skip_bad=True,
                                    progress=False)
    assert [n for n, _ in report.failed] == [data.names[2]]
    assert not (tmp_path / "l2" / f"{data.names[2]}.png").exists()
    assert len(report.written) == len(data) - 1


def test_label_dir_quality_golden(tmp_path, data):
    for i, sample in enumerate(data):
        label = sample.label.copy()
        if i == 0:
            label[:] = 255  # an all-ignored proxy label
        write_label(tmp_path / f"{sample.name}.png", label)
    quality = evaluate_label_dir(data, tmp_path)
    assert quality.scores.miou == pytest.approx(1.0)
    valid = [(s.label != 255).sum() for s in data]
    assert quality.ignored == pytest.approx(valid[0] / sum(valid))


def test_evaluate_segmentation_of_a_perfect_model(data):
    class Oracle(torch.nn.Module):
        """Predicts the ground truth of the image it was given (looked up by pixels)."""

        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))
            self.table = {s.image.tobytes(): s.label for s in data}

        def forward(self, x):
            out = []
            for img in x:
                rgb = img * torch.tensor(TORCHVISION.std).view(3, 1, 1) + torch.tensor(
                    TORCHVISION.mean).view(3, 1, 1)
                key = np.round(rgb.permute(1, 2, 0).numpy() * 255).astype(np.uint8).tobytes()
                label = torch.from_numpy(self.table[key].astype(np.int64))
                label[label == 255] = 0
                out.append(torch.nn.functional.one_hot(label, 21).permute(2, 0, 1).float() * 10)
            return torch.stack(out) + self.w

    scores = evaluate_segmentation(Oracle(), data, TORCHVISION, progress=False)
    assert scores.miou == pytest.approx(1.0)


def test_save_attention_is_atomic_and_compact(tmp_path):
    att = np.random.default_rng(0).uniform(size=(20, 8, 8)).astype(np.float32)
    classes = np.zeros(20, np.float32)
    classes[[3, 7]] = 1
    names = tuple(f"class {k}" for k in range(20))
    save_attention(tmp_path / "x.npz", att, {}, classes, names)
    with np.load(tmp_path / "x.npz") as f:
        assert f["fused"].shape == (2, 8, 8) and f["fused"].dtype == np.float16
        assert tuple(f["class_names"]) == names
    assert [p.name for p in tmp_path.iterdir()] == ["x.npz"]


def test_attention_files_refuse_other_classes_by_name(tmp_path):
    """A file written for a 3-class dataset is refused by a 20-class reader, naming both."""
    att = np.full((3, 2, 2), 0.5, np.float32)
    save_attention(tmp_path / "x.npz", att, {"a": att}, np.array([0, 1, 0], np.float32),
                   ("cat", "dog", "cow"))
    stored = load_attention(tmp_path / "x.npz")
    assert stored.class_names == ("cat", "dog", "cow") and stored.fused.shape == (3, 2, 2)
    assert stored.classes.tolist() == [0.0, 1.0, 0.0]
    with pytest.raises(ValueError, match=r"x\.npz: written for 3 classes \(cat, dog, cow\), "
                                         r"but the dataset has 20 \(aeroplane"):
        load_attention(tmp_path / "x.npz", class_names=VOC_CLASSES)
    with pytest.raises(ValueError, match="class_names: 2 names"):
        save_attention(tmp_path / "y.npz", att, {}, np.array([0, 1, 0], np.float32), ("a", "b"))
