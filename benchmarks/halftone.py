"""How fast is the halftoner? End to end against ImageMagick, and per method as a library.

Run by hand from the repository root (not part of the test suite):

    apt-get update && apt-get install -y imagemagick     # for the comparison
    python benchmarks/halftone.py                         # 4000x4000, best of 5

1. End to end: `halftint halftone --method floyd-steinberg` on a 4000x4000 gray PNG against
   `convert in.png -dither FloydSteinberg -remap pattern:gray50 out.png` on the same file
   (not `-monochrome`, which shifts the tone), each run as a fresh process, interleaved, best
   of N wall-clock and CPU seconds. A ratio above 1 means halftint is faster. Then a batch of
   16 files of 1000x1000 in one call of each (`mogrify` for ImageMagick), where start-up
   counts once.
2. Library: `halftint.halftone.dither` throughput in megapixels per second for every method on
   one 2048x2048 image, and on a batch of 64 crops of 256x256 (the training data's case).
3. Start-up: `halftint --help`, which must answer in under half a second.

Results are printed as Markdown tables; `--out FILE` also writes them to a file.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from halftint.halftone import METHODS, dither
from halftint.io import read_image, write_image

# the batch case: photo-sized files, start-up paid once per tool
BATCH_FILES = 16
BATCH_SIDE = 1000


def make_test_image(path: Path, size: int) -> None:
    """A photo-like gray PNG: smooth shading, edges and film grain, the same on every run."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    shading = 0.5 + 0.35 * np.sin(7.0 * x) * np.cos(5.0 * y)
    edges = 0.15 * (((x * 9).astype(int) + (y * 6).astype(int)) % 2)
    grain = 0.05 * np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    write_image(np.clip(shading + edges + grain - 0.075, 0.0, 1.0), path, overwrite=True)


def find_imagemagick() -> list[str] | None:
    """The command that runs ImageMagick's converter, or None when only a stand-in is found."""
    for candidate in (["magick"], ["convert"], ["/usr/bin/convert"]):
        if shutil.which(candidate[0]) is None:
            continue
        probe = subprocess.run(
            [*candidate, "-version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0 and probe.stdout.startswith("Version: ImageMagick"):
            return candidate
    return None


def timed_run(command: list[str]) -> tuple[float, float]:
    """Wall-clock and CPU (user + system) seconds of one child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def compare(title: str, commands: dict[str, list[str]], repeats: int) -> list[str]:
    """Run each tool's command `repeats` times, interleaved; a Markdown table of the timings."""
    for command in commands.values():
        timed_run(command)  # warm the disk cache (and numba's on-disk cache of compiled code)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            times[name].append(timed_run(command))
    rows = [
        f"### {title}, best of {repeats}",
        "",
        "| tool | best wall s | median wall s | best CPU s |",
        "|---|---|---|---|",
    ]
    for name, samples in times.items():
        walls = [wall for wall, _ in samples]
        rows.append(
            f"| {name} | {min(walls):.2f} | {statistics.median(walls):.2f} | "
            f"{min(cpu for _, cpu in samples):.2f} |"
        )
    if "ImageMagick" in times:
        ratio = min(w for w, _ in times["ImageMagick"]) / min(w for w, _ in times["halftint"])
        cpu_ratio = min(c for _, c in times["ImageMagick"]) / min(c for _, c in times["halftint"])
        rows += [
            "",
            f"ImageMagick / halftint: {ratio:.2f}x wall, {cpu_ratio:.2f}x CPU "
            "(> 1: halftint faster)",
        ]
    return rows


def end_to_end(folder: Path, size: int, repeats: int) -> list[str]:
    """One big file, then a batch of photo-sized files in one call of each tool."""
    imagemagick = find_imagemagick()
    if imagemagick is None:
        print(
            "ImageMagick not found (apt-get install -y imagemagick): halftint alone",
            file=sys.stderr,
        )
    halftint = [sys.executable, "-m", "halftint", "halftone"]
    dither_options = ["-dither", "FloydSteinberg", "-remap", "pattern:gray50"]

    source = folder / "in.png"
    make_test_image(source, size)
    commands = {"halftint": [*halftint, str(source), "-o", str(folder / "ours.png"), "--overwrite"]}
    if imagemagick is not None:
        commands["ImageMagick"] = [
            *imagemagick,
            str(source),
            *dither_options,
            str(folder / "theirs.png"),
        ]
    rows = compare(f"One {size}x{size} gray PNG -> 1-bit PNG, Floyd-Steinberg", commands, repeats)
    tones = [f"input {read_image(source, 'gray').mean():.4f}"]
    for name, file in (("halftint", "ours.png"), ("ImageMagick", "theirs.png")):
        if (folder / file).exists():
            tones.append(f"{name} {read_image(folder / file, 'gray').mean():.4f}")
    rows += ["", "Mean tone: " + ", ".join(tones)]

    batch = folder / "batch"
    for index in range(BATCH_FILES):
        make_test_image(batch / f"photo{index:02d}.png", BATCH_SIDE)
    commands = {
        "halftint": [*halftint, str(batch), "-o", str(folder / "ours"), "--overwrite"],
    }
    if imagemagick is not None:
        (folder / "theirs").mkdir()
        mogrify = ["magick", "mogrify"] if imagemagick == ["magick"] else ["mogrify"]
        inputs = sorted(str(path) for path in batch.glob("*.png"))
        commands["ImageMagick"] = [*mogrify, "-path", str(folder / "theirs"), *dither_options]
        commands["ImageMagick"] += inputs
    title = f"{BATCH_FILES} gray PNGs of {BATCH_SIDE}x{BATCH_SIDE} in one call (mogrify)"
    return [*rows, "", *compare(title, commands, repeats)]


def throughput(work: Callable[[], object], pixels: int, seconds: float = 1.0) -> float:
    """Megapixels per second of `work`, best of repeated calls over about `seconds`."""
    work()  # compile or build masks first: steady-state speed is what a data loader sees
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while True:
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
        if time.perf_counter() > deadline:
            break
    return pixels / best / 1e6


def library(size: int) -> list[str]:
    rng = np.random.default_rng(1)
    image = rng.random((size, size), dtype=np.float32)
    batch = rng.random((64, 256, 256), dtype=np.float32)
    rows = [
        f"### Library throughput, megapixels/s (one {size}x{size} image; 64 x 256x256 batch)",
        "",
        "| method | one image | batch of crops |",
        "|---|---|---|",
    ]
    for method in METHODS:
        single = throughput(lambda m=method: dither(image, m, seed=0), image.size)
        crops = throughput(lambda m=method: dither(batch, m, seed=0), batch.size)
        rows.append(f"| {method} | {single:.0f} | {crops:.0f} |")
    return rows


def startup(repeats: int) -> list[str]:
    walls = [timed_run([sys.executable, "-m", "halftint", "--help"])[0] for _ in range(repeats)]
    return [
        "",
        f"`halftint --help`: best {min(walls):.3f} s, median {statistics.median(walls):.3f} s",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4000, help="side of the end-to-end image")
    parser.add_argument("--repeats", type=int, default=5, help="runs per tool (best is kept)")
    parser.add_argument("--library-size", type=int, default=2048, help="side of the library image")
    parser.add_argument("--out", type=Path, help="also write the tables to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="halftint-bench-") as folder:
        rows = end_to_end(Path(folder), args.size, args.repeats)
    rows += ["", *library(args.library_size), *startup(args.repeats)]
    emit("\n".join(rows), args.out)


def emit(report: str, out: Path | None) -> None:
    """Print a report, and also write it to `out` when given."""
    print(report)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report + "\n")


if __name__ == "__main__":
    main()
