"""Descreening targets that PSNR does not show: tone on a ramp, and screen residue.

    python benchmarks/descreen_targets.py --photo ../shared/data/photos/val/SOME.jpg \\
        [--weights BUNDLE] [--threads 2] [--long-side 1000] [--skip-tone]

1. **Tone.** A linear ramp 0 → 1 (1024 px wide, 128 rows) is halftoned with every method of the
   training mixture (and clustered screens of 4 and 6 px) and descreened. Reported per method:
   the largest gap between a column's mean and the ramp (in 8-bit levels, goal ≤ 3, judged on
   the ramp's middle 90 %: the ends are where paper white and solid ink clip), whether the column
   means rise monotonically (after smoothing over 5 columns, allowing 0.25 levels of noise), and
   the widest plateau (the longest run of columns whose 8-bit means are equal, goal ≤ 3 % of the
   width: posterization shows as plateaus). Each method is also judged on its printable range:
   the tones whose uniform patch the method prints with both ink and paper. Outside it every tone
   prints alike (all paper or all ink), so no descreener can tell them apart; Atkinson, which
   keeps only 3/4 of its error, prints every tone from 0.875 up as blank paper and every tone up
   to 0.125 as solid ink, a quarter of the ramp.
2. **Screen residue.** The photo (its luma, long side 1000 px, or `--long-side`: 4000 gives a
   4000x3000 print of a 4:3 photo, mirrored about its edges at its own scale) is printed as an
   85 lpi screen at 600 dpi (7.06 px period, 45°), and, as a scanned print, that print blurred
   (σ 0.8 px), resampled to 300 dpi and JPEG-compressed at quality 80. Reported: the power of the
   descreened image in a small disc around the screen's fundamental frequencies, over the same
   power in the original photo (at the same size): goal ≤ 2×; the print itself is shown for
   scale. For a print mirrored from a smaller photo, the worst photo-sized copy is shown too
   (the whole image's ratio is inflated by the mirroring, see `_windows`).

Prints Markdown tables; the CPU and the thread count head the output.
"""

from __future__ import annotations

import argparse
import itertools
import math

import cv2
import numpy as np
import torch
from ihn_pilots import cpu_model  # the same folder: benchmarks run as scripts

from halftint.checkpoint import load_bundle
from halftint.halftone import dither
from halftint.hub import resolve_weights
from halftint.io import read_image
from halftint.pipeline import Colorizer

RAMP_METHODS = [
    ("floyd-steinberg", {}),
    ("jarvis", {}),
    ("stucki", {}),
    ("atkinson", {}),
    ("sierra", {}),
    ("blue-noise", {}),
    ("bayer8", {}),
    ("clustered 4 px", {"lpi": 150.0, "dpi": 600.0}),
    ("clustered 6 px", {"lpi": 100.0, "dpi": 600.0}),
]


def printable_range(method: str, options: dict[str, float]) -> tuple[float, float]:
    """The lowest and highest 8-bit tone whose uniform 64² patch prints with ink and paper both."""
    mixed = []
    for level in range(256):
        patch = np.full((64, 64), level / 255.0, dtype=np.float32)
        ink = 1.0 - float(np.asarray(dither(patch, method, seed=0, **options)).mean())
        if 0.0 < ink < 1.0:
            mixed.append(level)
    return (mixed[0], mixed[-1]) if mixed else (0.0, 255.0)


def tone(colorizer: Colorizer) -> list[str]:
    width, height = 1024, 128
    ramp = np.tile(np.linspace(0.0, 1.0, width, dtype=np.float32), (height, 1))
    rows = [
        "| method | worst column gap (8-bit levels, middle 90 %) | printable range | "
        "worst gap within it | monotone | widest plateau |",
        "|---|---:|---:|---:|:---:|---:|",
    ]
    lo, hi = int(0.05 * width), int(0.95 * width)
    for label, options in RAMP_METHODS:
        method = "clustered" if label.startswith("clustered") else label
        halftone = np.asarray(dither(ramp, method, seed=0, **options), dtype=np.float32)
        with torch.no_grad():
            gray = colorizer.descreen(torch.from_numpy(halftone)[None, None], screen="none")
        means = gray[0, 0].numpy().mean(axis=0) * 255.0
        truth = ramp[0] * 255.0
        gap = float(np.abs(means - truth)[lo:hi].max())
        low, high = printable_range(method, options)
        inside = (truth >= low) & (truth <= high)
        inside[:lo] = inside[hi:] = False
        gap_inside = float(np.abs(means - truth)[inside].max()) if inside.any() else gap
        smooth = np.convolve(means, np.ones(5) / 5, mode="valid")
        monotone = bool(np.all(np.diff(smooth[lo:hi]) > -0.25))
        levels = np.round(means[lo:hi]).astype(int)
        longest = run = 1
        for previous, current in itertools.pairwise(levels):
            run = run + 1 if current == previous else 1
            longest = max(longest, run)
        rows.append(
            f"| {label} | {gap:.2f} | {low:.0f}-{high:.0f} | {gap_inside:.2f} | "
            f"{'yes' if monotone else 'no'} | "
            f"{longest} px ({100 * longest / width:.1f} %) |"
        )
    return rows


def _screen_power(image: np.ndarray, period: float, angle: float, scale: float = 1.0) -> float:
    """Power in small discs around the screen's four fundamental frequencies.

    A disc is 2 frequency bins wide for a print whose long side is 1000 px at 600 dpi (`scale`:
    the image's pixels per pixel at 600 dpi) and as wide in cycles per pixel at any other size:
    a photo's power is spread over all frequencies, a screen's is in its peaks, so a disc of
    fixed bins would credit a larger photo with less power near the screen's frequency and make
    the same residue look larger.
    """
    height, width = image.shape
    radius = 2.0 * max(height, width) / (1000.0 * scale)
    window = np.outer(np.hanning(height), np.hanning(width)).astype(np.float32)
    spectrum = np.abs(np.fft.fft2((image - image.mean()) * window)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(height), np.fft.fftfreq(width), indexing="ij")
    total = 0.0
    for turn in range(4):
        theta = math.radians(angle + 90.0 * turn)
        cx, cy = math.cos(theta) / period, -math.sin(theta) / period
        disc = (fx - cx) ** 2 * width**2 + (fy - cy) ** 2 * height**2 <= radius**2
        total += float(spectrum[disc].sum())
    return total


def residue(colorizer: Colorizer, photo_path: str, long_side: int = 1000) -> list[str]:
    rgb = read_image(photo_path, "rgb")
    gray = (rgb @ np.array([0.299, 0.587, 0.114], dtype=np.float32)).astype(np.float32)
    scale = long_side / max(gray.shape)
    tile = gray.shape if scale > 1 else None  # the photo's own size, for the windows below
    if scale <= 1:
        gray = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    else:
        # a larger print is the photo mirrored about its edges at its own scale, not enlarged:
        # an enlarged photo has next to no detail at the screen's frequency, so any residue
        # would be many times "the photo's" (a scan of a large photo has its own fine detail)
        height, width = gray.shape
        rows, columns = round(height * scale), round(width * scale)
        gray = np.pad(gray, ((0, rows - height), (0, columns - width)), mode="symmetric")
    period, angle = 600 / 85, 45.0
    printed = np.asarray(dither(gray, "clustered", lpi=85, dpi=600, angle=angle), np.float32)
    blurred = cv2.GaussianBlur(printed, (0, 0), 0.8)
    small = cv2.resize(blurred, None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    _, jpeg = cv2.imencode(".jpg", np.clip(small * 255 + 0.5, 0, 255).astype(np.uint8),
                            [cv2.IMWRITE_JPEG_QUALITY, 80])  # fmt: skip
    scanned = cv2.imdecode(jpeg, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0
    rows = [
        "| print | screen analysis | print / photo | descreened / photo | worst window |",
        "|---|---|---:|---:|---:|",
    ]
    for label, image, truth, p in (
        ("85 lpi at 600 dpi", printed, gray, period),
        ("the same, scanned at 300 dpi (blur, JPEG 80)", scanned,
         cv2.resize(gray, scanned.shape[::-1], interpolation=cv2.INTER_AREA), period / 2),
    ):  # fmt: skip
        tensor = torch.from_numpy(image)[None, None]
        info = colorizer.analyze_screen(tensor)
        with torch.no_grad():
            out = colorizer.descreen(tensor, screen=info)[0, 0].numpy()
        scale = p / period
        base = _screen_power(truth, p, angle, scale)
        worst = max(
            _screen_power(out[window], p, angle, scale)
            / _screen_power(truth[window], p, angle, scale)
            for window in _windows(out.shape, tile, scale)
        )
        rows.append(
            f"| {label} | {info.describe()} | "
            f"{_screen_power(image, p, angle, scale) / base:.1f}× | "
            f"{_screen_power(out, p, angle, scale) / base:.2f}× | {worst:.2f}× |"
        )
    return rows


def _windows(
    shape: tuple[int, ...], tile: tuple[int, ...] | None, scale: float
) -> list[tuple[slice, slice]]:
    """The whole image, or, for a print mirrored from a smaller photo, each whole copy of it.

    The mirrored copies' spectra partly cancel near the screen's frequency in the whole image
    (a screen's residue, printed straight across them, does not), which makes the whole
    image's ratio larger than any copy's: each copy is one photo-sized print.
    """
    if tile is None:
        return [(slice(None), slice(None))]
    rows, columns = (round(side * scale) for side in tile[:2])
    return [
        (slice(top, top + rows), slice(left, left + columns))
        for top in range(0, shape[0] - rows + 1, rows)
        for left in range(0, shape[1] - columns + 1, columns)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photo", required=True, help="a color or gray photo (no halftone)")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--long-side", type=int, default=1000, help="the residue print's long side")
    parser.add_argument("--skip-tone", action="store_true", help="the screen residue only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    colorizer = Colorizer(load_bundle(resolve_weights(args.weights)), device="cpu")
    print(f"CPU: {cpu_model()}, {args.threads} thread(s); weights: {colorizer.working_size} px")
    if not args.skip_tone:
        print()
        print("\n".join(tone(colorizer)))
    print(f"\nscreen residue, long side {args.long_side} px\n")
    print("\n".join(residue(colorizer, args.photo, args.long_side)))


if __name__ == "__main__":
    main()
