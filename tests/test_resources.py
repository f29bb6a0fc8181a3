"""Default thread and DataLoader worker counts: affinity, cgroup quota, torchrun, overrides."""

from __future__ import annotations

import os

import pytest
import torch

from wsss.engine import resources
from wsss.engine.resources import (
    available_cpus,
    default_num_workers,
    default_threads,
    resolve_num_workers,
    set_threads,
)


@pytest.fixture
def machine(monkeypatch, tmp_path):
    """A process allowed on ``cpus`` CPUs, with a cgroup tree under ``tmp_path``."""

    def set_up(cpus: int, cpu_max: str | None = None, local_world: int | None = None) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cpus)), raising=False)
        monkeypatch.setattr(resources, "_CGROUP", tmp_path)
        if cpu_max is not None:
            (tmp_path / "cpu.max").write_text(cpu_max + "\n")
        monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
        if local_world is None:
            monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
        else:
            monkeypatch.setenv("LOCAL_WORLD_SIZE", str(local_world))

    return set_up


def test_affinity_without_quota(machine):
    machine(12)
    assert available_cpus() == 12
    assert default_threads() == 12
    assert default_num_workers("cuda") == 8  # min(8, 12 - 1)
    assert default_num_workers(torch.device("cpu")) == 0


def test_cgroup_v2_quota_caps_the_affinity(machine):
    machine(64, cpu_max="250000 100000")  # docker --cpus 2.5
    assert available_cpus() == 3
    assert default_threads() == 3
    assert default_num_workers("cuda:1") == 2
    machine(64, cpu_max="max 100000")
    assert available_cpus() == 64


def test_cgroup_v1_quota(machine, tmp_path):
    machine(16)
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("400000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert available_cpus() == 4
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # no limit
    assert available_cpus() == 16


def test_torchrun_processes_share_the_node(machine):
    machine(32, local_world=4)
    assert default_threads() == 8
    assert default_num_workers("cuda") == 7
    machine(3, local_world=8)  # more processes than cores: never below one
    assert default_threads() == 1
    assert default_num_workers("cuda") == 1


def test_omp_num_threads_wins(machine, monkeypatch):
    machine(32, local_world=4)
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    assert default_threads() == 5
    monkeypatch.setenv("OMP_NUM_THREADS", "0")  # not a usable setting: the rule applies
    assert default_threads() == 8
    monkeypatch.setenv("OMP_NUM_THREADS", "junk")
    assert default_threads() == 8


def test_set_threads(machine):
    before = torch.get_num_threads()
    try:
        assert set_threads(2) == 2 and torch.get_num_threads() == 2
        machine(1)
        assert set_threads(None) == 1 and torch.get_num_threads() == 1
        for bad in (0, -2, True, 1.5, "2"):
            with pytest.raises(ValueError, match=r"^threads"):
                set_threads(bad)  # type: ignore[arg-type]
    finally:
        torch.set_num_threads(before)


def test_resolve_num_workers(machine):
    machine(6)
    assert resolve_num_workers(None, "cuda") == 5
    assert resolve_num_workers(None, "cpu") == 0
    assert resolve_num_workers(0, "cuda") == 0
    assert resolve_num_workers(12, "cpu") == 12
    for bad in (-1, True, 2.0, "2"):
        with pytest.raises(ValueError, match=r"^num_workers"):
            resolve_num_workers(bad, "cpu")  # type: ignore[arg-type]
