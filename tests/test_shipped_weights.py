"""The bundle shipped inside the package: it installs with the wheel, verifies, and colorizes.

These tests use the real default weights (`halftint/weights/<DEFAULT_BUNDLE>/`), so they check
what a user gets right after `pip install`: the bundle is package data of the built wheel (not
only present in the source tree), `colorize` without `--weights` picks it, and its output on an
example print is a colorization — neither gray nor flat.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from halftint.hub import DEFAULT_BUNDLE
from halftint.io import read_image

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_PRINT = ROOT / "examples" / "halftones" / "floyd-steinberg" / "kitten.halftone.png"
EXAMPLE_REFERENCE = ROOT / "examples" / "photos" / "baboon.jpg"
BUNDLE_FILES = {"bundle.json", "README.md"} | {
    f"{net}/{name}"
    for net in ("ihn", "encoder", "generator", "fusion")
    for name in ("config.json", "model.safetensors")
}
# mean |Cb - 0.5| + |Cr - 0.5| of an 8-bit gray image is 0; colorized photos score ~0.05-0.15
MIN_MEAN_CHROMA = 0.02
PIP_WHEEL = (sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q")
HALFTINT = (sys.executable, "-m", "halftint")
MIN_STD = 0.05  # a constant (or nearly so) image is no colorization


def _environment(**extra: str) -> dict[str, str]:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **extra}
    environment.pop("HALFTINT_WEIGHTS", None)
    return environment


def _mean_chroma(rgb: np.ndarray) -> float:
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return float(np.mean(np.abs((b - y) / 1.772) + np.abs((r - y) / 1.402)))


@pytest.mark.slow
def test_the_wheel_carries_the_bundle_and_it_loads_from_the_installed_package(
    tmp_path: Path,
) -> None:
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [*PIP_WHEEL, "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("halftint-*.whl")
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        prefix = f"halftint/weights/{DEFAULT_BUNDLE}/"
        assert {name[len(prefix) :] for name in names if name.startswith(prefix)} >= BUNDLE_FILES
        archive.extractall(site)

    # run from an empty folder with only the unpacked wheel ahead on the path: the source tree
    # (the editable install) must not be what answers
    script = (
        "import halftint.hub as hub, halftint.checkpoint as checkpoint\n"
        "path = hub.resolve_weights()\n"
        "bundle = checkpoint.load_bundle(path)\n"
        "print(path)\n"
        "print(bundle.name, bundle.preset, sorted(bundle.networks))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_environment(PYTHONPATH=str(site)),
        check=False,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    path_line, bundle_line = run.stdout.splitlines()
    assert Path(path_line).resolve().is_relative_to(site.resolve())
    assert bundle_line.startswith(f"{DEFAULT_BUNDLE} lite ")
    for network in ("encoder", "fusion", "generator", "ihn"):
        assert network in bundle_line


@pytest.mark.slow
def test_colorize_without_weights_uses_the_shipped_bundle_and_gives_color(
    tmp_path: Path,
) -> None:
    output = tmp_path / "kitten.png"
    result = subprocess.run(
        [*HALFTINT, "colorize", EXAMPLE_PRINT, "--ref", EXAMPLE_REFERENCE, "-o", output],
        capture_output=True,
        text=True,
        env=_environment(),
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert f"weights {DEFAULT_BUNDLE}" in result.stderr
    colored = read_image(output, "rgb")
    halftone = read_image(EXAMPLE_PRINT, "gray")
    assert colored.shape[:2] == halftone.shape
    assert _mean_chroma(colored) > MIN_MEAN_CHROMA, "the output is (nearly) gray"
    assert float(colored.std()) > MIN_STD, "the output is (nearly) constant"
    # descreened, not a copy of the dots: far fewer pure black/white pixels than the halftone
    extremes = np.mean((colored.mean(axis=2) < 0.02) | (colored.mean(axis=2) > 0.98))
    assert extremes < 0.5 * np.mean((halftone == 0) | (halftone == 1))


def _print_at(scene: np.ndarray, dpi: float) -> np.ndarray:
    from halftint.halftone import dither

    return np.asarray(dither(scene, "clustered", lpi=85, dpi=dpi, angle=45), np.float32)


def test_a_600_and_a_1200_dpi_scan_of_one_print_descreen_alike() -> None:
    """Screen analysis brings the 1200 dpi scan's 14 px period into the trained range, so at the
    same output size it descreens at least as well as the 600 dpi scan, less 1 dB (it is better:
    its dots have four times the pixels, so more tone levels), and much better than as it is."""
    import cv2
    import torch

    from halftint.checkpoint import load_bundle
    from halftint.evaluate.measures import luma
    from halftint.hub import resolve_weights
    from halftint.losses import psnr
    from halftint.pipeline import Colorizer

    torch.set_num_threads(1)
    colorizer = Colorizer(load_bundle(resolve_weights()), device="cpu", precision="fp32")
    gray = luma(read_image(ROOT / "examples" / "photos" / "kitten.jpg", "rgb"))
    scene = cv2.resize(gray, (384, 256), interpolation=cv2.INTER_AREA)
    low = _print_at(scene, 600)
    high = _print_at(cv2.resize(gray, (768, 512), interpolation=cv2.INTER_AREA), 1200)
    with torch.no_grad():
        low_gray = colorizer.descreen(torch.from_numpy(low)[None, None])[0, 0].numpy()
        high_gray = colorizer.descreen(torch.from_numpy(high)[None, None])[0, 0].numpy()
        as_is = colorizer.descreen(torch.from_numpy(high)[None, None], screen="none")[0, 0]
    high_at_600 = cv2.resize(high_gray, (384, 256), interpolation=cv2.INTER_AREA)
    as_is_at_600 = cv2.resize(as_is.numpy(), (384, 256), interpolation=cv2.INTER_AREA)
    assert colorizer.screen_factor(torch.from_numpy(high)[None, None]) < 0.9
    assert psnr(high_at_600, scene) >= psnr(low_gray, scene) - 1.0
    assert psnr(high_at_600, scene) >= psnr(as_is_at_600, scene) + 0.5
