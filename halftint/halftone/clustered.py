"""Clustered-dot AM screens, the way newspapers and magazines print photographs.

An AM screen is a grid of dots, `lpi` dots per inch along each axis, rotated by the screen
angle; at `dpi` device pixels per inch one grid cell is `dpi / lpi` pixels wide. Inside a cell a
*spot function* orders the positions: ink starts where it is lowest (the cell centre) and grows
outwards as the tone darkens. Replacing spot values by their rank among the image's pixels turns
that order into thresholds spread evenly over [0, 1], so a flat gray field prints at its own tone
whatever the spot shape.

The cell is computed analytically at every pixel centre (no tiled supercell), so any ruling and
angle are exact, including the irrational periods real screens have on a scanner's pixel grid.
"""

from __future__ import annotations

import math

import numpy as np

# the screen's parameters and their ranges are defined with its options in the registry
from halftint.halftone.registry import SPOTS, ScreenOptions, check_screen
from halftint.halftone.threshold import apply_thresholds

__all__ = [
    "CMYK_ANGLE_OFFSETS",
    "SPOTS",
    "apply_screen",
    "check_screen",
    "screen_thresholds",
]

# screen angles of the four process inks relative to black; with black at 45° they are the
# classic cyan 15°, magenta 75°, yellow 0° (yellow is the least visible, so it takes the
# angle most prone to moiré)
CMYK_ANGLE_OFFSETS = {"cyan": -30.0, "magenta": 30.0, "yellow": -45.0, "black": 0.0}

# thresholds are ranked within a window of at most this many pixels a side: hundreds of cells
# at any usable ruling, so the ranks stand for the whole (periodic) screen
_REFERENCE_SIDE = 512
# resolution of the spot values when ranking them
_RANK_BINS = 1 << 16


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
    # the compiled part is imported on first use: numba takes a noticeable time to import
    from halftint.halftone.spots import spot_grid

    check_screen(lpi, dpi, angle, spot)
    theta = math.radians(angle)
    values = spot_grid(
        height,
        width,
        math.cos(theta),
        math.sin(theta),
        dpi / lpi,
        phase[0],
        phase[1],
        SPOTS.index(spot),
    )
    # the share of pixels that ink before this one: it inks once the ink coverage (1 - gray)
    # exceeds that share, so it stays white while gray >= 1 - share. Ranking among the pixels
    # actually drawn, not over the continuous cell, keeps flat tones exact to half a level
    # even when the screen falls in step with the pixel grid (45° at 85/600 does). Ranks are
    # counted on a fine grid of spot values rather than by sorting: one pass, no search.
    low, high = float(values.min()), float(values.max())
    scale = (_RANK_BINS - 1) / (high - low) if high > low else 0.0
    bins = ((values - low) * scale).astype(np.int32)
    counts = np.bincount(
        bins[:_REFERENCE_SIDE, :_REFERENCE_SIDE].ravel(), minlength=_RANK_BINS
    ).astype(np.float64)
    total = counts.sum()
    # pixels in one bin share the middle of their ranks; the clip keeps pure black and pure
    # white exact
    shares = np.clip((np.cumsum(counts) - counts / 2.0) / total, 0.5 / total, 1.0 - 0.5 / total)
    return (1.0 - shares[bins]).astype(np.float32)


def apply_screen(
    images: np.ndarray, options: ScreenOptions, rng: np.random.Generator, *, seeded: bool
) -> np.ndarray:
    """`(N, H, W)` gray images through the screen of `options` -> uint8 (1 white, 0 ink).

    With `seeded`, each image gets the screen at its own random phase drawn from `rng`;
    without, every image gets the same unshifted screen, computed once.
    """
    count, height, width = images.shape
    phases = rng.random((count, 2)) if seeded else np.zeros((1, 2))
    thresholds = np.stack(
        [
            screen_thresholds(
                height,
                width,
                lpi=options.lpi,
                dpi=options.dpi,
                angle=options.angle,
                spot=options.spot,
                phase=(float(phase_along), float(phase_across)),
            )
            for phase_along, phase_across in phases
        ]
    )
    return apply_thresholds(images, thresholds)
