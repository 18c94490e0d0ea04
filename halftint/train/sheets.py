"""Contact sheets: a stage's validation outputs laid out as one image, one row per sample.

A header row names the columns (drawn with OpenCV's built-in vector font, so no font file and
no PIL is needed here); cells are separated by white gaps.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from halftint.layout import tile_rows

GAP = 2
HEADER = 14
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def contact_sheet(columns: dict[str, torch.Tensor], rows: int | None = None) -> np.ndarray:
    """Lay out `(B, C, H, W)` tensors (C = 1 or 3, values in [0, 1]) as a titled grid.

    Args:
        columns: title -> images; all of the same B, H and W.
        rows: show only the first `rows` samples (all when None).

    Returns:
        `(height, width, 3)` uint8 array, ready for `halftint.io.write_image`.
    """
    if not columns:
        raise ValueError("contact_sheet needs at least one column")
    shapes = {(tensor.shape[0], *tensor.shape[-2:]) for tensor in columns.values()}
    if len(shapes) != 1:
        raise ValueError(f"all columns must share batch size and image size, got {sorted(shapes)}")
    count, _, width = shapes.pop()
    count = count if rows is None else min(rows, count)
    cells = [
        images[:count].detach().float().clamp(0, 1).expand(-1, 3, -1, -1).permute(0, 2, 3, 1)
        for images in columns.values()
    ]
    grid = [[cell[row].cpu().numpy() for cell in cells] for row in range(count)]
    sheet = (tile_rows(grid, GAP, top=HEADER) * 255 + 0.5).astype(np.uint8)
    for index, title in enumerate(columns):
        _title(sheet, title, index * (width + GAP), width)
    return sheet


def _title(sheet: np.ndarray, text: str, left: int, width: int) -> None:
    # shrink the text until it fits its column
    scale = 0.35
    while scale > 0.15 and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > width:
        scale -= 0.05
    cv2.putText(sheet, text, (left + 1, HEADER - 4), _FONT, scale, (0, 0, 0), 1, cv2.LINE_AA)
