"""Spot functions of clustered-dot screens, evaluated at every pixel by a compiled loop.

One pass per pixel (rotate into screen coordinates, wrap into the cell, evaluate the spot) with
no temporary arrays: an order of magnitude faster than the same arithmetic on whole numpy
arrays, which matters when training makes a fresh screen for every sample.
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _spot_value(spot_index: int, x: float, y: float) -> float:
    """Spot `clustered.SPOTS[spot_index]` at cell position (x, y) in [-1, 1)²; low inks first."""
    ax, ay = abs(x), abs(y)
    if spot_index == 0:
        # round (Euclidean) dot: circular dots that touch at 50 % and then leave circular white
        # holes at the cell corners; the diamond |x| + |y| <= 1 ranks before the rest
        if ax + ay <= 1.0:
            return x * x + y * y
        return 4.0 - (1.0 - ax) ** 2 - (1.0 - ay) ** 2
    if spot_index == 1:
        # elliptical (chain) dot: dots join along one axis first, softening the midtone jump
        return x * x + (y / 0.7) ** 2
    if spot_index == 2:
        return max(ax, ay)
    # line screen: lines along the screen direction, thickening with the tone
    return ay


@numba.njit(cache=True, nogil=True)
def spot_grid(  # noqa: PLR0917 (compiled: numba passes scalars positionally)
    height: int,
    width: int,
    cos_t: float,
    sin_t: float,
    period: float,
    phase_along: float,
    phase_across: float,
    spot_index: int,
) -> np.ndarray:
    """Spot values at every pixel centre of a `height` x `width` image (float64)."""
    values = np.empty((height, width), dtype=np.float64)
    for row in range(height):
        # image rows grow downwards, so a counter-clockwise angle flips y's sign
        y = row + 0.5
        for column in range(width):
            x = column + 0.5
            along = (x * cos_t - y * sin_t) / period + phase_along
            across = (x * sin_t + y * cos_t) / period + phase_across
            # position inside the cell, in [-1, 1) on both axes, cell centre at 0
            cell_x = 2.0 * (along - math.floor(along)) - 1.0
            cell_y = 2.0 * (across - math.floor(across)) - 1.0
            values[row, column] = _spot_value(spot_index, cell_x, cell_y)
    return values
