"""Device names as the command line takes them ("auto", "cpu", "cuda", "cuda:N"), for inference
and training alike, and the mixed-precision context both run their networks in.

`parse_device` checks a name's spelling alone, so that a run's settings can be checked before
anything starts; `resolve_device` turns it into a device that exists here.
"""

from __future__ import annotations

import contextlib

import torch

from halftint.errors import Setting, UsageError


def parse_device(name: str) -> tuple[str, int | None]:
    """The kind ("auto", "cpu" or "cuda") and the CUDA index (None when not given) of `name`.

    Raises:
        UsageError: not one of "auto", "cpu", "cuda" or "cuda:N" with N a number.
    """
    if name in ("auto", "cpu"):
        return name, None
    if name == "cuda" or name.startswith("cuda:"):
        index_text = name.partition(":")[2]
        if index_text and not index_text.isdigit():
            raise UsageError(f"device {name!r}: the CUDA index must be a number, as in cuda:0")
        return "cuda", int(index_text) if index_text else None
    raise UsageError(f"unknown device {name!r}: use auto, cpu, cuda or cuda:N")


def resolve_device(name: str, *, cuda_index: int | None = None) -> torch.device:
    """Turn "auto", "cpu", "cuda" or "cuda:N" into a device that exists here.

    "auto" prefers CUDA when a device is present. A bare "cuda", and "auto" on CUDA, mean device
    `cuda_index` when given (training: each process's local rank), else the current device
    ("auto" then stays the index-free `cuda`).

    Raises:
        UsageError: the name is not one of those, or names a CUDA device that is not present.
    """
    kind, index = parse_device(name)
    if kind == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        if cuda_index is None:
            return torch.device("cuda")
        kind = "cuda"
    if kind == "cpu":
        return torch.device("cpu")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise UsageError(
            "device {name!r}: no CUDA device is available; use {cpu}",
            name=name,
            cpu=Setting("device", "cpu"),
        )
    if index is None:
        index = cuda_index if cuda_index is not None else torch.cuda.current_device()
    if index >= count:
        raise UsageError(
            f"device {name!r}: only {count} CUDA device(s) here (cuda:0 .. cuda:{count - 1})"
        )
    return torch.device("cuda", index)


def autocast(
    device: torch.device, dtype: torch.dtype | None
) -> contextlib.AbstractContextManager[object]:
    """A context running the networks' layers in `dtype` on `device` (float32 for None)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)
