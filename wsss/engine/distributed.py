"""``torch.distributed`` set-up for training and labelling under ``torchrun``.

Under ``torchrun --nproc_per_node=N`` every process reads its rank from the environment
(``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``); :func:`init_distributed` joins the process group
with NCCL on GPU and gloo on CPU. Without those variables it returns a single-process context,
so the same script runs alone or under torchrun.
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as dist

__all__ = ["DistContext", "init_distributed", "shard"]

T = TypeVar("T")
_CPU = torch.device("cpu")


@dataclass(frozen=True)
class DistContext:
    """Where this process sits in the job.

    Attributes
    ----------
    rank, world_size, local_rank
        As set by torchrun (0, 1, 0 for a single process).
    device
        The device this process computes on.
    initialized
        Whether this context initialised a process group (and should destroy it).

    Examples
    --------
    >>> ctx = DistContext()
    >>> ctx.is_main, ctx.world_size, ctx.device
    (True, 1, device(type='cpu'))
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = _CPU
    initialized: bool = False

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that logs and writes checkpoints."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    def barrier(self) -> None:
        """Wait for every rank (no-op for a single process)."""
        if self.distributed and dist.is_initialized():
            dist.barrier()

    def close(self) -> None:
        """Destroy the process group if this context created it.

        Every rank first waits for the others (no rank tears its connections down while a peer
        still uses them) and frees unreachable objects that may hold the group (a DDP wrapper
        left in a reference cycle), so that nothing touches the group after it is gone.
        """
        if self.initialized and dist.is_initialized():
            gc.collect()
            dist.barrier()
            dist.destroy_process_group()


def init_distributed(device: str | None = None, backend: str | None = None) -> DistContext:
    """Join the torchrun process group, or return a single-process context.

    Parameters
    ----------
    device
        ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``) or ``None`` (CUDA when available). Under
        torchrun a CUDA process uses ``cuda:LOCAL_RANK``.
    backend
        A ``torch.distributed`` backend name; ``None`` picks NCCL for CUDA and gloo for CPU.

    Returns
    -------
    DistContext
        Its ``initialized`` is true when this call created the process group (call
        :meth:`DistContext.close` at the end).

    Examples
    --------
    Without torchrun's environment variables (a plain ``python script.py``):

    >>> ctx = init_distributed("cpu")
    >>> ctx.distributed, ctx.rank, ctx.world_size, ctx.device
    (False, 0, 1, device(type='cpu'))
    >>> ctx.close()  # a no-op here: no process group was created
    >>> init_distributed("gpu")
    Traceback (most recent call last):
    ...
    ValueError: device: expected 'cpu', 'cuda', 'cuda:N' or None, got 'gpu'
    """
    if device is not None:
        if not isinstance(device, str):
            raise TypeError(f"device: expected a str or None, got {type(device).__name__}")
        if device != "cpu" and re.fullmatch(r"cuda(:[0-9]+)?", device) is None:
            raise ValueError(f"device: expected 'cpu', 'cuda', 'cuda:N' or None, got {device!r}")
    if backend is not None and (not isinstance(backend, str) or not backend):
        raise TypeError(f"backend: expected a non-empty str or None, got {backend!r}")
    use_cuda = torch.cuda.is_available() if device is None else device.startswith("cuda")
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext(device=torch.device("cuda" if use_cuda else "cpu"))
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if use_cuda:
        torch.cuda.set_device(local_rank)
    dev = torch.device(f"cuda:{local_rank}" if use_cuda else "cpu")
    created = False
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if use_cuda else "gloo"))
        created = True
    return DistContext(
        rank=rank, world_size=world, local_rank=local_rank, device=dev, initialized=created
    )


def shard(items: Sequence[T], ctx: DistContext) -> list[T]:
    """The items this rank handles: every ``world_size``-th one, starting at its rank.

    Examples
    --------
    >>> shard(list("abcde"), DistContext(rank=1, world_size=2))
    ['b', 'd']
    """
    return list(items[ctx.rank :: ctx.world_size])
