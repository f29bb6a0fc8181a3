"""The training loop: resume, gradient accumulation and DDP (gloo, 2 processes) reproduce the
plain single-process run."""

from __future__ import annotations

import gc
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from wsss.data.loader import AugmentedDataset
from wsss.data.synthetic import SyntheticVOC
from wsss.data.transforms import TORCHVISION, RandomHorizontalFlip
from wsss.engine.distributed import DistContext
from wsss.engine.optim import LRMultipliers
from wsss.engine.rundir import RunDir
from wsss.engine.steps import classifier_step, seenet_step
from wsss.engine.trainer import TrainConfig, _batches, train
from wsss.io import load_checkpoint
from wsss.models import create_model


def dataset(n: int = 12) -> AugmentedDataset:
    return AugmentedDataset(SyntheticVOC(n, image_size=48, seed=3), RandomHorizontalFlip(),
                            TORCHVISION, seed=5)


def model(name: str = "cam_classifier", dropout: float = 0.0) -> torch.nn.Module:
    torch.manual_seed(0)
    return create_model(name, backbone="vgg16", backbone_kwargs={"width": 1 / 16},
                        num_classes=20, dropout=dropout, init_std=None)


CONFIG = TrainConfig(iterations=6, batch_size=4, lr=0.05, multipliers=LRMultipliers.uniform(),
                     checkpoint_every=2, log_every=1)


def weights(m: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in m.state_dict().items()}


@pytest.mark.parametrize(("name", "dropout"), [("cam_classifier", 0.5), ("seenet", 0.5)])
def test_resume_is_bit_identical(tmp_path, name, dropout):
    step = seenet_step if name == "seenet" else classifier_step
    straight = model(name, dropout)
    train(straight, dataset(), step, CONFIG, RunDir(tmp_path / "a"), progress=False)

    interrupted = model(name, dropout)
    first = train(interrupted, dataset(), step, CONFIG, RunDir(tmp_path / "b"),
                  stop_after=3, progress=False)
    assert not first.completed and first.iteration == 3
    resumed = model(name, dropout)  # a fresh process would rebuild the model from scratch
    result = train(resumed, dataset(), step, CONFIG, RunDir(tmp_path / "b"), resume=True,
                   progress=False)
    assert result.completed and result.iteration == 6
    for key, value in weights(straight).items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    losses = [m["loss"] for m in RunDir(tmp_path / "b").read_metrics()]
    assert losses == [m["loss"] for m in RunDir(tmp_path / "a").read_metrics()]
    assert (tmp_path / "b" / "model.pt").exists()


def test_dataloader_workers_do_not_change_the_result(tmp_path):
    # 12 images, batch 4: 8 steps span three epochs, so the epoch reaches every worker.
    config = TrainConfig(**{**CONFIG.__dict__, "iterations": 8})
    trained = {}
    for workers in (0, 2):
        m = model("seenet", dropout=0.5)
        cfg = TrainConfig(**{**config.__dict__, "num_workers": workers})
        run = RunDir(tmp_path / f"w{workers}")
        train(m, dataset(), seenet_step, cfg, run, progress=False)
        trained[workers] = (weights(m), [r["loss"] for r in run.read_metrics()])
    assert len(trained[0][1]) == 8
    assert trained[2][1] == trained[0][1]
    for key, value in trained[0][0].items():
        assert torch.equal(value, trained[2][0][key]), key


@pytest.mark.parametrize(("workers", "start"), [(0, 0), (2, 0), (2, 4)])
def test_batches_follow_the_sampler_and_the_epoch(workers, start):
    # Reference: epoch e's DistributedSampler order, the images augmented for epoch e.
    micro, steps_per_epoch = 4, 3
    expected = []
    reference = dataset()
    for epoch in range(3):
        sampler = DistributedSampler(reference, num_replicas=1, rank=0, seed=CONFIG.seed,
                                     drop_last=True)
        sampler.set_epoch(epoch)
        reference.set_epoch(epoch)
        order = list(sampler)
        for step in range(steps_per_epoch):
            items = [reference[i] for i in order[step * micro : (step + 1) * micro]]
            expected.append(torch.stack([item["image"] for item in items]))
    config = TrainConfig(**{**CONFIG.__dict__, "num_workers": workers})
    batches = _batches(dataset(), config, DistContext(), micro, start)
    for step in range(start, len(expected)):
        assert torch.equal(next(batches)["image"], expected[step]), step


def test_num_workers_default_and_errors():
    assert TrainConfig(iterations=1).num_workers is None  # automatic: 0 on CPU
    with pytest.raises(ValueError, match="num_workers"):
        TrainConfig(iterations=1, num_workers=-1)


def test_resume_from_a_corrupt_checkpoint_uses_the_previous_one(tmp_path):
    """Bytes flipped in the middle of checkpoint.pt: the run warns naming it, resumes from
    checkpoint.prev.pt (one step earlier) and still ends bit-identical to an unbroken run."""
    config = TrainConfig(**{**CONFIG.__dict__, "checkpoint_every": 1})
    straight = model("seenet", 0.5)
    train(straight, dataset(), seenet_step, config, RunDir(tmp_path / "a"), progress=False)

    run = RunDir(tmp_path / "b")
    train(model("seenet", 0.5), dataset(), seenet_step, config, run, stop_after=3,
          progress=False)
    assert load_checkpoint(run.previous_checkpoint_path)["iteration"] == 2
    data = bytearray(run.checkpoint_path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 8):
        data[i] ^= 0xFF
    run.checkpoint_path.write_bytes(bytes(data))
    resumed = model("seenet", 0.5)
    with pytest.warns(RuntimeWarning, match=rf"{run.checkpoint_path}: checksum mismatch.*"
                      r"using the previous checkpoint .*checkpoint\.prev\.pt"):
        result = train(resumed, dataset(), seenet_step, config, run, resume=True,
                       progress=False)
    assert result.completed and result.iteration == 6
    for key, value in weights(straight).items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    losses = [m["loss"] for m in run.read_metrics()]
    assert losses == [m["loss"] for m in RunDir(tmp_path / "a").read_metrics()]
    # the damaged file is kept aside, and the rotation went on from the good one
    assert (tmp_path / "b" / "checkpoint.pt.corrupt").read_bytes() == bytes(data)
    assert load_checkpoint(run.previous_checkpoint_path)["iteration"] == 5


def test_gradient_accumulation_matches_the_full_batch(tmp_path):
    full = model()
    train(full, dataset(), classifier_step, CONFIG, None, progress=False)
    accumulated = model()
    train(accumulated, dataset(), classifier_step,
          TrainConfig(**{**CONFIG.__dict__, "micro_batch": 1}), None, progress=False)
    for key, value in weights(full).items():
        torch.testing.assert_close(accumulated.state_dict()[key], value, rtol=1e-4, atol=1e-5)


def test_resume_refuses_a_different_config(tmp_path):
    run = RunDir(tmp_path)
    train(model(), dataset(), classifier_step, CONFIG, run, stop_after=2, progress=False)
    other = TrainConfig(**{**CONFIG.__dict__, "lr": 0.01})
    with pytest.raises(ValueError, match=r"resume.*lr"):
        train(model(), dataset(), classifier_step, other, run, resume=True, progress=False)


def test_config_errors():
    with pytest.raises(ValueError, match="batch_size"):
        TrainConfig(iterations=2, batch_size=5, micro_batch=2).accumulation(1)
    with pytest.raises(ValueError, match="optimizer"):
        TrainConfig(iterations=2, optimizer="lbfgs")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="iterations"):
        TrainConfig(iterations=0)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        m = model()
        ctx = DistContext(rank=rank, world_size=world)
        gc.disable()  # only the trainer's own collection may free the DDP wrapper's cycles
        try:
            train(m, dataset(), classifier_step, CONFIG, None, ctx=ctx, progress=False)
            # no DDP wrapper (and its hold on the process group) outlives the training
            alive = [o for o in gc.get_objects() if isinstance(o, DistributedDataParallel)]
        finally:
            gc.enable()
        if alive:
            raise AssertionError(f"rank {rank}: {len(alive)} DDP wrapper(s) outlived train()")
        if rank == 0:
            torch.save(weights(m), out)
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_match_one_process(tmp_path):
    single = model()
    train(single, dataset(), classifier_step, CONFIG, None, progress=False)
    out = str(tmp_path / "ddp.pt")
    mp.spawn(_ddp_worker, args=(2, _free_port(), out), nprocs=2, join=True)
    ddp = torch.load(out, weights_only=True)
    for key, value in weights(single).items():
        torch.testing.assert_close(ddp[key], value, rtol=1e-4, atol=1e-5)
    assert not np.allclose(weights(model())["head.0.weight"].numpy(),
                           ddp["head.0.weight"].numpy())  # training did change the weights
