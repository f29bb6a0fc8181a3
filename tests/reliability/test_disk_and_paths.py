"""Disk hygiene: each script writes only under its ``--run-dir``, and no image-list entry can
make a script read or write outside the data root."""

from __future__ import annotations

import tempfile

import numpy as np
import pytest
from _mini_voc import SIZES, build_mini_voc, smooth_image
from _reliability import run_script, synthetic
from PIL import Image

from wsss.io import save_checkpoint
from wsss.models import create_model


def snapshot(*roots):
    """``path -> (size, mtime_ns)`` of every file and folder under ``roots``."""
    out = {}
    for root in roots:
        for path in [root, *root.rglob("*")]:
            st = path.stat()
            out[path] = (st.st_size if path.is_file() else -1, st.st_mtime_ns)
    return out


def test_every_script_writes_only_under_its_run_dir(tmp_path, monkeypatch):
    """The whole chain, run from an empty working directory with relative paths and an empty
    HOME and TMPDIR: after each script, every new or changed path lies in its run dir."""
    # torch's own import side effect, not a write of ours: the first optimizer imports
    # torch._dynamo, which creates an empty $TMPDIR/torchinductor_<user> cache folder
    import torch._dynamo  # noqa: F401

    cwd, home, tmp = (tmp_path / name for name in ("cwd", "home", "tmp"))
    for folder in (cwd, home, tmp):
        folder.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("TMPDIR", str(tmp))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.delenv("TORCH_HOME", raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    data = synthetic(8)
    train = ["--iterations", "1", "--batch-size", "4"]
    steps = [
        ("train_seenet", "runs/seenet", [*data, *train]),
        ("make_attention", "runs/attention",
         [*data, "--checkpoint", "runs/seenet/model.pt", "--scales", "1.0"]),
        ("make_pseudo_labels", "runs/labels", [*data, "--attention-dir", "runs/attention/maps"]),
        ("train_deeplab", "runs/deeplab", [*data, *train, "--labels-dir", "runs/labels"]),
        ("evaluate", "runs/evaluate",
         [*data, "--checkpoint", "runs/deeplab/model.pt", "--save-predictions"]),
    ]
    before = snapshot(cwd, home, tmp)
    for script, run_dir, argv in steps:
        run_script(script, [*argv, "--run-dir", run_dir])
        after = snapshot(cwd, home, tmp)
        allowed = cwd / run_dir
        changed = [p for p in after if after[p] != before.get(p)]
        stray = [p for p in changed if p != allowed and allowed not in p.parents
                 and p not in allowed.parents]  # creating runs/ itself is fine
        assert not stray, f"{script} wrote outside {run_dir}: {stray}"
        assert set(before) <= set(after), f"{script} deleted {set(before) - set(after)}"
        assert (allowed / "config.json").is_file()
        before = after
    assert sorted(p.name for p in (cwd / "runs").iterdir()) == sorted(
        run_dir.split("/")[1] for _, run_dir, _ in steps)
    assert not any(home.iterdir()) and not any(tmp.iterdir())


ESCAPES = ["../../../../outside", "../JPEGImages/2007_000032", "/etc/hostname", "sub/2007_000032",
           ".."]


@pytest.mark.parametrize("entry", ESCAPES)
@pytest.mark.parametrize("list_file", ["voc train.txt", "sbd train.txt"])
def test_list_entry_that_leaves_the_data_root_is_refused(tmp_path, list_file, entry):
    voc = build_mini_voc(tmp_path / "tree")
    # a real image where "../../../../outside" would lead from JPEGImages/, so without the check
    # the script could read it (and write "<run>/maps/../../../../outside.npz")
    outside = tmp_path / "tree" / "outside.jpg"
    Image.fromarray(smooth_image(*SIZES["2007_000032"], seed=0)).save(outside)
    lists = {"voc train.txt": voc.voc / "ImageSets" / "Segmentation" / "train.txt",
             "sbd train.txt": voc.sbd / "dataset" / "train.txt"}
    target = lists[list_file]
    target.write_text(target.read_text() + entry + "\n")
    line = len(target.read_text().splitlines())
    weights = tmp_path / "seenet.pt"
    save_checkpoint(create_model("seenet", backbone="vgg16_narrow_bn").state_dict(), weights)
    split = ["--train-split", "train"] if list_file.startswith("voc") else [
        "--train-split", "train_aug", "--sbd-root", str(voc.sbd)]
    run = tmp_path / "run"
    before = snapshot(tmp_path)
    with pytest.raises(ValueError, match=rf"train\.txt:{line}: .*no path may leave the data root"):
        run_script("make_attention", ["--voc-root", str(voc.root), *split, "--backbone",
                                      "vgg16_narrow_bn", "--checkpoint", str(weights),
                                      "--scales", "1.0", "--skip-bad", "--no-progress",
                                      "--threads", "1", "--run-dir", str(run)])
    after = snapshot(tmp_path)
    assert not [p for p in after if p not in before and run not in [p, *p.parents]]
    assert not list(run.rglob("*.npz"))
    assert np.asarray(Image.open(outside)).shape == (*SIZES["2007_000032"], 3)
