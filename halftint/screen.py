"""Screen analysis: is a print an AM (clustered-dot) screen, and if so of what period and angle.

A clustered-dot screen is a grid of dots: its 2-D spectrum has sharp peaks at the grid's
fundamental frequency (one over the dot period) along the screen angle and at right angles to
it. Error diffusion, blue noise and white-noise halftones spread their energy over a broad ring
instead, and a continuous-tone image has no high-frequency peak at all. The analysis averages the
power spectrum of Hann-windowed tiles (Welch's method, so one tile's content does not decide),
looks for the strongest peak at periods between `MIN_PERIOD` and `MAX_PERIOD` pixels, and calls
the print periodic when that peak stands well above the spectrum at its radius
(`MIN_PROMINENCE`) and is a spike, not a hump (`MIN_SHARPNESS`).
Line screens count as screens too (their peak is as sharp). Dispersed-dot ordered dither
(Bayer) is periodic as well, but its strongest peak sits at a period of about 2 px: it is
reported as not a clustered screen, and left alone.

Pure functions on tensors; nothing here reads files.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# periods searched, in pixels (the peak must be inside; Bayer's 2 px peak is outside)
MIN_PERIOD = 2.6
MAX_PERIOD = 32.0
# tiles of the spectrum estimate (power of two); smaller images use one padded tile
TILE = 256
MAX_TILES = 16
# a screen's peak is at least this many times the median power at its radius (measured: 800 to
# 150,000 for screens of 3-20 px on photos, at most 150 for error diffusion and blue noise)
MIN_PROMINENCE = 300.0
# a screen's peak is a spike: it stands this many times above the spectrum 3-5 bins away
# (measured: 130 to 40,000 for screens on photos; below 1 for continuous-tone images, whose
# strongest high-frequency component is a broad hump)
MIN_SHARPNESS = 10.0
# below this the whole image is too small to hold a few periods of any screen
MIN_SIDE = 24


@dataclass(frozen=True)
class ScreenInfo:
    """What `analyze` found.

    Attributes:
        periodic: whether the print is a clustered-dot screen.
        period: the dot period in pixels (grid spacing), None when not periodic.
        angle: the screen angle in degrees in [0, 90), None when not periodic.
        prominence: the strongest peak over the median power at its radius (0 when no
            peak could be measured).
        reason: a short note on why the print was found not periodic (empty when periodic).
    """

    periodic: bool
    period: float | None = None
    angle: float | None = None
    prominence: float = 0.0
    reason: str = ""

    def describe(self) -> str:
        """One line for `-v` output."""
        if self.periodic:
            return (
                f"clustered-dot screen, period {self.period:.2f} px, angle {self.angle:.1f}°"
                f" (peak {self.prominence:.0f}× its surroundings)"
            )
        return f"no periodic screen ({self.reason})"


def analyze(image: torch.Tensor) -> ScreenInfo:
    """Find whether a halftone print is a clustered-dot screen, and its period and angle.

    Args:
        image: `(H, W)`, `(1, H, W)` or `(1, 1, H, W)` float in [0, 1] (a scan or a 1-bit print).

    Returns:
        A `ScreenInfo`; never raises for odd content (blank, tiny, continuous tone): those come
        back as not periodic, with the reason.
    """
    gray = image.detach().float().reshape(image.shape[-2:]).cpu()
    height, width = gray.shape
    if min(height, width) < MIN_SIDE:
        return ScreenInfo(False, reason=f"image too small ({width}×{height} px)")
    if float(gray.std()) < 1e-3:
        return ScreenInfo(False, reason="blank image")
    power = _mean_power(gray)
    size = power.shape[0]
    frequencies = torch.fft.fftfreq(size)
    fy, fx = torch.meshgrid(frequencies, frequencies, indexing="ij")
    radius = torch.sqrt(fx * fx + fy * fy)
    searched = (radius >= 1.0 / MAX_PERIOD) & (radius <= 0.5)
    if not bool(searched.any()):
        return ScreenInfo(False, reason="image too small")
    masked = torch.where(searched, power, torch.zeros_like(power))
    index = int(masked.argmax())
    row, col = divmod(index, size)
    peak_radius = float(radius[row, col])
    ring = searched & ((radius - peak_radius).abs() <= 1.5 / size)
    background = float(power[ring].median()) if bool(ring.any()) else 0.0
    prominence = float(power[row, col]) / max(background, 1e-12)
    period = 1.0 / peak_radius
    if prominence < MIN_PROMINENCE:
        return ScreenInfo(
            False, prominence=prominence, reason=f"no clear spectral peak ({prominence:.0f}×)"
        )
    if period < MIN_PERIOD:
        return ScreenInfo(
            False,
            prominence=prominence,
            reason=f"dispersed dots (strongest spectral peak at {period:.1f} px)",
        )
    near = power[[(row + d) % size for d in range(-5, 6)]][
        :, [(col + d) % size for d in range(-5, 6)]
    ]
    near[2:9, 2:9] = 0.0
    sharpness = float(power[row, col]) / max(float(near.max()), 1e-12)
    if sharpness < MIN_SHARPNESS:
        return ScreenInfo(
            False, prominence=prominence, reason="no sharp spectral peak (continuous tone?)"
        )
    peak_y, peak_x = _refine(power, row, col)
    fpx = float(frequencies[col]) + peak_x / size
    fpy = float(frequencies[row]) + peak_y / size
    # image rows grow downwards; angles are counter-clockwise from the x axis, as screens are
    angle = math.degrees(math.atan2(-fpy, fpx)) % 90.0
    return ScreenInfo(
        True,
        period=1.0 / math.hypot(fpx, fpy),
        angle=angle if angle < 89.95 else 0.0,
        prominence=prominence,
    )


def _mean_power(gray: torch.Tensor) -> torch.Tensor:
    """Welch estimate: the mean power spectrum of Hann-windowed `TILE`² tiles (or one tile)."""
    height, width = gray.shape
    tile = TILE
    if min(height, width) < TILE:
        tile = 1 << (min(height, width).bit_length() - 1)
    tops = _starts(height, tile)
    lefts = _starts(width, tile)
    window = torch.hann_window(tile, periodic=False)
    window2d = window[:, None] * window[None, :]
    total = torch.zeros(tile, tile)
    for top in tops:
        for left in lefts:
            patch = gray[top : top + tile, left : left + tile]
            patch = (patch - patch.mean()) * window2d
            total += torch.fft.fft2(patch).abs() ** 2
    return total / (len(tops) * len(lefts))


def _starts(length: int, tile: int) -> list[int]:
    count = max(1, min(round(math.sqrt(MAX_TILES)), length // tile))
    if count == 1:
        return [(length - tile) // 2]
    step = (length - tile) / (count - 1)
    return [round(index * step) for index in range(count)]


def _refine(power: torch.Tensor, row: int, col: int) -> tuple[float, float]:
    """Sub-bin offset of a peak (rows, columns) by a parabola through log power."""
    size = power.shape[0]

    def offset(minus: float, centre: float, plus: float) -> float:
        a, b, c = (math.log(max(value, 1e-20)) for value in (minus, centre, plus))
        denominator = a - 2 * b + c
        return 0.0 if denominator >= 0 else max(-0.5, min(0.5, 0.5 * (a - c) / denominator))

    dy = offset(
        float(power[(row - 1) % size, col]),
        float(power[row, col]),
        float(power[(row + 1) % size, col]),
    )
    dx = offset(
        float(power[row, (col - 1) % size]),
        float(power[row, col]),
        float(power[row, (col + 1) % size]),
    )
    return dy, dx


def screen_scale(info: ScreenInfo, periods: tuple[float, float]) -> float:
    """The factor to resize a print by so that its period falls in `periods` (1: as it is).

    A period already in the range is left; one outside it is brought to the nearest end.
    """
    if not info.periodic or info.period is None:
        return 1.0
    low, high = periods
    target = min(max(info.period, low), high)
    return target / info.period
