"""In what precision the networks run, and the memory for tiles (device names: `halftint.devices`).

Precision "auto" was decided by measurement (benchmarks/colorize.py; AMD EPYC with AVX-512
BF16, one thread, randomly initialised networks, one 256x256 halftone in random mode, CPU
seconds; all three with channels_last):

| preset | fp32 | bf16 everywhere | auto: fp32 descreen + bf16 colorization |
|--------|------|-----------------|-----------------------------------------|
| paper  | 7.30 | 3.55            | 4.32                                    |
| lite   | 0.13 | 0.10            | 0.11                                    |

Max abs difference from fp32 on the final 8-bit image: 5 (paper) and 3-4 (lite) levels with
bf16 everywhere, 3 of which are already in the descreened gray; 1 level with bf16 in the
colorization part only. IHN at full resolution makes the output's luminance (all of its
detail), so "auto" keeps it in fp32 and runs the colorization part (E, G, the reverse cascade's
IHN and F, at working resolution, where only chroma survives) in bf16: close to bf16's speed
on small images, within one 8-bit level of fp32. On large scans the full-resolution descreening
dominates and "auto" runs at fp32 speed; ask for bf16 explicitly to trade 3 gray levels for
about 1.5x. CPUs without native bf16 (AVX512-BF16 or AMX) would emulate it, so "auto" is plain
fp32 there. channels_last was faster in every case measured (paper fp32: 10.0 s contiguous,
6.5 s channels_last; results equal within one 8-bit level), so it is always used.

On CUDA, "auto" is bf16 autocast everywhere where the device supports it, fp16 otherwise.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass

import torch

from halftint.errors import Setting, UsageError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
_AUTOCAST_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class Precision:
    """The numeric precision of the two stages of the pipeline (None means plain float32).

    Attributes:
        name: for messages: "fp32", "bf16", "fp16" or "fp32 descreen + bf16 colorization".
        descreen: autocast dtype of IHN at full resolution (`Colorizer.descreen`).
        colorize: autocast dtype of the colorization part at working resolution.
        channels_last: weights and inputs in channels-last memory format.
    """

    name: str
    descreen: torch.dtype | None
    colorize: torch.dtype | None
    channels_last: bool = True

    @classmethod
    def uniform(cls, name: str) -> Precision:
        """The same precision ("fp32", "bf16" or "fp16") for both stages."""
        dtype = _AUTOCAST_DTYPES[name]
        return cls(name=name, descreen=dtype, colorize=dtype)

    def memory_format(self) -> torch.memory_format:
        """The memory format for weights and inputs."""
        return torch.channels_last if self.channels_last else torch.contiguous_format


def cpu_has_native_bf16() -> bool:
    """True when this CPU computes bf16 in hardware (AVX512-BF16 or AMX-BF16)."""
    # get_capabilities is public from torch 2.5; older versions simply get fp32
    capabilities: dict[str, object] = getattr(torch.cpu, "get_capabilities", dict)()
    return bool(capabilities.get("avx512_bf16") or capabilities.get("amx_bf16"))


def resolve_precision(name: str, device: torch.device) -> Precision:
    """Turn a precision name (one of `PRECISIONS`) into what runs on `device`.

    Raises:
        UsageError: unknown name, or a half precision this device cannot run.
    """
    if name not in PRECISIONS:
        raise UsageError(f"unknown precision {name!r}: use one of {', '.join(PRECISIONS)}")
    cuda_bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    if name == "auto":
        if device.type == "cuda":
            return Precision.uniform("bf16" if cuda_bf16 else "fp16")
        if cpu_has_native_bf16():
            return Precision("fp32 descreen + bf16 colorization", None, torch.bfloat16)
        return Precision.uniform("fp32")
    if name == "bf16" and device.type == "cuda" and not cuda_bf16:
        raise UsageError(
            "{device} does not support bf16; use {precision} or fp32",
            device=device,
            precision=Setting("precision", "fp16"),
        )
    return Precision.uniform(name)


def available_memory(device: torch.device) -> int:
    """Bytes that a computation on `device` may use now (free GPU memory, or available RAM)."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    with contextlib.suppress(OSError, ValueError):
        return _linux_available_ram()
    # no /proc (macOS, Windows): assume the free pages the OS reports, else a modest 4 GiB
    with contextlib.suppress(OSError, ValueError, AttributeError):
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    return 4 * 2**30


def _linux_available_ram() -> int:
    with open("/proc/meminfo", encoding="ascii") as meminfo:  # noqa: PTH123
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    raise ValueError("no MemAvailable in /proc/meminfo")
