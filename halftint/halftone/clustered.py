"""Clustered-dot AM screens, the way newspapers and magazines print photographs.

An AM screen is a grid of dots, `lpi` dots per inch along each axis, rotated by the screen
angle; at `dpi` device pixels per inch one grid cell is `dpi / lpi` pixels wide. Inside a cell a
*spot function* orders the positions: ink starts where it is lowest (the cell centre) and grows
outwards as the tone darkens. Mapping spot values through their own distribution function turns
that order into thresholds spread evenly over [0, 1], so a flat gray field prints at its own tone
whatever the spot shape.

The cell is computed analytically at every pixel centre (no tiled supercell), so any ruling and
angle are exact, including the irrational periods real screens have on a scanner's pixel grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import numpy as np

SPOTS = ("round", "ellipse", "square", "line")

# screen angles of the four process inks relative to black; with black at 45° they are the
# classic cyan 15°, magenta 75°, yellow 0° (yellow is the least visible, so it takes the
# angle most prone to moiré)
CMYK_ANGLE_OFFSETS = {"cyan": -30.0, "magenta": 30.0, "yellow": -45.0, "black": 0.0}

# a screen period below two pixels cannot form dots (Nyquist)
MIN_PERIOD = 2.0
MAX_ABS_ANGLE = 360.0

# samples per cell side used to tabulate a spot function's distribution
_CELL_SAMPLES = 512
# knots of the tabulated distribution: 4096 threshold levels
_QUANTILE_KNOTS = 4097


def _round_spot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # Euclidean dot: circular dots that touch at 50 % and then leave circular white holes at
    # the cell corners; the inside of the diamond |x| + |y| <= 1 ranks before the outside
    inside = np.abs(x) + np.abs(y) <= 1.0
    return np.where(inside, x * x + y * y, 4.0 - (1.0 - np.abs(x)) ** 2 - (1.0 - np.abs(y)) ** 2)


def _ellipse_spot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # elliptical (chain) dot: dots join along the long axis first, which softens the midtone jump
    return x * x + (y / 0.7) ** 2


def _square_spot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.maximum(np.abs(x), np.abs(y))


def _line_spot(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # lines along the screen direction, thickening with the tone
    del x
    return np.abs(y)


_SPOT_FUNCTIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "round": _round_spot,
    "ellipse": _ellipse_spot,
    "square": _square_spot,
    "line": _line_spot,
}


def check_screen(lpi: float, dpi: float, angle: float, spot: str) -> None:
    """Validate screen parameters.

    Raises:
        ValueError: naming the bad value and the allowed range.
    """
    if not (math.isfinite(dpi) and dpi > 0):
        raise ValueError(f"dpi must be a positive number, got {dpi}")
    if not (math.isfinite(lpi) and 0 < lpi <= dpi / MIN_PERIOD):
        raise ValueError(
            f"lpi must be > 0 and at most dpi/{MIN_PERIOD:g} = {dpi / MIN_PERIOD:g} "
            f"(a dot needs at least {MIN_PERIOD:g} pixels), got {lpi}"
        )
    if not (math.isfinite(angle) and -MAX_ABS_ANGLE <= angle <= MAX_ABS_ANGLE):
        raise ValueError(
            f"angle must be between {-MAX_ABS_ANGLE:g} and {MAX_ABS_ANGLE:g} degrees, got {angle}"
        )
    if spot not in SPOTS:
        raise ValueError(f"unknown spot shape {spot!r}; valid: {', '.join(SPOTS)}")


@lru_cache(maxsize=len(SPOTS))
def _spot_quantiles(spot: str) -> np.ndarray:
    """Quantiles of the spot function's values over a uniformly sampled cell."""
    centres = (np.arange(_CELL_SAMPLES) + 0.5) / _CELL_SAMPLES * 2.0 - 1.0
    values = _SPOT_FUNCTIONS[spot](centres[None, :], centres[:, None]).ravel()
    values.sort()
    picks = np.linspace(0, values.size - 1, _QUANTILE_KNOTS).round().astype(np.int64)
    quantiles = values[picks]
    quantiles.setflags(write=False)
    return quantiles


def screen_thresholds(
    height: int,
    width: int,
    *,
    lpi: float,
    dpi: float,
    angle: float,
    spot: str,
    phase: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """Thresholds of a clustered-dot screen over an image.

    Args:
        height: image height in pixels.
        width: image width in pixels.
        lpi: screen ruling, lines (dots) per inch.
        dpi: device resolution, pixels per inch; the dot period is `dpi / lpi` pixels.
        angle: screen angle in degrees, counter-clockwise as the image is displayed.
        spot: dot shape, one of `SPOTS`.
        phase: shift of the grid in cell units along its two axes, each in [0, 1).

    Returns:
        `(height, width)` float32 thresholds in [0, 1]; a pixel is white paper when its gray
        value is at least its threshold.

    Raises:
        ValueError: a parameter is out of range (see `check_screen`).
    """
    check_screen(lpi, dpi, angle, spot)
    period = dpi / lpi
    theta = math.radians(angle)
    cos_t, sin_t = math.cos(theta), math.sin(theta)
    # pixel centres; image rows grow downwards, so a counter-clockwise angle flips y's sign
    ys = (np.arange(height, dtype=np.float64) + 0.5)[:, None]
    xs = (np.arange(width, dtype=np.float64) + 0.5)[None, :]
    along = (xs * cos_t - ys * sin_t) / period + phase[0]
    across = (xs * sin_t + ys * cos_t) / period + phase[1]
    # position inside the cell, in [-1, 1) on both axes, cell centre at 0
    cell_x = 2.0 * (along - np.floor(along)) - 1.0
    cell_y = 2.0 * (across - np.floor(across)) - 1.0
    values = _SPOT_FUNCTIONS[spot](cell_x, cell_y)
    quantiles = _spot_quantiles(spot)
    # share of the cell that inks before this position: it inks once the ink coverage
    # (1 - gray) exceeds that share, i.e. it stays white while gray >= 1 - share
    share = np.interp(values, quantiles, np.linspace(0.0, 1.0, quantiles.size))
    return (1.0 - share).astype(np.float32)
