"""Forward time and peak memory of every network, and of a whole random-mode pass.

Run by hand (it takes a minute or two for `lite`, several minutes with `paper` on a small CPU);
the table is printed as Markdown, and written to a file with `--out FILE`:

    python benchmarks/networks.py                      # both presets, CPU, fp32 and bf16
    python benchmarks/networks.py --presets lite --train-step
    python benchmarks/networks.py --device cuda --repeats 20

Modes: `fp32` (plain float32, contiguous) and `bf16` (channels_last memory format and
bfloat16 autocast). The random-mode pass is what colorizing one image costs: IHN on the
halftone, G on the descreened image (forward cascade), G on the halftone and IHN on the three
channels of its output (reverse cascade: four IHN images in all), Canny twice, then F. It is
timed twice: with every stage at the full --size (an upper bound), and as the pipeline runs it,
with the colorization part at the preset's working size. Peak memory is the growth of the
process's peak resident set during the measurement (CPU) or the peak allocated CUDA memory.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from halftint.edges import canny_edges
from halftint.halftone import dither
from halftint.nets import build_networks, get_preset

MODES = ("fp32", "bf16")


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


@contextlib.contextmanager
def peak_memory(device: torch.device) -> Iterator[list[float]]:
    """Yield a one-item list that receives the peak memory growth in MiB when the block ends."""
    result: list[float] = []
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = torch.cuda.memory_allocated()
        yield result
        torch.cuda.synchronize()
        result.append((torch.cuda.max_memory_allocated() - start) / 2**20)
        return
    # hand freed heap memory back to the system first, so that the measured calls must grow the
    # resident set again instead of reusing what earlier measurements left behind
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    # writing 5 to clear_refs resets the peak resident set size (VmHWM) to the current one
    try:
        Path("/proc/self/clear_refs").write_text("5")
        resettable = True
    except OSError:
        resettable = False
    start = _rss_kib("VmRSS")
    yield result
    growth = _rss_kib("VmHWM") - start if resettable else float("nan")
    result.append(max(growth, 0) / 1024)


def timed(
    run: Callable[[], object], device: torch.device, repeats: int
) -> tuple[float, float, float]:
    """Median and best seconds of `repeats` calls after a warm-up call, and peak memory (MiB).

    The best time is what the code costs on an idle machine; the median shows the contention.
    """
    run()
    times = []
    with peak_memory(device) as memory:
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            run()
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    return statistics.median(times), min(times), memory[0]


def _autocast(device: torch.device, mode: str) -> contextlib.AbstractContextManager[object]:
    if mode == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _inputs(size: int, device: torch.device, mode: str) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    memory_format = torch.channels_last if mode == "bf16" else torch.contiguous_format

    def image(channels: int, side: int = size) -> torch.Tensor:
        tensor = torch.rand(1, channels, side, side, generator=generator)
        return tensor.to(device).contiguous(memory_format=memory_format)

    halftone = (image(1) > 0.5).float().contiguous(memory_format=memory_format)
    return {"halftone": halftone, "gray": image(1), "rgb": image(3)}


def random_mode_pass(
    networks: dict[str, nn.Module], halftone: torch.Tensor, z: torch.Tensor
) -> torch.Tensor:
    """Colorize one halftone with a random code: both cascades and the fusion, clamped."""
    ihn, generator, fusion = networks["ihn"], networks["generator"], networks["fusion"]
    gray = ihn(halftone)
    forward = generator(gray, canny_edges(gray), z)
    color_halftone = generator(halftone, canny_edges(halftone), z)
    # IHN descreens each channel of the color halftone: a batch of three one-channel images
    reverse = ihn(color_halftone.transpose(0, 1)).transpose(0, 1)
    return fusion(forward, reverse).clamp(0, 1)


def working_size_pass(
    networks: dict[str, nn.Module], halftone: torch.Tensor, z: torch.Tensor, working_size: int
) -> torch.Tensor:
    """The random-mode pass as the pipeline runs it: IHN at full size, the rest at working size.

    The gray image is downsized (short side = working size), the reverse cascade's halftone is
    re-made from it with Floyd-Steinberg, and the fused colors are upsampled back.
    """
    ihn, generator, fusion = networks["ihn"], networks["generator"], networks["fusion"]
    gray = ihn(halftone)
    height, width = gray.shape[-2:]
    scale = working_size / min(height, width)
    size = (round(height * scale), round(width * scale))
    small_gray = F.interpolate(gray.clamp(0, 1), size=size, mode="area")
    small_halftone = dither(small_gray.float(), "floyd-steinberg").to(small_gray.dtype)
    forward = generator(small_gray, canny_edges(small_gray), z)
    color_halftone = generator(small_halftone, canny_edges(small_halftone), z)
    reverse = ihn(color_halftone.transpose(0, 1)).transpose(0, 1)
    fused = fusion(forward, reverse).clamp(0, 1)
    return F.interpolate(fused, size=(height, width), mode="bilinear", align_corners=False)


def bench_preset(
    name: str, device: torch.device, size: int, repeats: int, modes: list[str]
) -> list[dict[str, object]]:
    """Rows of (preset, mode, what, ms, MiB) for every network and the whole pass."""
    rows: list[dict[str, object]] = []
    for mode in modes:
        rows += bench_mode(name, mode, device, size, repeats)
    return rows


def bench_mode(
    name: str, mode: str, device: torch.device, size: int, repeats: int
) -> list[dict[str, object]]:
    """Rows for one preset in one mode (see MODES)."""
    preset = get_preset(name)
    torch.manual_seed(0)
    networks = build_networks(preset)
    for network in networks.values():
        network.to(device).eval()
        if mode == "bf16":
            network.to(memory_format=torch.channels_last)
    x = _inputs(size, device, mode)
    z = torch.randn(1, preset.encoder.z_dim, device=device)
    histogram_side = preset.histogram.input_size
    channel = x["gray"][..., :histogram_side, :histogram_side]
    calls: dict[str, Callable[[], object]] = {
        "ihn": lambda: networks["ihn"](x["halftone"]),
        "encoder": lambda: networks["encoder"](x["rgb"]),
        "generator": lambda: networks["generator"](x["gray"], x["halftone"], z),
        "discriminator": lambda: networks["discriminator"](x["rgb"], z),
        f"histogram@{histogram_side}": lambda: networks["histogram"](channel),
        "fusion": lambda: networks["fusion"](x["rgb"], x["rgb"]),
        "random-mode pass, all at full size": lambda: random_mode_pass(networks, x["halftone"], z),
        f"random-mode pass, colors at {preset.working_size}": lambda: working_size_pass(
            networks, x["halftone"], z, preset.working_size
        ),
    }
    rows: list[dict[str, object]] = []
    for what, call in calls.items():
        with torch.inference_mode(), _autocast(device, mode):
            median, best, mib = timed(call, device, repeats)
        rows.append(_row(name, mode, what, median, best, mib=mib))
    return rows


def _row(
    preset: str, mode: str, what: str, median: float, best: float, *, mib: float
) -> dict[str, object]:
    print(
        f"  {preset:5} {mode:4} {what:32} {median * 1000:9.1f} ms (best {best * 1000:7.1f})"
        f" {mib:7.0f} MiB",
        flush=True,
    )
    return {
        "preset": preset,
        "mode": mode,
        "what": what,
        "ms": median * 1000,
        "best_ms": best * 1000,
        "mib": mib,
    }


def bench_train_step(
    name: str, device: torch.device, batch: int, repeats: int
) -> list[dict[str, object]]:
    """Rows for one Adam step (forward, backward, update) of IHN and G at the working size."""
    preset = get_preset(name)
    side = preset.working_size
    torch.manual_seed(0)
    networks = build_networks(preset, ["ihn", "generator"])
    halftone = (torch.rand(batch, 1, side, side, device=device) > 0.5).float()
    gray = torch.rand(batch, 1, side, side, device=device)
    rgb = torch.rand(batch, 3, side, side, device=device)
    z = torch.randn(batch, preset.generator.z_dim, device=device)
    ihn = networks["ihn"].to(device).train()
    generator = networks["generator"].to(device).train()

    def ihn_loss() -> torch.Tensor:
        content, descreened = ihn.forward_parts(halftone)  # type: ignore[operator]
        return (content - gray).square().mean() + (descreened - gray).abs().mean()

    def generator_loss() -> torch.Tensor:
        return (generator(gray, halftone, z) - rgb).abs().mean()

    rows: list[dict[str, object]] = []
    for key, network, loss in (("ihn", ihn, ihn_loss), ("generator", generator, generator_loss)):
        median, best, mib = timed(_adam_step(network, loss), device, repeats)
        rows.append(_row(name, "fp32", f"train step {key} b{batch}@{side}", median, best, mib=mib))
    return rows


def _adam_step(network: nn.Module, loss: Callable[[], torch.Tensor]) -> Callable[[], None]:
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss().backward()
        optimizer.step()

    return step


def markdown_table(rows: list[dict[str, object]]) -> str:
    """The rows as a Markdown table."""
    lines = [
        "| preset | mode | what | median (ms) | best (ms) | peak memory (MiB) |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in rows:
        cells = (
            row["preset"],
            row["mode"],
            row["what"],
            f"{row['ms']:.1f}",
            f"{row['best_ms']:.1f}",
            f"{row['mib']:.0f}",
        )
        lines.append("| " + " | ".join(str(cell) for cell in cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Parse options, run the measurements, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["lite", "paper"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--modes", nargs="+", default=list(MODES), choices=MODES)
    parser.add_argument("--size", type=int, default=256, help="image side for inference timings")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per measurement (lite)")
    parser.add_argument("--paper-repeats", type=int, default=1, help="timed calls for paper")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--train-step", action="store_true", help="also time training steps")
    parser.add_argument("--batch", type=int, default=8, help="batch of the training step")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    setting = (
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"device {device}, {args.size}x{args.size} images"
    )
    print(setting)
    rows: list[dict[str, object]] = []
    for name in args.presets:
        repeats = args.paper_repeats if name == "paper" else args.repeats
        rows += bench_preset(name, device, args.size, repeats, args.modes)
        if args.train_step:
            rows += bench_train_step(name, device, args.batch, repeats)
    report = f"{setting}\n\n{markdown_table(rows)}"
    print("\n" + report)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report + "\n")


if __name__ == "__main__":
    main()
