"""Blue-noise threshold masks made with Ulichney's void-and-cluster method (1993).

The mask ranks the pixels of a torus so that, for every gray level, the pixels turned white
are spread as evenly as possible: each new pixel goes into the largest "void" (the spot where
a Gaussian-filtered density of the chosen pixels is lowest). Thresholded against such a mask,
an image gets the fine, structureless grain of error diffusion at the speed of ordered dither.

The mask is generated from a fixed seed, so it is the same on every machine; it is built once
per process (a fraction of a second) and kept in memory.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from halftint.halftone.threshold import rank_thresholds

MASK_SIZE = 64
# width of the Gaussian that measures clustering; 1.5 px is Ulichney's choice
SIGMA = 1.5
# share of pixels in the initial random pattern
INITIAL_DENSITY = 0.1
MASK_SEED = 20211001


class _Pattern:
    """A binary pattern on a torus with the Gaussian-filtered density of its set pixels."""

    def __init__(self, size: int, sigma: float) -> None:
        self.size = size
        distance = np.minimum(np.arange(size), size - np.arange(size)).astype(np.float64)
        kernel = np.exp(-(distance[:, None] ** 2 + distance[None, :] ** 2) / (2 * sigma**2))
        # a 2x2 tiling turns every cyclic shift of the kernel into a plain slice (no copy)
        self._tiled_kernel = np.tile(kernel, (2, 2))
        self.pixels = np.zeros((size, size), dtype=bool)
        self.energy = np.zeros((size, size), dtype=np.float64)

    def _shifted_kernel(self, flat_index: int) -> np.ndarray:
        row, column = divmod(flat_index, self.size)
        return self._tiled_kernel[
            self.size - row : 2 * self.size - row, self.size - column : 2 * self.size - column
        ]

    def set(self, flat_index: int) -> None:
        self.pixels.flat[flat_index] = True
        self.energy += self._shifted_kernel(flat_index)

    def clear(self, flat_index: int) -> None:
        self.pixels.flat[flat_index] = False
        self.energy -= self._shifted_kernel(flat_index)

    def tightest_cluster(self) -> int:
        """The set pixel with the most set neighbours (highest filtered density)."""
        return int(np.argmax(np.where(self.pixels, self.energy, -np.inf)))

    def largest_void(self) -> int:
        """The unset pixel with the fewest set neighbours (lowest filtered density)."""
        return int(np.argmin(np.where(self.pixels, np.inf, self.energy)))

    def copy(self) -> _Pattern:
        twin = _Pattern.__new__(_Pattern)
        twin.size = self.size
        twin._tiled_kernel = self._tiled_kernel
        twin.pixels = self.pixels.copy()
        twin.energy = self.energy.copy()
        return twin


def void_and_cluster(
    size: int = MASK_SIZE, *, sigma: float = SIGMA, seed: int = MASK_SEED
) -> np.ndarray:
    """Rank the pixels of a `size` x `size` torus by void-and-cluster.

    Returns:
        `(size, size)` int64 array, a permutation of 0..size²-1: the order in which pixels
        turn white as the gray level rises.
    """
    total = size * size
    pattern = _Pattern(size, sigma)
    rng = np.random.default_rng(seed)
    initial_count = max(1, int(total * INITIAL_DENSITY))
    for index in rng.choice(total, size=initial_count, replace=False):
        pattern.set(int(index))

    # 1. even out the random start: move the tightest cluster's pixel into the largest void
    #    until the pixel removed is the one that would be put back
    while True:
        cluster = pattern.tightest_cluster()
        pattern.clear(cluster)
        void = pattern.largest_void()
        pattern.set(void)
        if void == cluster:
            break

    ranks = np.empty(total, dtype=np.int64)
    # 2. rank the initial pixels, removing the most crowded one first (it gets the last rank)
    shrinking = pattern.copy()
    for rank in range(initial_count - 1, -1, -1):
        cluster = shrinking.tightest_cluster()
        shrinking.clear(cluster)
        ranks[cluster] = rank
    # 3. rank the rest by filling the largest void. Past half density Ulichney switches to
    #    removing clusters of the unset pixels; with a filter whose sum is the same everywhere
    #    that is the same choice, so one loop does both.
    for rank in range(initial_count, total):
        void = pattern.largest_void()
        pattern.set(void)
        ranks[void] = rank
    return ranks.reshape(size, size)


@lru_cache(maxsize=1)
def blue_noise_thresholds() -> np.ndarray:
    """Float32 thresholds in (0, 1) of the `MASK_SIZE` x `MASK_SIZE` blue-noise mask, read-only."""
    thresholds = rank_thresholds(void_and_cluster())
    thresholds.setflags(write=False)
    return thresholds
