"""Color conversions on tensors: pure functions, shapes `(B, C, H, W)`, values in `[0, 1]`.

Gray is ITU-R BT.601 luma (Y = 0.299 R + 0.587 G + 0.114 B), the definition the paper's data
uses; YCbCr is the full-range (JPEG) variant built on the same luma, so that replacing Y and
converting back keeps the chroma of one image and the luminance of another.
"""

from __future__ import annotations

import torch

from halftint.bt601 import CB_SCALE, CR_SCALE, LUMA_WEIGHTS
from halftint.match import MATCH_MODES


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
    cb = 0.5 + (b - y) / CB_SCALE
    cr = 0.5 + (r - y) / CR_SCALE
    return torch.stack((y, cb, cr), dim=1)


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """Inverse of `rgb_to_ycbcr`; the result is not clamped (callers clamp once, at the end)."""
    _check_rgb(ycbcr)
    y, cb, cr = ycbcr.unbind(dim=1)
    r = y + CR_SCALE * (cr - 0.5)
    b = y + CB_SCALE * (cb - 0.5)
    g = (y - LUMA_WEIGHTS[0] * r - LUMA_WEIGHTS[2] * b) / LUMA_WEIGHTS[1]
    return torch.stack((r, g, b), dim=1)


def recombine_luminance(color: torch.Tensor, luminance: torch.Tensor) -> torch.Tensor:
    """RGB with the chroma of `color` and the luma of `luminance`, inside the RGB cube.

    Used to put the colors computed at working resolution onto the full-resolution gray image
    (README.md, "How it works", step 4). Replacing Y in YCbCr alone can leave the cube (bright
    yellow at high luma, say); clamping each channel afterwards would then change the luma.
    Instead the chroma of such a pixel is scaled down just enough to fit: a chroma offset has zero
    luma, so the pixel's luma stays exactly that of `luminance` (clamped to [0, 1]) while its hue
    is kept.

    Args:
        color: `(B, 3, H, W)` RGB in [0, 1], already at the size of `luminance`.
        luminance: `(B, 1, H, W)` gray (BT.601 luma); values outside [0, 1] are clamped.

    Returns:
        `(B, 3, H, W)` RGB in [0, 1]; dtype and device follow `color`.

    Raises:
        ValueError: the shapes do not fit together; the message names both.
    """
    _check_rgb(color)
    expected = (color.shape[0], 1, color.shape[2], color.shape[3])
    if tuple(luminance.shape) != expected:
        raise ValueError(
            f"luminance must have shape {expected} to match color {tuple(color.shape)}, "
            f"got {tuple(luminance.shape)}"
        )
    luma = luminance.to(color.dtype).clamp(0.0, 1.0)
    # the chroma offset of each channel: RGB minus its own luma (zero luma by construction)
    offset = color - rgb_to_gray(color)
    # largest scale s <= 1 with 0 <= luma + s * offset <= 1 for every channel
    tiny = torch.finfo(color.dtype).tiny
    room_up = (1.0 - luma) / offset.clamp(min=tiny)
    room_down = luma / (-offset).clamp(min=tiny)
    limits = torch.where(offset > 0, room_up, torch.where(offset < 0, room_down, 1.0))
    scale = limits.amin(dim=1, keepdim=True).clamp(max=1.0)
    # the clamp only absorbs float rounding at the cube's faces; the fit is already exact
    return (luma + scale * offset).clamp(0.0, 1.0)


def mean_chroma(rgb: torch.Tensor) -> torch.Tensor:
    """`(B, 3, H, W)` RGB -> `(B, 2)`: each image's mean Cb and Cr, as offsets from neutral.

    A gray image gives (0, 0). This is the "mean color" that `shift_chroma` transfers.
    """
    _check_rgb(rgb)
    ycbcr = rgb_to_ycbcr(rgb.float())
    return ycbcr[:, 1:].mean(dim=(2, 3)) - 0.5


def shift_chroma(rgb: torch.Tensor, chroma: torch.Tensor) -> torch.Tensor:
    """Move each image's mean color to `chroma`, keeping every pixel's luma.

    The same Cb/Cr offset is added to every pixel of an image (a shift of its colors, as in
    Reinhard-style color transfer, without rescaling their spread), so hue and saturation
    differences within the image are kept; pixels pushed out of the RGB cube have their chroma
    scaled back just enough to fit (`recombine_luminance`), so the mean lands near, not always
    exactly on, `chroma`.

    Args:
        rgb: `(B, 3, H, W)` RGB in [0, 1].
        chroma: `(B, 2)` or `(1, 2)` target mean (Cb, Cr) offsets, as `mean_chroma` gives them.

    Returns:
        `(B, 3, H, W)` RGB in [0, 1], dtype and device of `rgb`.
    """
    _check_rgb(rgb)
    if chroma.dim() != 2 or chroma.shape[1] != 2 or chroma.shape[0] not in (1, rgb.shape[0]):
        raise ValueError(
            f"chroma must have shape (1, 2) or ({rgb.shape[0]}, 2), got {tuple(chroma.shape)}"
        )
    delta = chroma.to(device=rgb.device, dtype=torch.float32) - mean_chroma(rgb)
    d_cb, d_cr = delta[:, 0], delta[:, 1]
    # the RGB offset of a pure (Cb, Cr) change: zero luma by construction
    d_r = CR_SCALE * d_cr
    d_b = CB_SCALE * d_cb
    d_g = -(LUMA_WEIGHTS[0] * d_r + LUMA_WEIGHTS[2] * d_b) / LUMA_WEIGHTS[1]
    offset = torch.stack((d_r, d_g, d_b), dim=1).view(-1, 3, 1, 1).to(rgb.dtype)
    return recombine_luminance(rgb + offset, rgb_to_gray(rgb))


# `spread` scales an output's chroma spread by at most this much: the networks' near-gray
# outputs must not have their noise blown up into colors
MAX_SPREAD_GAIN = 2.5
# rounds of correcting the gain and the mean where fitting into the RGB cube moved an image's
# spread or mean color; below this shortfall of spread (a ratio) and drift of the mean (Cb/Cr
# units of [0, 1]) a round is not worth making
SPREAD_FIT_ROUNDS = 4
SPREAD_FIT_TOLERANCE = 1.01
SPREAD_FIT_DRIFT = 1e-3


def chroma_statistics(rgb: torch.Tensor) -> torch.Tensor:
    """`(B, 3, H, W)` RGB -> `(B, 4)`: mean Cb and Cr offsets (as `mean_chroma`), then the
    standard deviations of Cb and Cr; what `match_chroma` matches."""
    _check_rgb(rgb)
    chroma = rgb_to_ycbcr(rgb.float())[:, 1:]
    mean = chroma.mean(dim=(2, 3))
    spread = chroma.std(dim=(2, 3), correction=0)
    return torch.cat([mean - 0.5, spread], dim=1)


def match_chroma(rgb: torch.Tensor, statistics: torch.Tensor, mode: str) -> torch.Tensor:
    """Match each image's colors to `statistics` (`(B, 4)` or `(1, 4)`, as `chroma_statistics`
    gives them), keeping every pixel's luma.

    Modes (`MATCH_MODES`): "none" returns `rgb` unchanged; "mean" moves the mean color
    (`shift_chroma`); "spread" also scales each of Cb and Cr about its mean so that its standard
    deviation is the reference's (Reinhard-style, the gain capped at `MAX_SPREAD_GAIN`). For
    "spread", `statistics` may also be `(B, 2)` or `(1, 2)`: the standard deviations alone,
    each image keeping its own mean color (how random colorings take a photo's spread). Pixels
    pushed out of the RGB cube have their chroma scaled back just enough to fit.
    """
    _check_rgb(rgb)
    if mode not in MATCH_MODES:
        raise ValueError(f"match mode must be one of {', '.join(MATCH_MODES)}, got {mode!r}")
    columns = (2, 4) if mode == "spread" else (4,)
    if (
        statistics.dim() != 2
        or statistics.shape[1] not in columns
        or statistics.shape[0] not in (1, rgb.shape[0])
    ):
        wanted = " or ".join(f"(1, {c}) or ({rgb.shape[0]}, {c})" for c in columns)
        raise ValueError(f"statistics must have shape {wanted}, got {tuple(statistics.shape)}")
    if mode == "none":
        return rgb
    statistics = statistics.to(device=rgb.device, dtype=torch.float32)
    if mode == "mean":
        return shift_chroma(rgb, statistics[:, :2])
    ycbcr = rgb_to_ycbcr(rgb.float())
    chroma = ycbcr[:, 1:]
    own_mean = chroma.mean(dim=(2, 3), keepdim=True)
    own_spread = chroma.std(dim=(2, 3), keepdim=True, correction=0)
    spread_only = statistics.shape[1] == 2
    wanted_mean = own_mean if spread_only else statistics[:, :2, None, None] + 0.5
    wanted_spread = statistics[:, -2:, None, None]
    luma = rgb_to_gray(rgb)
    gain = (wanted_spread / own_spread.clamp(min=1e-6)).clamp(max=MAX_SPREAD_GAIN)
    center = wanted_mean
    for _ in range(SPREAD_FIT_ROUNDS):
        matched = torch.cat([ycbcr[:, :1], (chroma - own_mean) * gain + center], dim=1)
        fitted = recombine_luminance(ycbcr_to_rgb(matched).to(rgb.dtype), luma)
        # fitting into the RGB cube takes chroma from the most colorful pixels, which moves the
        # spread and the mean; the next round asks the rest to make up for it, so that the
        # image has the statistics it was given where the cube and the gain's cap allow
        fitted_chroma = rgb_to_ycbcr(fitted.float())[:, 1:]
        achieved = fitted_chroma.std(dim=(2, 3), keepdim=True, correction=0)
        drift = wanted_mean - fitted_chroma.mean(dim=(2, 3), keepdim=True)
        raised = (gain * wanted_spread / achieved.clamp(min=1e-6)).clamp(max=MAX_SPREAD_GAIN)
        short = raised > gain * SPREAD_FIT_TOLERANCE
        if not bool(short.any()) and float(drift.abs().max()) < SPREAD_FIT_DRIFT:
            break
        gain = torch.maximum(gain, raised)
        center = center + drift
    return fitted


def _check_rgb(x: torch.Tensor) -> None:
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a (B, 3, H, W) tensor, got shape {tuple(x.shape)}")
