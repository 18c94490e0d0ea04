"""Lay results out as one image: a contact sheet per input, or the latent interpolation grid.

Cells are shrunk (never enlarged, aspect kept) so their long side is at most `CELL_LONG_SIDE`:
a sheet of seven 6000-pixel scans side by side would be too large to view or even to write.
Cells are separated by a white gap.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from halftint.layout import tile_rows

CELL_LONG_SIDE = 1024
GAP = 8


def contact_sheet(halftone: torch.Tensor, gray: torch.Tensor, colors: torch.Tensor) -> torch.Tensor:
    """One row: the halftone, its descreened gray, then each colorization.

    Args:
        halftone: `(1, 1, H, W)` in [0, 1].
        gray: `(1, 1, H, W)` in [0, 1].
        colors: `(n, 3, H, W)` RGB in [0, 1].

    Returns:
        `(3, H', W')` RGB in [0, 1] on the device of `colors`.
    """
    size = tuple(colors.shape[-2:])
    for name, image in (("halftone", halftone), ("gray", gray)):
        if tuple(image.shape) != (1, 1, *size):
            raise ValueError(
                f"{name} must be (1, 1, {size[0]}, {size[1]}), got {tuple(image.shape)}"
            )
    cells = torch.cat(
        [halftone.to(colors).expand(-1, 3, -1, -1), gray.to(colors).expand(-1, 3, -1, -1), colors]
    )
    return grid(cells, columns=cells.shape[0])


def grid(cells: torch.Tensor, columns: int) -> torch.Tensor:
    """`(N, 3, H, W)` images -> `(3, H', W')`, filled row by row, `columns` per row."""
    if cells.dim() != 4 or cells.shape[1] != 3 or cells.shape[0] == 0:
        raise ValueError(
            f"cells must be a (N, 3, H, W) tensor with N >= 1, got {tuple(cells.shape)}"
        )
    if columns < 1:
        raise ValueError(f"columns must be at least 1, got {columns}")
    tiles = list(fit_to_cell(cells.float()).permute(0, 2, 3, 1).cpu().numpy())
    rows = [tiles[start : start + columns] for start in range(0, len(tiles), columns)]
    return torch.from_numpy(tile_rows(rows, GAP)).permute(2, 0, 1).to(cells.device)


def fit_to_cell(images: torch.Tensor) -> torch.Tensor:
    """Shrink `(N, C, H, W)` images (never enlarge) so their long side fits a sheet's cell.

    Callers that know an image will only be shown in a sheet shrink it first and compute the
    rest at that size: a 16 x 16 interpolation grid of a large scan never exists at full size.
    """
    height, width = images.shape[-2:]
    scale = CELL_LONG_SIDE / max(height, width)
    if scale >= 1.0:
        return images
    size = (max(1, round(height * scale)), max(1, round(width * scale)))
    shrunk = F.interpolate(images, size=size, mode="bilinear", antialias=True, align_corners=False)
    return shrunk.clamp_(0.0, 1.0)
