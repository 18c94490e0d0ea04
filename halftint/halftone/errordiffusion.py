"""Error diffusion: threshold each pixel in scan order and push its error onto unvisited pixels.

The scan is inherently sequential, so the inner loop is compiled with numba (cached on disk, so
the compile cost is paid once per installation, not once per process; small images run the same
loop as plain Python and never load numba, `halftint.halftone.jit`). It keeps only a ring of
`rows below + 1` rows of float64 values, which makes memory independent of the image height
and keeps the working set in cache. The error bound for the next one or two pixels of the same
row stays in registers instead of going through memory: that link is the critical path of the
whole scan.
"""

from __future__ import annotations

import numpy as np

from halftint.halftone.jit import Kernel
from halftint.halftone.kernels import DiffusionKernel

# a value at or above this becomes white paper (1), below it ink (0)
THRESHOLD = 0.5


def _diffuse(  # noqa: PLR0917 (compiled: numba passes arrays positionally)
    images: np.ndarray,
    full_scale: np.float32,
    next_weight: float,
    after_next_weight: float,
    tap_rows: np.ndarray,
    tap_columns: np.ndarray,
    tap_weights: np.ndarray,
    serpentine: bool,
    out: np.ndarray,
) -> None:
    """Error-diffuse `images` (N, H, W) into `out` (N, H, W) uint8 (1 white, 0 ink).

    `images` are float32 in [0, 1] (`full_scale` 1) or uint8 levels (`full_scale` 255); a level
    becomes the float32 quotient level / 255, exactly what reading the file as float gives, so
    both inputs give the same bits. `next_weight` and `after_next_weight` are the kernel's
    weights one and two pixels ahead on the same row; the taps list the rest, all on rows below.
    """
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
        loaded = 0
        for y in range(height):
            # the ring holds rows y .. y + depth - 1: the slot row y - 1 used is free now and
            # takes the row that comes into reach, before any error is pushed onto it
            while loaded < min(y + depth, height):
                incoming = loaded % depth
                ring[incoming, :] = 0.0
                for x in range(width):
                    ring[incoming, margin + x] = np.float32(images[n, loaded, x]) / full_scale
                loaded += 1
            slot = y % depth
            reverse = serpentine and (y % 2 == 1)
            for k in range(taps):
                tap_slots[k] = (y + tap_rows[k]) % depth
                tap_steps[k] = -tap_columns[k] if reverse else tap_columns[k]
            current = ring[slot]
            # same-row errors due at this pixel: from two pixels back, from the previous pixel,
            # and (held one step) the one the previous pixel sent two ahead
            from_two_back = 0.0
            from_previous = 0.0
            held = 0.0
            for i in range(width):
                x = width - 1 - i if reverse else i
                # each pixel gets its input, then the rows above, then this row's errors in scan
                # order: the same sums in the same order as the textbook full-array algorithm
                value = (current[margin + x] + from_two_back) + from_previous
                if value >= THRESHOLD:
                    out[n, y, x] = 1
                    error = value - 1.0
                else:
                    out[n, y, x] = 0
                    error = value
                from_two_back = held
                held = error * after_next_weight
                from_previous = error * next_weight
                for k in range(taps):
                    ring[tap_slots[k], margin + x + tap_steps[k]] += error * tap_weights[k]


_diffuse_kernel = Kernel(_diffuse, cache=True, nogil=True)


def error_diffusion(images: np.ndarray, kernel: DiffusionKernel, *, serpentine: bool) -> np.ndarray:
    """Error-diffuse a stack of gray images.

    Args:
        images: `(N, H, W)` C-contiguous float32 array with values in [0, 1], or uint8 array of
            8-bit levels (read as level / 255 in float32: the same bits as that float input).
        kernel: the diffusion kernel; on its own row it may reach one or two pixels ahead.
        serpentine: walk odd rows right to left (mirroring the kernel), which breaks up the
            diagonal "worm" artefacts of a plain raster scan.

    Returns:
        `(N, H, W)` uint8 array: 1 for white paper, 0 for ink.
    """
    tap_rows, tap_columns, tap_weights = kernel.as_arrays()
    same_row = tap_rows == 0
    ahead = dict(zip(tap_columns[same_row].tolist(), tap_weights[same_row].tolist(), strict=True))
    if not set(ahead) <= {1, 2}:
        raise ValueError(f"kernel {kernel.name} reaches {sorted(ahead)} pixels ahead; at most 2")
    below = ~same_row
    if images.dtype not in (np.float32, np.uint8):
        raise ValueError(f"error diffusion takes float32 or uint8 images, got {images.dtype}")
    out = np.empty(images.shape, dtype=np.uint8)
    full_scale = np.float32(255.0 if images.dtype == np.uint8 else 1.0)
    _diffuse_kernel(
        images.size,
        images,
        full_scale,
        ahead.get(1, 0.0),
        ahead.get(2, 0.0),
        tap_rows[below],
        tap_columns[below],
        tap_weights[below],
        serpentine,
        out,
    )
    return out
