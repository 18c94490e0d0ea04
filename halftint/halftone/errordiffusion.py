"""Error diffusion: threshold each pixel in scan order and push its error onto unvisited pixels.

The scan is inherently sequential, so the inner loop is compiled with numba (cached on disk, so
the compile cost is paid once per installation, not once per process). It keeps only a ring of
`rows below + 1` rows of float64 error-carrying values, which makes memory independent of the
image height and keeps the working set in cache.
"""

from __future__ import annotations

import numba
import numpy as np

from halftint.halftone.kernels import DiffusionKernel

# a value at or above this becomes white paper (1), below it ink (0)
THRESHOLD = 0.5


@numba.njit(cache=True, nogil=True)
def _diffuse(  # noqa: PLR0917 (compiled: numba passes arrays positionally)
    images: np.ndarray,
    tap_rows: np.ndarray,
    tap_columns: np.ndarray,
    tap_weights: np.ndarray,
    serpentine: bool,
    out: np.ndarray,
) -> None:
    """Error-diffuse `images` (N, H, W) float32 into `out` (N, H, W) uint8 (1 white, 0 ink)."""
    count, height, width = images.shape
    taps = tap_weights.shape[0]
    depth = int(tap_rows.max()) + 1
    margin = int(np.abs(tap_columns).max())
    # errors pushed past the left/right edge land in the margins and are dropped, as if the
    # neighbour did not exist
    ring = np.zeros((depth, width + 2 * margin), dtype=np.float64)
    tap_slots = np.empty(taps, dtype=np.int64)
    tap_steps = np.empty(taps, dtype=np.int64)
    for n in range(count):
        # each pixel starts from its input value and then receives errors in scan order,
        # the same sums in the same order as the textbook algorithm on a full-size array
        for row in range(min(depth, height)):
            ring[row, :] = 0.0
            ring[row, margin : margin + width] = images[n, row]
        for y in range(height):
            slot = y % depth
            reverse = serpentine and (y % 2 == 1)
            for k in range(taps):
                tap_slots[k] = (y + tap_rows[k]) % depth
                tap_steps[k] = -tap_columns[k] if reverse else tap_columns[k]
            for i in range(width):
                x = width - 1 - i if reverse else i
                value = ring[slot, margin + x]
                if value >= THRESHOLD:
                    out[n, y, x] = 1
                    error = value - 1.0
                else:
                    out[n, y, x] = 0
                    error = value
                for k in range(taps):
                    ring[tap_slots[k], margin + x + tap_steps[k]] += error * tap_weights[k]
            # this slot is free now: it receives the row `depth` lines further down
            incoming = y + depth
            if incoming < height:
                ring[slot, :] = 0.0
                ring[slot, margin : margin + width] = images[n, incoming]


def error_diffusion(images: np.ndarray, kernel: DiffusionKernel, *, serpentine: bool) -> np.ndarray:
    """Error-diffuse a stack of gray images.

    Args:
        images: `(N, H, W)` float32 array, C-contiguous, values in [0, 1].
        kernel: the diffusion kernel.
        serpentine: walk odd rows right to left (mirroring the kernel), which breaks up the
            diagonal "worm" artefacts of a plain raster scan.

    Returns:
        `(N, H, W)` uint8 array: 1 for white paper, 0 for ink.
    """
    tap_rows, tap_columns, tap_weights = kernel.as_arrays()
    out = np.empty(images.shape, dtype=np.uint8)
    _diffuse(images, tap_rows, tap_columns, tap_weights, serpentine, out)
    return out
