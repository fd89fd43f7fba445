"""Multi-process training under ``torchrun`` (PyTorch DistributedDataParallel).

``bnnfpga train`` needs no option for this: when the environment variables
torchrun sets are present (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
``MASTER_ADDR``/``MASTER_PORT``) and ``WORLD_SIZE > 1``, :func:`setup` joins the
process group (NCCL when the training device is a GPU, gloo on the CPU).

Sharding follows ``torch.utils.data.DistributedSampler``: every rank draws the
same permutation of the training set for an epoch (the same seeded
generator), pads it by wrapping around to a multiple of the world size, and
takes every ``world_size``-th index starting at its rank.  So each rank sees a
disjoint, equally long shard, and the order depends only on the seed and the
epoch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import torch


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env_info() -> DistInfo:
    """Rank, world size and local rank from torchrun's environment (1 process without it)."""
    def _int(name, default):
        v = os.environ.get(name)
        if v is None or v == "":
            return default
        try:
            return int(v)
        except ValueError:
            raise ValueError(f"environment variable {name}={v!r} is not an integer") from None

    world = _int("WORLD_SIZE", 1)
    rank = _int("RANK", 0)
    local = _int("LOCAL_RANK", rank)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"inconsistent torchrun environment: RANK={rank}, WORLD_SIZE={world}")
    return DistInfo(rank, world, local)


def info() -> DistInfo:
    """The current process's place in the process group (1 process when none is initialized)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return DistInfo(dist.get_rank(), dist.get_world_size(), env_info().local_rank)
    return DistInfo()


def setup(device: str = "cpu") -> DistInfo:
    """Join the process group torchrun describes (idempotent); returns this process's DistInfo.

    Without torchrun (WORLD_SIZE unset or 1) nothing is initialized.
    """
    import torch.distributed as dist

    env = env_info()
    if not env.enabled:
        return info()
    if not dist.is_available():
        raise RuntimeError("torch.distributed is not available in this torch build")
    if not dist.is_initialized():
        backend = "nccl" if str(device).startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(env.local_rank)
        dist.init_process_group(backend=backend)
    return info()


def device_for(device: str, d: DistInfo) -> torch.device:
    """The torch device this rank trains on: ``cuda`` becomes ``cuda:LOCAL_RANK`` under torchrun."""
    dev = torch.device(device)
    if dev.type == "cuda" and d.enabled and dev.index is None:
        return torch.device("cuda", d.local_rank)
    return dev


def cleanup() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard_indices(n: int, generator: torch.Generator, d: DistInfo) -> torch.Tensor:
    """One epoch's indices for this rank (DistributedSampler order; see the module docstring).

    Draws exactly one ``randperm(n)`` from ``generator`` on every rank, so with
    one process the order is the plain permutation.
    """
    perm = torch.randperm(n, generator=generator)
    if not d.enabled:
        return perm
    per_rank = -(-n // d.world_size)
    total = per_rank * d.world_size
    if total > n:
        reps = -(-total // n)
        perm = perm.repeat(reps)[:total]
    return perm[d.rank : total : d.world_size]


def all_reduce_sum(values, device=None) -> list:
    """Sum a list of numbers over all ranks (identity with one process)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return list(values)
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.cpu().tolist()


def broadcast_buffers(model: torch.nn.Module, src: int = 0) -> None:
    """Copy rank ``src``'s buffers (BatchNorm running statistics) to every rank."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    for b in model.buffers():
        dist.broadcast(b.data, src)


def gather_tensor(t: torch.Tensor, d: DistInfo) -> list:
    """All ranks' copies of a same-shaped tensor (a list with one entry per rank)."""
    import torch.distributed as dist

    if not d.enabled:
        return [t.clone()]
    out = [torch.empty_like(t) for _ in range(d.world_size)]
    dist.all_gather(out, t.contiguous())
    return out


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def wrap(model: torch.nn.Module, d: DistInfo, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel around ``model`` when there are several processes (else the model)."""
    if not d.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    return DDP(model, device_ids=ids)
