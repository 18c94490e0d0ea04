"""Color conversions on tensors: pure functions, shapes `(B, C, H, W)`, values in `[0, 1]`.

Gray is ITU-R BT.601 luma (Y = 0.299 R + 0.587 G + 0.114 B), the definition the paper's data
uses; YCbCr is the full-range (JPEG) variant built on the same luma, so that replacing Y and
converting back keeps the chroma of one image and the luminance of another.
"""

from __future__ import annotations

import torch

LUMA_WEIGHTS = (0.299, 0.587, 0.114)


def rgb_to_gray(rgb: torch.Tensor) -> torch.Tensor:
    """`(B, 3, H, W)` RGB -> `(B, 1, H, W)` BT.601 luma; dtype and device follow the input."""
    _check_rgb(rgb)
    r, g, b = rgb.unbind(dim=1)
    return (LUMA_WEIGHTS[0] * r + LUMA_WEIGHTS[1] * g + LUMA_WEIGHTS[2] * b).unsqueeze(1)


def rgb_to_ycbcr(rgb: torch.Tensor) -> torch.Tensor:
    """`(B, 3, H, W)` RGB in [0, 1] -> full-range YCbCr, Y in [0, 1], Cb/Cr centred on 0.5."""
    _check_rgb(rgb)
    r, g, b = rgb.unbind(dim=1)
    y = LUMA_WEIGHTS[0] * r + LUMA_WEIGHTS[1] * g + LUMA_WEIGHTS[2] * b
    cb = 0.5 + (b - y) / 1.772
    cr = 0.5 + (r - y) / 1.402
    return torch.stack((y, cb, cr), dim=1)


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """Inverse of `rgb_to_ycbcr`; the result is not clamped (callers clamp once, at the end)."""
    _check_rgb(ycbcr)
    y, cb, cr = ycbcr.unbind(dim=1)
    r = y + 1.402 * (cr - 0.5)
    b = y + 1.772 * (cb - 0.5)
    g = (y - LUMA_WEIGHTS[0] * r - LUMA_WEIGHTS[2] * b) / LUMA_WEIGHTS[1]
    return torch.stack((r, g, b), dim=1)


def _check_rgb(x: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a (B, 3, H, W) tensor, got shape {tuple(x.shape)}")
