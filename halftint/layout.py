"""Tiles laid out in rows on white: the one layout behind every contact sheet and grid.

The command line's sheets and interpolation grids (`halftint.pipeline.sheets`), training's
titled validation sheets (`halftint.train.sheets`) and the evaluation's sheets
(`halftint.evaluate.loop.contact_sheet`) all place their cells here. NumPy only, so any layer
can use it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def tile_rows(rows: Sequence[Sequence[np.ndarray]], gap: int, *, top: int = 0) -> np.ndarray:
    """Lay out equally sized tiles row by row on white, `gap` pixels apart.

    Args:
        rows: rows of `(H, W)` gray or `(H, W, 3)` RGB tiles in [0, 1], all of one H and W;
            rows may differ in length (the sheet is as wide as the longest).
        gap: white pixels between neighbouring tiles and rows.
        top: white rows left above the first row (room for a header).

    Returns:
        `(top + rows * (H + gap) - gap, columns * (W + gap) - gap, 3)` float32 in [0, 1].
    """
    if not rows or not any(len(row) for row in rows):
        raise ValueError("a sheet needs at least one tile")
    if gap < 0 or top < 0:
        raise ValueError(f"gap and top must be at least 0, got {gap} and {top}")
    first = next(tile for row in rows for tile in row)
    height, width = first.shape[:2]
    columns = max(len(row) for row in rows)
    sheet = np.ones(
        (top + len(rows) * (height + gap) - gap, columns * (width + gap) - gap, 3), np.float32
    )
    for row_index, row in enumerate(rows):
        for column_index, tile in enumerate(row):
            if tile.shape[:2] != (height, width) or tile.ndim not in (2, 3):
                raise ValueError(
                    f"sheet tiles must all be {height}x{width} (gray or RGB), got shape "
                    f"{tile.shape}"
                )
            rgb = tile if tile.ndim == 3 else tile[..., None]
            y, x = top + row_index * (height + gap), column_index * (width + gap)
            sheet[y : y + height, x : x + width] = np.clip(rgb, 0.0, 1.0)
    return sheet
