"""Classical descreeners fitted on training photos: what a network has to beat besides a blur.

- `LinearFilter`: the least-squares linear filter. A `size`² kernel (plus a constant) fitted so
  that filtering the halftone gives the gray image with the least squared error over all pixels
  of the fitting photos: the best any linear, shift-invariant descreener can do for that
  halftone kind.
- `LookupTable`: the look-up-table inverse halftoner (Mese and Vaidyanathan's idea). Each
  pixel's 21-pixel binary neighbourhood (a 5×5 window without its corners) indexes a table of the
  mean gray seen under that pattern in the fitting data; patterns never seen fall back to the
  Gaussian estimate, and a light blur smooths the table's output. Scans that are no longer binary
  are thresholded at one half first.

Both fit in one pass over the photos with bounded memory (sums, not pixel lists), and both are
fitted per halftone kind: one pass per method, like the Gaussian's σ search.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import cv2
import numpy as np

# the 21 positions of a 5x5 window without its corners, as (dy, dx); bit i of a pattern
_LUT_OFFSETS = [
    (dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if not (abs(dy) == 2 and abs(dx) == 2)
]
LUT_BITS = len(_LUT_OFFSETS)
LUT_SMOOTHING = 0.5  # σ (px) of the blur after the table
FALLBACK_SIGMA = 1.2  # σ (px) of the estimate for unseen patterns


def _reflect(image: np.ndarray, pad: int) -> np.ndarray:
    return np.pad(image, pad, mode="reflect")


@dataclass
class LinearFilter:
    """A fitted `size`² descreening kernel and constant (see the module docstring)."""

    kernel: np.ndarray
    bias: float

    @classmethod
    def fit(cls, pairs: Iterable[tuple[np.ndarray, np.ndarray]], size: int = 11) -> LinearFilter:
        """Least squares over every pixel of (halftone, gray) pairs of `(H, W)` float arrays."""
        if size % 2 == 0 or size < 1:
            raise ValueError(f"the kernel size must be odd and positive, got {size}")
        features = size * size + 1
        gram = np.zeros((features, features), dtype=np.float64)
        moment = np.zeros(features, dtype=np.float64)
        pad = size // 2
        for halftone, gray in pairs:
            patches = _windows(_reflect(halftone.astype(np.float32), pad), size)
            design = np.concatenate([patches, np.ones((patches.shape[0], 1), np.float32)], 1)
            gram += design.T.astype(np.float64) @ design.astype(np.float64)
            moment += design.T.astype(np.float64) @ gray.reshape(-1).astype(np.float64)
        # a tiny ridge keeps the solve well posed for flat or tiny fitting sets
        gram += np.eye(features) * 1e-6 * max(1.0, float(np.trace(gram)) / features)
        solution = np.linalg.solve(gram, moment)
        kernel = solution[:-1].reshape(size, size).astype(np.float32)
        return cls(kernel=kernel, bias=float(solution[-1]))

    def __call__(self, halftone: np.ndarray) -> np.ndarray:
        """Descreen an `(H, W)` float halftone: `(H, W)` float32 in [0, 1]."""
        filtered = cv2.filter2D(
            halftone.astype(np.float32), -1, self.kernel, borderType=cv2.BORDER_REFLECT_101
        )
        return np.clip(filtered + self.bias, 0.0, 1.0).astype(np.float32)


def _windows(padded: np.ndarray, size: int) -> np.ndarray:
    """Every `size`² window of a padded image as a row: `(H * W, size²)`."""
    view = np.lib.stride_tricks.sliding_window_view(padded, (size, size))
    return np.ascontiguousarray(view.reshape(-1, size * size))


def _patterns(halftone: np.ndarray) -> np.ndarray:
    """The 21-bit neighbourhood code of every pixel of a halftone thresholded at 1/2."""
    binary = (halftone >= 0.5).astype(np.int64)
    padded = _reflect(binary, 2)
    height, width = halftone.shape
    codes = np.zeros((height, width), dtype=np.int64)
    for bit, (dy, dx) in enumerate(_LUT_OFFSETS):
        codes |= padded[2 + dy : 2 + dy + height, 2 + dx : 2 + dx + width] << bit
    return codes


@dataclass
class LookupTable:
    """Mean gray per 21-pixel pattern, with the patterns seen (see the module docstring)."""

    table: np.ndarray
    seen: np.ndarray

    @classmethod
    def fit(cls, pairs: Iterable[tuple[np.ndarray, np.ndarray]]) -> LookupTable:
        """Mean gray under each pattern, over every pixel of (halftone, gray) pairs."""
        sums = np.zeros(1 << LUT_BITS, dtype=np.float64)
        counts = np.zeros(1 << LUT_BITS, dtype=np.int64)
        for halftone, gray in pairs:
            codes = _patterns(halftone).reshape(-1)
            sums += np.bincount(codes, weights=gray.reshape(-1), minlength=sums.size)
            counts += np.bincount(codes, minlength=counts.size)
        seen = counts > 0
        table = np.zeros(sums.size, dtype=np.float32)
        table[seen] = (sums[seen] / counts[seen]).astype(np.float32)
        return cls(table=table, seen=seen)

    def __call__(self, halftone: np.ndarray) -> np.ndarray:
        """Descreen an `(H, W)` float halftone: `(H, W)` float32 in [0, 1]."""
        codes = _patterns(halftone)
        fallback = cv2.GaussianBlur(
            halftone.astype(np.float32),
            (0, 0),
            sigmaX=FALLBACK_SIGMA,
            borderType=cv2.BORDER_REFLECT_101,
        )
        estimate = np.where(self.seen[codes], self.table[codes], fallback).astype(np.float32)
        smoothed = cv2.GaussianBlur(
            estimate, (0, 0), sigmaX=LUT_SMOOTHING, borderType=cv2.BORDER_REFLECT_101
        )
        return np.clip(smoothed, 0.0, 1.0).astype(np.float32)
