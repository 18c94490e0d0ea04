"""halftint beside its peers, in one run: start-up, halftoning, the paper preset, large scans.

    python benchmarks/compare.py [--quick] [--large] [--authors-command CMD] [--out FILE]

Every figure that has a peer is measured in the same run as the peer, interleaved, and given as
a ratio (peer time / halftint time: above 1, halftint is faster), so a busy or slow machine moves
both sides and cannot fake a result. Peers are used when they are there:

- ImageMagick (`apt-get install imagemagick`): the 16-megapixel Floyd-Steinberg PNG -> PNG case;
- the `dithering` package (`pip install dithering`, Rust): library error-diffusion throughput;
- the authors' inference code: `--authors-command CMD`, a shell command that runs their code on
  one 256x256 halftone in random mode (their checkpoint or random weights), timed as a whole
  process against `halftint colorize --random` with a random paper-preset bundle on the same
  size (also a whole process, start-up included on both sides).

Without a peer, halftint's figure is printed alone beside its target (issue figures in the
README's Benchmarks section). `--large` adds the 12-megapixel colorize and the 144-megapixel
descreen (minutes). The CPU model and thread count head the report: write them beside any
figure you quote.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from colorize import saved_random_bundle
from halftone import emit, find_imagemagick, make_test_image, throughput, timed_run
from ihn_pilots import cpu_model

from halftint.halftone import dither
from halftint.io import write_image

HALFTINT = [sys.executable, "-m", "halftint"]


def cpu_flags() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    flags = next((line for line in text.splitlines() if line.startswith("flags")), "").split()
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
    return ", ".join(flag for flag in wanted if flag in flags) or "none of avx2/avx512"


def best_of(command: list[str], repeats: int) -> tuple[float, float]:
    """Best wall and best CPU seconds of `repeats` runs of a child process (after one warm-up)."""
    timed_run(command)
    samples = [timed_run(command) for _ in range(repeats)]
    return min(wall for wall, _ in samples), min(cpu for _, cpu in samples)


def side_by_side(commands: dict[str, list[str]], repeats: int) -> dict[str, list[float]]:
    """Wall seconds of each command, runs interleaved so that load changes hit every tool."""
    for command in commands.values():
        timed_run(command)
    walls: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            walls[name].append(timed_run(command)[0])
    return walls


def row(name: str, ours: float, peer: float | None, peer_name: str, *, unit: str, goal: str) -> str:
    """A table row; the advantage is how many times faster halftint is (seconds or MP/s)."""
    if peer is None:
        missing = f"– ({peer_name} not available)" if peer_name else "–"
        return f"| {name} | {ours:.3g} {unit} | {missing} | – | {goal} |"
    advantage = peer / ours if unit == "s" else ours / peer
    return (
        f"| {name} | {ours:.3g} {unit} | {peer:.3g} {unit} ({peer_name}) | {advantage:.2f}x "
        f"| {goal} |"
    )


def startup_rows(folder: Path, repeats: int) -> list[str]:
    one = folder / "one.png"
    write_image(np.full((1, 1), 0.5, np.float32), one, overwrite=True)
    out = str(folder / "one-out.png")
    cases = {
        "`halftint --help`": ([*HALFTINT, "--help"], "≤ 0.5 s"),
        "`halftone` of a 1x1 image": (
            [*HALFTINT, "halftone", str(one), "-o", out, "--overwrite"],
            "≤ 1 s",
        ),
        "`colorize --random` of a 1x1 image (shipped bundle)": (
            [*HALFTINT, "colorize", str(one), "--random", "--seed", "1", "-o", out, "--overwrite"],
            "≤ 3 s",
        ),
    }
    rows = []
    for name, (command, goal) in cases.items():
        wall, _ = best_of(command, repeats)
        rows.append(row(name, wall, None, "", unit="s", goal=goal))
    return rows


def halftone_rows(folder: Path, repeats: int) -> list[str]:
    source = folder / "16mp.png"
    make_test_image(source, 4000)
    ours = [*HALFTINT, "halftone", str(source), "-o", str(folder / "a.png"), "--overwrite"]
    commands = {"halftint": ours}
    imagemagick = find_imagemagick()
    if imagemagick is not None:
        commands["ImageMagick"] = [
            *imagemagick,
            str(source),
            *("-dither", "FloydSteinberg", "-remap", "pattern:gray50"),
            str(folder / "b.png"),
        ]
    walls = side_by_side(commands, repeats)
    peer = min(walls["ImageMagick"]) if "ImageMagick" in walls else None
    return [
        row(
            "Floyd-Steinberg, 16 MP PNG -> 1-bit PNG, CLI (best wall)",
            min(walls["halftint"]),
            peer,
            "ImageMagick",
            unit="s",
            goal="faster than ImageMagick",
        )
    ]


def library_rows(size: int) -> list[str]:
    levels = np.random.default_rng(1).integers(0, 256, (size, size), dtype=np.uint8)
    try:
        import dithering  # type: ignore[import-not-found]
    except ImportError:
        dithering = None
    rows = []
    for serpentine in (False, True):
        ours = throughput(lambda s=serpentine: dither(levels, serpentine=s), levels.size)
        peer = None
        if dithering is not None:
            peer = throughput(
                lambda s=serpentine: dithering.error_diffusion(
                    levels, "floyd_steinberg", serpentine=s
                ),
                levels.size,
            )
        scan = "serpentine" if serpentine else "raster"
        rows.append(
            row(
                f"Floyd-Steinberg library throughput, {size}x{size} uint8, {scan}",
                ours,
                peer,
                "dithering",
                unit="MP/s",
                goal="≥ 100 MP/s",
            )
        )
    return rows


def paper_rows(folder: Path, repeats: int, authors: str | None) -> list[str]:
    weights = saved_random_bundle(folder / "paper-random", "paper")
    halftone = folder / "halftone-256.png"
    write_image(
        dither(np.random.default_rng(2).random((256, 256), dtype=np.float32)) > 0.5,
        halftone,
        overwrite=True,
    )
    rows = []
    for precision in ("fp32", "auto"):
        command = [
            *(*HALFTINT, "colorize", str(halftone), "--random", "--seed", "1"),
            *("--weights", str(weights), "--precision", precision, "--device", "cpu"),
            *("-o", str(folder / f"paper-{precision}.png"), "--overwrite"),
        ]
        commands = {"halftint": command}
        if authors is not None:
            commands["authors"] = ["/bin/sh", "-c", authors]
        walls = side_by_side(commands, repeats)
        peer = min(walls["authors"]) if "authors" in walls else None
        goal = "≥ 1.5x the authors' (fp32)" if precision == "fp32" else "≥ 3x where bf16 is native"
        rows.append(
            row(
                f"paper preset, random mode, one 256x256 halftone, whole process, {precision}",
                min(walls["halftint"]),
                peer,
                "authors' code",
                unit="s",
                goal=goal,
            )
        )
    return rows


def large_rows(folder: Path) -> list[str]:
    rows = []
    cases: dict[str, tuple[tuple[int, int], list[str], str]] = {
        "colorize --random, 4000x3000 (12 MP), shipped bundle": (
            (3000, 4000),
            ["colorize", "--random", "--seed", "1"],
            "≤ 30 s, ≤ 3 GB",
        ),
        "descreen, 12000x12000 (144 MP), shipped bundle": (
            (12000, 12000),
            ["descreen"],
            "completes, bounded memory",
        ),
    }
    for name, ((height, width), verb, goal) in cases.items():
        scan = folder / f"scan-{width}x{height}.png"
        rng = np.random.default_rng(0)
        write_image(rng.random((height, width), dtype=np.float32) > 0.5, scan, overwrite=True)
        command = [*HALFTINT, verb[0], str(scan), *verb[1:], "-o", str(folder / "o.png")]
        start = time.perf_counter()
        done = subprocess.run(
            [*command, "--overwrite"], capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - start
        # the largest child so far: these run last, largest last
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
        status = "" if done.returncode == 0 else f" (exit {done.returncode})"
        rows.append(f"| {name} | {wall:.1f} s, peak RSS {peak:.2f} GB{status} | – | – | {goal} |")
        scan.unlink()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per figure (best is kept)")
    parser.add_argument("--quick", action="store_true", help="3 runs per figure, no paper preset")
    parser.add_argument("--large", action="store_true", help="add the 12 MP and 144 MP scans")
    parser.add_argument("--authors-command", help="shell command running the authors' code")
    parser.add_argument("--library-size", type=int, default=2048)
    parser.add_argument("--out", type=Path, help="also write the report to this file")
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats

    header = [
        f"CPU: {cpu_model()} ({os.cpu_count()} logical cores; {cpu_flags()}), "
        f"Python {platform.python_version()}",
        "",
        "| case | halftint | peer | halftint's advantage (> 1: faster) | goal |",
        "|---|---|---|---|---|",
    ]
    sections: list[Callable[[Path], list[str]]] = [
        lambda folder: startup_rows(folder, repeats),
        lambda folder: halftone_rows(folder, repeats),
        lambda folder: library_rows(args.library_size),
    ]
    if not args.quick:
        sections.append(lambda folder: paper_rows(folder, repeats, args.authors_command))
    if args.large:
        sections.append(large_rows)
    rows = list(header)
    with tempfile.TemporaryDirectory(prefix="halftint-compare-") as temporary:
        for section in sections:
            rows += section(Path(temporary))
            print("\n".join(rows[-1:]), file=sys.stderr, flush=True)
    report = "\n".join(rows)
    if args.authors_command:
        report += f"\n\nAuthors' code: `{shlex.quote(args.authors_command)}`"
    emit(report, args.out)


if __name__ == "__main__":
    main()
