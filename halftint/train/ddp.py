"""Data-parallel training over several processes started by `torchrun` (gloo on CPU, NCCL on CUDA).

Each process trains on its share of every global batch; after each backward pass the gradients
of the trained networks are averaged over all processes (what DistributedDataParallel does), so
all copies of the weights stay identical. Averaging explicitly, rather than wrapping networks in
DDP, keeps the colorizer stage simple: it calls G four times and E twice before one backward
pass, which DDP's hooks do not allow. Only rank 0 writes files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Distributed:
    """Who this process is: `rank` of `world_size`; `local_rank` picks its GPU."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def start(device_kind: str) -> Distributed:
    """Join the process group when started by `torchrun`; a no-op for a single process.

    Args:
        device_kind: "cuda" selects the NCCL backend, anything else gloo.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_kind == "cuda" else "gloo")
    return Distributed(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def stop(context: Distributed) -> None:
    """Leave the process group (after the last collective call)."""
    if context.enabled and dist.is_initialized():
        dist.destroy_process_group()


def barrier(context: Distributed) -> None:
    """Wait for every process (e.g. until rank 0 has written a state the others will read)."""
    if context.enabled:
        dist.barrier()


def average_gradients(context: Distributed, networks: Iterable[nn.Module]) -> None:
    """Replace each parameter's gradient by its mean over all processes (one flat all-reduce)."""
    if not context.enabled:
        return
    gradients = [
        parameter.grad
        for network in networks
        for parameter in network.parameters()
        if parameter.grad is not None
    ]
    if not gradients:
        return
    flat = torch.cat([gradient.reshape(-1) for gradient in gradients])
    dist.all_reduce(flat)
    flat /= context.world_size
    offset = 0
    for gradient in gradients:
        count = gradient.numel()
        gradient.copy_(flat[offset : offset + count].view_as(gradient))
        offset += count


def mean_over_processes(context: Distributed, values: dict[str, float]) -> dict[str, float]:
    """Average a dict of numbers over all processes (same keys everywhere), for logging."""
    if not context.enabled or not values:
        return values
    names = sorted(values)
    tensor = torch.tensor([values[name] for name in names], dtype=torch.float64)
    tensor = _to_backend_device(tensor)
    dist.all_reduce(tensor)
    tensor /= context.world_size
    return dict(zip(names, tensor.cpu().tolist(), strict=True))


def any_process(context: Distributed, flags: Sequence[bool]) -> list[bool]:
    """Each flag true on every process if it is true on any: decisions all processes share."""
    if not context.enabled:
        return list(flags)
    tensor = _to_backend_device(torch.tensor([1.0 if flag else 0.0 for flag in flags]))
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return [value > 0 for value in tensor.cpu().tolist()]


def _to_backend_device(tensor: torch.Tensor) -> torch.Tensor:
    # NCCL only reduces CUDA tensors; gloo works on CPU ones
    if dist.get_backend() == "nccl":
        return tensor.cuda()
    return tensor
