"""Speed, accuracy and memory of the colorization pipeline, with randomly initialised networks.

    python benchmarks/colorize.py [--preset paper|lite] [--json] [--skip-large]

No weights are needed: the networks of each preset are built with random weights (speed and
memory do not depend on the values). Reported per preset, on the CPU, for fp32 and for the
precision "auto" picks (and bf16, to justify that pick):

- seconds per 256x256 halftone in random mode (n=1, n=5) and in reference mode;
- for half precision, the max abs difference of the final 8-bit image against fp32;
- lite only: a 1-megapixel scan end to end, through the library and through the CLI;
- lite only: peak RSS of `halftint colorize` on a 7000x5000 scan (600 dpi A4), goal <= 3 GB.

Targets: paper random mode at least 3x faster than 14 s (<= 4.7 s); lite <= 0.25 s at 256x256;
1 MP lite <= 5 s.

Results on the development machine (AMD EPYC with AVX512-BF16, 2 cores shared with five other
jobs, so run with OMP_NUM_THREADS=1: with two threads on a busy machine OpenMP spin-waits and
everything gets slower). Seconds: wall (CPU); random n=1 / n=5 / reference at 256x256:

| preset | fp32                             | auto (fp32 descreen + bf16 colorization) |
|--------|----------------------------------|------------------------------------------|
| paper  | 10.0 (7.3) / 46.0 (30.1) / 10.5 (7.4) | 4.5 (4.3) / 24.0 (18.2) / 5.4 (4.7)  |
| lite   | 0.26 (0.13) / 0.79 (0.38) / 0.31 (0.15) | 0.30 (0.11) / 0.71 (0.27) / 0.33 (0.13) |

Max 8-bit difference from fp32: auto 1 level, bf16 everywhere 5 (paper) and 3-4 (lite).
1 MP lite, library: 2.8 s wall (1.2 s CPU); CLI end to end 7.0-11.3 s wall depending on the
load, of which the work proper is 2.6 s (profiled: importing torch 2.1 s, loading the compiled
halftoner 0.9 s); peak RSS 1.36 GB.
7000x5000 (A4 at 600 dpi) lite through the CLI: completes, peak RSS 2.19 GB, 115 s wall.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from halftint.checkpoint import Bundle, save_bundle
from halftint.halftone import dither
from halftint.io import write_image
from halftint.nets import build_networks, get_preset
from halftint.pipeline import Colorizer

INFERENCE_NETWORKS = ("ihn", "encoder", "generator", "fusion")
SIDE = 256
RUNS = ("random_n1", "random_n5", "reference")
MEGAPIXEL_SIDE = 1000
A4_600_DPI = (7000, 5000)


def random_bundle(preset_name: str) -> Bundle:
    """A bundle of freshly initialised networks, held in memory."""
    preset = get_preset(preset_name)
    torch.manual_seed(0)
    networks = build_networks(preset, INFERENCE_NETWORKS)
    meta = {
        "name": f"random-{preset_name}",
        "preset": preset_name,
        "working_size": preset.working_size,
        "halftone_methods": ["floyd-steinberg"],
    }
    return Bundle(path=Path(f"<random {preset_name}>"), meta=meta, networks=networks)


def test_images(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A smooth gray test pattern's halftone `(1, 1, side, side)` and a color reference."""
    y, x = torch.meshgrid(torch.linspace(0, 1, side), torch.linspace(0, 1, side), indexing="ij")
    gray = 0.5 + 0.4 * torch.sin(6 * x) * torch.cos(4 * y)
    halftone = dither(gray[None, None].contiguous(), "floyd-steinberg")
    reference = torch.stack([x, y, 1 - x], dim=0)[None]
    return halftone, reference


def timed(function: Any, repeats: int) -> tuple[float, float, Any]:
    """Median wall and CPU seconds of `repeats` calls after a warm-up call, and the last result.

    CPU seconds (all threads of this process) are reported beside wall seconds because the
    development machine is shared: wall time there depends on what else runs.
    """
    result = function()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = function()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu), result


def to_8bit(image: torch.Tensor) -> torch.Tensor:
    return (image * 255).round().clamp(0, 255).to(torch.int16)


def bench_precision(preset_name: str, precision: str, repeats: int) -> dict[str, Any]:
    colorizer = Colorizer(random_bundle(preset_name), device="cpu", precision=precision)
    halftone, reference = test_images(SIDE)
    row: dict[str, Any] = {"precision": colorizer.precision.name}
    runs = {
        "random_n1": lambda: colorizer.colorize(halftone, seed=1, n=1),
        "random_n5": lambda: colorizer.colorize(halftone, seed=1, n=5),
        "reference": lambda: colorizer.colorize(halftone, reference=reference),
    }
    for name, run in runs.items():
        seconds, cpu_seconds, result = timed(run, repeats)
        row[f"{name}_s"] = round(seconds, 3)
        row[f"{name}_cpu_s"] = round(cpu_seconds, 3)
        row[f"{name}_8bit"] = to_8bit(result)
    return row


def bench_preset(preset_name: str, repeats: int) -> dict[str, Any]:
    rows = {name: bench_precision(preset_name, name, repeats) for name in ("fp32", "bf16", "auto")}
    for name in ("bf16", "auto"):
        for run in RUNS:
            difference = (rows[name][f"{run}_8bit"] - rows["fp32"][f"{run}_8bit"]).abs().max()
            rows[name][f"{run}_max_8bit_diff_vs_fp32"] = int(difference)
    for row in rows.values():
        for run in RUNS:
            del row[f"{run}_8bit"]
    return {"preset": preset_name, "by_precision": rows}


def bench_megapixel(repeats: int) -> dict[str, Any]:
    colorizer = Colorizer(random_bundle("lite"), device="cpu", precision="auto")
    halftone, _ = test_images(MEGAPIXEL_SIDE)
    seconds, cpu_seconds, result = timed(
        lambda: to_8bit(colorizer.colorize(halftone, seed=1)), repeats
    )
    return {
        "library_s": round(seconds, 3),
        "library_cpu_s": round(cpu_seconds, 3),
        "shape": list(result.shape),
    }


def saved_random_bundle(folder: Path, preset_name: str) -> Path:
    """`random_bundle(preset_name)` saved as a bundle folder at `folder` (for the CLI)."""
    bundle = random_bundle(preset_name)
    return save_bundle(
        folder,
        bundle.networks,
        preset=preset_name,
        working_size=bundle.working_size,
        halftone_methods=["floyd-steinberg"],
        data="random initialisation (benchmark)",
        overwrite=True,
    )


def bench_cli(folder: Path, height: int, width: int) -> dict[str, Any]:
    """Time and peak RSS of `halftint colorize --random` on a height x width scan, end to end."""
    bundle_folder = saved_random_bundle(folder / "bundle", "lite")
    rng = np.random.default_rng(0)
    scan = folder / f"scan-{width}x{height}.png"
    write_image(rng.random((height, width)) > 0.5, scan, overwrite=True)
    output = folder / "out.png"
    command = [
        *(sys.executable, "-m", "halftint", "colorize", str(scan), "--random", "--seed", "1"),
        *("--weights", str(bundle_folder), "--device", "cpu", "-o", str(output), "--overwrite"),
    ]
    start = time.perf_counter()
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    # ru_maxrss of children is the largest of any child so far: run the largest scan last
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "size": f"{width}x{height}",
        "exit_code": completed.returncode,
        "seconds": round(seconds, 2),
        "peak_rss_gb": round(peak_kib / 2**20, 2),
        "stderr_tail": completed.stderr.strip().splitlines()[-1:] if completed.returncode else [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--preset", choices=["paper", "lite"], help="only this preset")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per figure")
    parser.add_argument("--skip-large", action="store_true", help="skip the 1 MP and A4 runs")
    args = parser.parse_args()

    results: dict[str, Any] = {"threads": torch.get_num_threads(), "presets": []}
    for name in [args.preset] if args.preset else ["lite", "paper"]:
        results["presets"].append(bench_preset(name, args.repeats))
    if not args.skip_large and args.preset in (None, "lite"):
        results["megapixel_lite"] = bench_megapixel(args.repeats)
        with tempfile.TemporaryDirectory() as temporary:
            folder = Path(temporary)
            results["cli_megapixel_lite"] = bench_cli(folder, MEGAPIXEL_SIDE, MEGAPIXEL_SIDE)
            results["cli_a4_600dpi_lite"] = bench_cli(folder, *A4_600_DPI)

    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"CPU threads: {results['threads']}")
    for preset in results["presets"]:
        print(f"\n{preset['preset']}")
        for name, row in preset["by_precision"].items():
            figures = ", ".join(
                f"{key} {value}" for key, value in row.items() if key != "precision"
            )
            print(f"  {name}: {figures}")
    for key in ("megapixel_lite", "cli_megapixel_lite", "cli_a4_600dpi_lite"):
        if key in results:
            print(f"\n{key}: {results[key]}")


if __name__ == "__main__":
    main()
