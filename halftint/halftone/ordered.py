"""Ordered (dispersed-dot) dithering with Bayer's recursive threshold matrices.

Bayer's matrix of size 2n is built from the one of size n by placing four scaled copies,
`4 M + (0, 2; 3, 1)`: each new level splits every threshold bin into four, spread as far apart
as a 2x2 block allows. The result puts consecutive thresholds at the largest possible distance,
which gives the regular cross-hatch texture of ordered dither.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from halftint.halftone.registry import BAYER_SIZES
from halftint.halftone.threshold import rank_thresholds

# the 2x2 seed of the recursion: the order in which the four pixels of a block turn white
_BAYER_BASE = np.array([[0, 2], [3, 1]], dtype=np.int64)


@lru_cache(maxsize=len(BAYER_SIZES))
def bayer_matrix(size: int) -> np.ndarray:
    """The `size` x `size` Bayer index matrix (a permutation of 0..size²-1), read-only.

    Raises:
        ValueError: `size` is not one of 2, 4, 8, 16.
    """
    if size not in BAYER_SIZES:
        raise ValueError(f"Bayer matrix size must be one of {BAYER_SIZES}, got {size}")
    matrix = np.zeros((1, 1), dtype=np.int64)
    while matrix.shape[0] < size:
        # block (i, j) of the next level is 4 M + base[i, j]
        matrix = np.block([[4 * matrix + _BAYER_BASE[i, j] for j in range(2)] for i in range(2)])
    matrix.setflags(write=False)
    return matrix


def bayer_thresholds(size: int) -> np.ndarray:
    """Float32 thresholds in (0, 1) of the `size` x `size` Bayer matrix."""
    return rank_thresholds(bayer_matrix(size))
