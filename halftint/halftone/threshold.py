"""Threshold (screen) halftoning: compare every pixel with a threshold array.

Ordered dither, clustered-dot screens, blue noise and white noise differ only in where their
thresholds come from. A pixel is white paper when its gray value reaches its threshold; with
thresholds spread evenly over [0, 1] the share of white pixels equals the gray level, which is
what keeps the mean tone.
"""

from __future__ import annotations

import numpy as np


def rank_thresholds(ranks: np.ndarray) -> np.ndarray:
    """Turn a matrix of ranks 0..N-1 into float32 thresholds at the centres of N equal bins."""
    return ((ranks.astype(np.float64) + 0.5) / ranks.size).astype(np.float32)


def tile(mask: np.ndarray, height: int, width: int, offset: tuple[int, int] = (0, 0)) -> np.ndarray:
    """Repeat a 2-D threshold `mask` over a `height` x `width` image, shifted by `offset`.

    `offset` is `(rows, columns)`; the shift is cyclic, so any integers are accepted.
    """
    mask_height, mask_width = mask.shape
    row_shift, column_shift = offset[0] % mask_height, offset[1] % mask_width
    reps_y = -(-(height + row_shift) // mask_height)
    reps_x = -(-(width + column_shift) // mask_width)
    tiled = np.tile(mask, (reps_y, reps_x))
    return tiled[row_shift : row_shift + height, column_shift : column_shift + width]


def apply_thresholds(images: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """`(N, H, W)` gray images against broadcastable thresholds -> uint8 (1 white, 0 ink)."""
    return (images >= thresholds).astype(np.uint8)


def apply_mask(
    images: np.ndarray, mask: np.ndarray, rng: np.random.Generator, *, seeded: bool
) -> np.ndarray:
    """`(N, H, W)` gray images against a tiled threshold `mask` -> uint8 (1 white, 0 ink).

    With `seeded`, each image gets the mask at its own random shift drawn from `rng` (so that
    training data does not always see the grid at the same phase); without, no shift.
    """
    count, height, width = images.shape
    if not seeded:
        return apply_thresholds(images, tile(mask, height, width))
    offsets = rng.integers(0, mask.shape[0], size=(count, 2))
    return np.stack(
        [
            apply_thresholds(images[n], tile(mask, height, width, (int(row), int(column))))
            for n, (row, column) in enumerate(offsets)
        ]
    )


def apply_white_noise(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """`(N, H, W)` gray images against uniform white-noise thresholds drawn from `rng`."""
    return apply_thresholds(images, rng.random(images.shape, dtype=np.float32))
