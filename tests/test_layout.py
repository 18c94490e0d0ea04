"""The one tile layout behind the contact sheets and grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from halftint.layout import tile_rows
from halftint.train.sheets import GAP, HEADER
from halftint.train.sheets import contact_sheet as training_sheet


def test_tiles_go_row_by_row_with_white_gaps_and_gray_becomes_rgb() -> None:
    gray = np.full((3, 4), 0.25)
    rgb = np.zeros((3, 4, 3))
    rgb[..., 1] = 2.0  # out of range: clipped
    sheet = tile_rows([[gray, rgb], [rgb]], gap=2, top=5)
    assert sheet.shape == (5 + 2 * 5 - 2, 2 * 6 - 2, 3) and sheet.dtype == np.float32
    assert np.all(sheet[:5] == 1.0)  # the room above
    assert np.all(sheet[5:8, :4] == 0.25)
    assert np.array_equal(sheet[5:8, 6:10], np.clip(rgb, 0, 1))
    assert np.all(sheet[5:8, 4:6] == 1.0)  # the gap between tiles
    assert np.all(sheet[8:10] == 1.0)  # the gap between rows
    assert np.array_equal(sheet[10:13, :4], np.clip(rgb, 0, 1))
    assert np.all(sheet[10:13, 4:] == 1.0)  # a short row is padded with white


def test_mixed_sizes_and_empty_sheets_are_refused() -> None:
    with pytest.raises(ValueError, match=r"must all be 3x4 \(gray or RGB\), got shape \(3, 5\)"):
        tile_rows([[np.zeros((3, 4)), np.zeros((3, 5))]], gap=1)
    with pytest.raises(ValueError, match="at least one tile"):
        tile_rows([[]], gap=1)
    with pytest.raises(ValueError, match="gap and top must be at least 0"):
        tile_rows([[np.zeros((3, 4))]], gap=-1)


def test_training_sheets_title_their_columns_above_the_tiles() -> None:
    generator = torch.Generator().manual_seed(0)
    gray = torch.rand(4, 1, 20, 25, generator=generator)
    color = torch.rand(4, 3, 20, 25, generator=generator)
    sheet = training_sheet({"halftone": gray, "output": color}, rows=3)
    assert sheet.dtype == np.uint8
    assert sheet.shape == (HEADER + 3 * (20 + GAP) - GAP, 2 * (25 + GAP) - GAP, 3)
    top = HEADER + (20 + GAP)  # the second sample's row
    expected = (gray[1, 0].numpy() * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(sheet[top : top + 20, :25, 0], expected)
    expected = (color[1].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(sheet[top : top + 20, 27:52], expected)
    assert sheet[:HEADER].min() < 128  # the titles are drawn in the header
    assert np.all(sheet[HEADER : HEADER + 20, 25:27] == 255)
