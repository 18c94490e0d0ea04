"""Run a fully convolutional network over an image too large for one pass, tile by tile.

The image is cut into overlapping tiles whose origins sit on a grid of `alignment` pixels (the
U-Net's `2**depth`), so a pixel sees the same strided-convolution phase in a tile as it would in
the whole image. Each tile's output is weighted by a feather at every side that has a
neighbour: 0 over the outer quarter of the overlap (where the tile's border, padded by the
network, spoils its output), then rising linearly to 1 across the middle half. The weighted
outputs are summed and divided by the summed weights. A pixel farther inside a tile than the
network's receptive field gets exactly the untiled result; in the overlaps, the disagreement of
two tiles fades smoothly from one to the other, so no seam shows on a flat field.

The tile grid is the product of a row plan and a column plan, so the summed weights are the
outer product of two 1-D sums and never need a full-size buffer of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

# A tile function gets the tile and the position of its top-left pixel in the whole image.
TileFunction = Callable[[torch.Tensor, int, int], torch.Tensor]
# Called after each tile with (tiles done, tiles in all).
ProgressCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class TilePlan:
    """How one image side is cut: `spans` are (start, stop) pairs, in order."""

    length: int
    overlap: int
    spans: tuple[tuple[int, int], ...]

    def weights(self, index: int) -> torch.Tensor:
        """The 1-D feather of span `index`, shape `(stop - start,)`, values in [0, 1].

        Where the span has a neighbour, the weight is 0 over the first quarter of the overlap
        and rises linearly to 1 over the next half; two neighbours overlapping by exactly
        `overlap` thus have weights summing to 1, and every position has a positive sum.
        """
        start, stop = self.spans[index]
        margin = self.overlap / 4
        ramp = self.overlap - 2 * margin
        position = torch.arange(stop - start, dtype=torch.float64) + 0.5
        weight = torch.ones(stop - start, dtype=torch.float64)
        if start > 0:
            weight = torch.minimum(weight, ((position - margin) / ramp).clamp(min=0.0))
        if stop < self.length:
            distance = stop - start - position
            weight = torch.minimum(weight, ((distance - margin) / ramp).clamp(min=0.0))
        return weight

    def weight_sum(self) -> torch.Tensor:
        """The summed weights of all spans at every position of the side, shape `(length,)`."""
        total = torch.zeros(self.length, dtype=torch.float64)
        for index, (start, stop) in enumerate(self.spans):
            total[start:stop] += self.weights(index)
        return total


def plan_side(length: int, tile: int, overlap: int, alignment: int) -> TilePlan:
    """Cut a side of `length` pixels into tiles of at most `tile`, overlapping by >= `overlap`.

    Tile starts are multiples of `alignment` (tile and overlap are rounded to multiples of it:
    the tile down, the overlap up); the last tile ends at the image edge and may be shorter, but
    is always longer than the overlap.

    Raises:
        ValueError: the tile is less than twice the overlap after rounding (a side that fits in
            one tile is never cut, whatever the overlap).
    """
    tile = max(alignment, tile - tile % alignment)
    overlap = max(alignment, -(-overlap // alignment) * alignment)
    if length <= tile:
        return TilePlan(length, overlap, ((0, length),))
    if tile < 2 * overlap:
        raise ValueError(
            f"tile size {tile} must be at least twice the overlap {overlap} "
            f"(both rounded to multiples of {alignment})"
        )
    step = tile - overlap
    spans = []
    start = 0
    while True:
        stop = min(start + tile, length)
        spans.append((start, stop))
        if stop == length:
            break
        start += step
    return TilePlan(length, overlap, tuple(spans))


def run_tiled(
    function: TileFunction,
    image: torch.Tensor,
    *,
    tile: int,
    overlap: int,
    alignment: int,
    progress: ProgressCallback | None = None,
) -> torch.Tensor:
    """Apply `function` to `image` tile by tile and blend the results with feathered weights.

    Args:
        function: maps a `(B, C, h, w)` tile (and its top, left position) to `(B, C_out, h, w)`.
        image: `(B, C, H, W)` input.
        tile: the largest tile side, in pixels.
        overlap: the least overlap of neighbouring tiles, in pixels.
        alignment: tile origins are multiples of this (a U-Net's `2**depth`).
        progress: called after each tile with (tiles done, tiles in all).

    Returns:
        `(B, C_out, H, W)`; dtype and device follow the function's output. An image that fits
        in one tile is passed to `function` whole, with nothing blended.
    """
    height, width = image.shape[-2:]
    rows = plan_side(height, tile, overlap, alignment)
    columns = plan_side(width, tile, overlap, alignment)
    total = len(rows.spans) * len(columns.spans)
    if total == 1:
        output = function(image, 0, 0)
        if progress is not None:
            progress(1, 1)
        return output

    blended: torch.Tensor | None = None
    done = 0
    for row_index, (top, bottom) in enumerate(rows.spans):
        row_weight = rows.weights(row_index)
        for column_index, (left, right) in enumerate(columns.spans):
            result = function(image[..., top:bottom, left:right], top, left)
            if blended is None:
                blended = result.new_zeros((*result.shape[:2], height, width))
            feather = torch.outer(row_weight, columns.weights(column_index))
            blended[..., top:bottom, left:right] += result * feather.to(result)
            done += 1
            if progress is not None:
                progress(done, total)
    assert blended is not None  # a plan always has at least one tile
    blended.div_(rows.weight_sum().to(blended)[:, None])
    return blended.div_(columns.weight_sum().to(blended))
