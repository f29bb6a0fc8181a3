"""How many CPU threads and ``DataLoader`` workers a process uses by default.

torch starts with one intra-op thread per core of the *machine*. That oversubscribes whenever
the process may use fewer cores: a CPU affinity mask (``taskset``, Slurm, cpusets), a container's
CPU quota (``docker --cpus``), or ``torchrun --nproc_per_node=N``, where N processes each start
that many threads. The defaults here count the cores this process may actually use:

- :func:`available_cpus`: the CPUs of the process's affinity mask, capped by the cgroup CPU
  quota (``cpu.max`` of cgroup v2, ``cpu.cfs_quota_us / cpu.cfs_period_us`` of v1), rounded up.
- :func:`default_threads` (the default of ``--threads``): ``OMP_NUM_THREADS`` when it is set,
  else ``max(1, available_cpus() // processes_per_node)``, where ``processes_per_node`` is
  torchrun's ``LOCAL_WORLD_SIZE`` (1 without torchrun). The processes of one node then share
  its cores instead of each claiming all of them.
- :func:`default_num_workers` (``TrainConfig(num_workers=None)``): 0 on CPU, where the model
  already uses every core the process has and workers would only compete with it; on CUDA
  ``min(8, max(1, cores_per_process - 1))``, leaving one core to the process that feeds the GPU.
  ``DataLoader`` workers run one torch thread each.

Results never depend on these numbers: augmentation is seeded per image
(:class:`~wsss.data.loader.AugmentedDataset`), whichever worker draws it.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

__all__ = [
    "available_cpus",
    "default_num_workers",
    "default_threads",
    "resolve_num_workers",
    "set_threads",
]

#: Most DataLoader workers :func:`default_num_workers` picks per process.
MAX_DEFAULT_WORKERS = 8

_CGROUP = Path("/sys/fs/cgroup")


def _cgroup_cpu_limit(root: Path | None = None) -> float | None:
    """The CPU quota of the process's cgroup in cores, or ``None`` when there is none."""
    root = _CGROUP if root is None else root
    try:  # cgroup v2: "<quota> <period>" or "max <period>"
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:  # cgroup v1: quota -1 means no limit
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return quota_us / period_us if quota_us > 0 and period_us > 0 else None
    except (OSError, ValueError):
        return None


def available_cpus() -> int:
    """The number of CPUs this process may use: affinity mask, capped by the cgroup quota.

    Returns
    -------
    int
        At least 1. ``len(os.sched_getaffinity(0))`` where the platform has it (else
        ``os.cpu_count()``), lowered to ``ceil(quota / period)`` of the cgroup CPU quota.

    Examples
    --------
    >>> 1 <= available_cpus() <= (os.cpu_count() or 1)
    True
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    limit = _cgroup_cpu_limit()
    if limit is not None:
        cpus = min(cpus, math.ceil(limit))
    return max(1, cpus)


def _processes_per_node() -> int:
    try:
        return max(1, int(os.environ.get("LOCAL_WORLD_SIZE", "1")))
    except ValueError:
        return 1


def _cores_per_process() -> int:
    return max(1, available_cpus() // _processes_per_node())


def _omp_num_threads() -> int | None:
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    try:
        threads = int(value.split(",")[0])
    except ValueError:
        return None
    return threads if threads >= 1 else None


def default_threads() -> int:
    """torch intra-op threads for this process: a share of the cores it may use.

    Returns
    -------
    int
        ``OMP_NUM_THREADS`` if set to a positive integer; otherwise
        ``max(1, available_cpus() // LOCAL_WORLD_SIZE)`` (``LOCAL_WORLD_SIZE`` is set by
        torchrun, 1 without it).

    Examples
    --------
    Without ``OMP_NUM_THREADS`` and torchrun, every core the process may use:

    >>> if "OMP_NUM_THREADS" not in os.environ and "LOCAL_WORLD_SIZE" not in os.environ:
    ...     assert default_threads() == available_cpus()
    >>> default_threads() >= 1
    True
    """
    return _omp_num_threads() or _cores_per_process()


def set_threads(threads: int | None = None) -> int:
    """Set torch's intra-op thread count: ``threads``, or :func:`default_threads` for ``None``.

    Parameters
    ----------
    threads
        A positive int, or ``None`` for the default.

    Returns
    -------
    int
        The thread count now in effect.

    Examples
    --------
    >>> before = torch.get_num_threads()
    >>> set_threads(1), torch.get_num_threads()
    (1, 1)
    >>> set_threads(0)
    Traceback (most recent call last):
    ...
    ValueError: threads: expected a positive int or None, got 0
    >>> _ = set_threads(before)
    """
    if threads is None:
        threads = default_threads()
    elif isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads: expected a positive int or None, got {threads!r}")
    torch.set_num_threads(threads)
    return threads


def default_num_workers(device: torch.device | str) -> int:
    """``DataLoader`` workers per process: 0 on CPU, up to 8 on CUDA (one core left free).

    Parameters
    ----------
    device
        The device the model trains on.

    Returns
    -------
    int
        0 unless ``device`` is CUDA; then
        ``min(8, max(1, available_cpus() // LOCAL_WORLD_SIZE - 1))``.

    Examples
    --------
    >>> default_num_workers("cpu")
    0
    >>> default_num_workers("cuda:0") == min(8, max(1, available_cpus() - 1))  # one process
    True
    """
    if torch.device(device).type != "cuda":
        return 0
    return min(MAX_DEFAULT_WORKERS, max(1, _cores_per_process() - 1))


def resolve_num_workers(num_workers: int | None, device: torch.device | str) -> int:
    """``num_workers`` as given (a non-negative int), or :func:`default_num_workers` for ``None``.

    Examples
    --------
    >>> resolve_num_workers(None, "cpu"), resolve_num_workers(3, "cpu")
    (0, 3)
    >>> resolve_num_workers(-1, "cpu")
    Traceback (most recent call last):
    ...
    ValueError: num_workers: expected a non-negative int or None, got -1
    """
    if num_workers is None:
        return default_num_workers(device)
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers: expected a non-negative int or None, got {num_workers!r}")
    return num_workers
