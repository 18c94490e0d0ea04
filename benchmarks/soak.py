"""Soak: 1,000 small inputs, one in ten damaged, through `descreen` and `colorize --random -n 2`.

    python benchmarks/soak.py [--count 1000] [--weights BUNDLE]

Makes a folder of small halftones (some in subfolders) and damaged files (empty, truncated,
not an image, a folder named like an image is left out: folders are searched), then checks,
for each command, with real subprocesses:

- a name collision (`pic.png` beside `pic.jpg`) is refused before any work, in one line that
  names both inputs, and nothing is written;
- without it: every good file is done, every bad one reported once at the end, exit code 1;
- peak memory (the child's maximum RSS) of a run over the first 100 files and over all of them:
  it must not grow with the count;
- a second run into the same output folder skips everything and rewrites no byte.

Prints a Markdown table (seconds, peak RSS, files written, failures reported).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from ihn_pilots import cpu_model

from halftint.halftone import dither
from halftint.io import write_image

DAMAGE_EVERY = 10


def make_inputs(folder: Path, count: int) -> tuple[int, int]:
    """`count` files below `folder`; returns (good, damaged)."""
    rng = np.random.default_rng(0)
    good = damaged = 0
    for index in range(count):
        sub = folder / f"part{index % 7}" if index % 3 else folder
        sub.mkdir(parents=True, exist_ok=True)
        path = sub / f"scan{index:04d}.png"
        if index % DAMAGE_EVERY == DAMAGE_EVERY - 1:
            kind = (index // DAMAGE_EVERY) % 3
            if kind == 0:
                path.write_bytes(b"")
            elif kind == 1:
                path.write_bytes(b"this is not an image\n")
            else:
                image = rng.random((24, 32)) > 0.5
                write_image(image, path)
                path.write_bytes(path.read_bytes()[:40])  # truncated after the header
            damaged += 1
            continue
        y, x = np.mgrid[0:24, 0:32] / 32.0
        gray = (0.5 + 0.4 * np.sin(6 * x + index) * np.cos(4 * y)).astype(np.float32)
        write_image(dither(gray, "floyd-steinberg") > 0.5, path)
        good += 1
    return good, damaged


# the child reports its own peak RSS (kB on Linux) as its last stderr line
_CHILD = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: print('peak-rss-kb', resource.getrusage(resource.RUSAGE_SELF)"
    ".ru_maxrss, file=sys.stderr))\n"
    "from halftint.cli import main\n"
    "main(sys.argv[1:])\n"
)


def run(arguments: list[str]) -> tuple[subprocess.CompletedProcess[str], float, int]:
    """Run `halftint ARGS`; (result, seconds, the child's peak RSS in MB)."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, *arguments],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")},
    )
    seconds = time.perf_counter() - start
    last = result.stderr.strip().splitlines()[-1].split()
    return result, seconds, int(last[1]) // 1024 if last[0] == "peak-rss-kb" else -1


def snapshot(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {
        str(path.relative_to(folder)): (path.stat().st_mtime_ns, path.read_bytes())
        for path in sorted(folder.rglob("*.png"))
    }


def soak(  # noqa: PLR0917
    command: list[str],
    inputs: Path,
    first_hundred: Path,
    work: Path,
    good: int,
    damaged: int,
    rows: list[str],
) -> None:
    label = " ".join(command)
    small, seconds_small, rss_small = run([*command, str(first_hundred), "-o", str(work / "small")])
    out = work / "out"
    result, seconds, rss = run([*command, str(inputs), "-o", str(out)])
    errors = [line for line in result.stderr.splitlines() if line.startswith("halftint: error:")]
    outputs = per_input = len(list(out.rglob("*.png")))
    if "-n" in command:
        per_input = outputs // 2
    assert small.returncode == 1 and result.returncode == 1, result.stderr[-2000:]
    assert per_input == good, (per_input, good)
    assert len(errors) == damaged, (len(errors), damaged)
    assert "Traceback" not in result.stderr
    before = snapshot(out)
    again, seconds_again, _ = run([*command, str(inputs), "-o", str(out)])
    assert again.returncode == 1 and snapshot(out) == before
    assert f"0 done, {outputs} skipped" in again.stderr, again.stderr[-500:]
    rows.append(
        f"| {label} | 100 | {seconds_small:.0f} | {rss_small} | "
        f"{len(list((work / 'small').rglob('*.png')))} | |"
    )
    rows.append(
        f"| {label} | {good + damaged} | {seconds:.0f} | {rss} | {outputs} | {len(errors)} |"
    )
    rows.append(
        f"| {label} (again: all skipped) | {good + damaged} | {seconds_again:.0f} | | 0 | |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--weights", default=None)
    args = parser.parse_args()
    weights = ["--weights", args.weights] if args.weights else []
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        inputs = root / "inputs"
        good, damaged = make_inputs(inputs, args.count)
        first_hundred = root / "first100"
        first_hundred.mkdir()
        for path in sorted(inputs.rglob("*.png"))[:100]:
            shutil.copy(path, first_hundred / path.name)
        # a collision: refused before any work, in one line naming both inputs
        clash = root / "clash"
        shutil.copytree(first_hundred, clash)
        shutil.copy(sorted(clash.iterdir())[0], clash / "pic.png")
        write_image(np.full((8, 8), 0.5, np.float32), clash / "pic.jpg")
        refused, _, _ = run(["descreen", str(clash), "-o", str(root / "clash-out"), *weights])
        assert (
            refused.returncode == 2 and "pic.png" in refused.stderr and "pic.jpg" in refused.stderr
        )
        assert not (root / "clash-out").exists() or not any((root / "clash-out").rglob("*"))
        rows = [
            "| command | inputs | seconds | peak RSS MB | files written | errors reported |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for index, command in enumerate(
            (["descreen", *weights], ["colorize", "--random", "-n", "2", "--seed", "1", *weights])
        ):
            work = root / f"work{index}"
            work.mkdir()
            soak(command, inputs, first_hundred, work, good, damaged, rows)
    print(f"{args.count} inputs ({damaged} damaged), CPU {cpu_model()}, one thread\n")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
