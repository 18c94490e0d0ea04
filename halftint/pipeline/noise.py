"""IHN's noise map, keyed by pixel position so that tiles of one image agree where they overlap.

IHN's content branch takes an 8-channel noise map beside the halftone. Drawn per call, the
noise of a tile would depend on where the tile starts, so two overlapping tiles would see
different noise at the same pixel and a tiled result could never equal the untiled one. Here the
image plane is divided into fixed cells of `CELL` pixels, each filled from its own generator
seeded by (seed, cell row, cell column): the noise at a pixel is a function of its position
only, whatever the tiling, the batch or the device.
"""

from __future__ import annotations

import torch

from halftint.nets.ihn import EVAL_NOISE_SEED, InverseHalftoneNet

CELL = 256
# one pixel of margin per side, so the blur inside make_noise sees real noise at cell borders
_MARGIN = 1


def _cell_seed(seed: int, row: int, column: int) -> int:
    # distinct for every (row, column) of any image below 2**20 cells a side
    return (seed << 40) ^ (row << 20) ^ column


def positional_noise(
    ihn: InverseHalftoneNet,
    top: int,
    left: int,
    height: int,
    width: int,
    *,
    seed: int = EVAL_NOISE_SEED,
) -> torch.Tensor:
    """The noise map of the image region at (top, left) of size height x width.

    Args:
        ihn: the network whose `make_noise` defines the noise's distribution.
        top, left: the region's first pixel in the whole image.
        height, width: the region's size.
        seed: selects one of many noise fields; 0 is IHN's own eval-mode seed.

    Returns:
        `(1, ihn.config.noise_channels, height, width)` float32 on the CPU (an expanded view:
        all channels are equal, as in `make_noise`).
    """
    first_row, last_row = top // CELL, (top + height - 1) // CELL
    first_column, last_column = left // CELL, (left + width - 1) // CELL
    region = torch.empty((last_row - first_row + 1) * CELL, (last_column - first_column + 1) * CELL)
    for row in range(first_row, last_row + 1):
        for column in range(first_column, last_column + 1):
            generator = torch.Generator().manual_seed(_cell_seed(seed, row, column))
            side = CELL + 2 * _MARGIN
            cell = ihn.make_noise(1, side, side, generator=generator)[0, 0]
            y, x = (row - first_row) * CELL, (column - first_column) * CELL
            region[y : y + CELL, x : x + CELL] = cell[_MARGIN:-_MARGIN, _MARGIN:-_MARGIN]
    y0, x0 = top - first_row * CELL, left - first_column * CELL
    crop = region[y0 : y0 + height, x0 : x0 + width]
    return crop.view(1, 1, height, width).expand(1, ihn.config.noise_channels, -1, -1)
