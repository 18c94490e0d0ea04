"""Quality measures: pure functions on numpy images, numbers out.

Images are float arrays in [0, 1], gray `(H, W)` or RGB `(H, W, 3)` (sRGB).
- PSNR with a data range of 1, capped at `PSNR_CAP` so that identical images give a finite
  number (JSON has no Infinity): `halftint.losses.psnr`, the one training reports too;
- SSIM as Wang et al. (2004) define it: Gaussian window of σ 1.5, population covariances;
- mean CIEDE2000 color difference, pixel by pixel, in CIE Lab (D65);
- colorfulness of Hasler and Süsstrunk (2003) on the 0–255 scale (0 for any gray image), and
  its spatial part alone, the chroma spread (a global color cast adds nothing to it);
- chroma histograms: one histogram each of Lab a and b, in bins of `CHROMA_BIN_WIDTH`, compared
  by the earth mover's distance of each channel, summed: how far, in Lab units, the a and b
  values of one image must move on average to match the other's. Unlike bin-by-bin distances
  (L1, chi-square), it tells wrong colors from missing ones: a gray image is as far from a
  reference as the reference's mean chroma, an image of the opposite hue twice as far;
- the classical descreening baseline, a Gaussian low-pass filter.
"""

from __future__ import annotations

import cv2
import numpy as np
from skimage.color import deltaE_ciede2000, rgb2lab
from skimage.metrics import structural_similarity

from halftint.bt601 import CB_SCALE, CR_SCALE, LUMA_WEIGHTS

SSIM_GAUSSIAN_SIGMA = 1.5
CHROMA_BIN_WIDTH = 2.0
# 129 bins of 2 cover [-129, 129], beyond the a and b of any sRGB color; 0 is a bin's centre
CHROMA_BINS = 129
# the Gaussian baseline's σ is searched on this grid, in pixels: 0.3 to 8.0 by 0.1
GAUSSIAN_SIGMAS = tuple(round(0.3 + 0.1 * step, 1) for step in range(78))


def ssim(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Structural similarity of gray `(H, W)` or RGB `(H, W, 3)` images in [0, 1]; 1 if equal.

    Both sides must be at least 7 pixels (the Gaussian window's extent).
    """
    _check_same_shape(estimate, truth)
    return float(
        structural_similarity(
            estimate.astype(np.float64),
            truth.astype(np.float64),
            data_range=1.0,
            gaussian_weights=True,
            sigma=SSIM_GAUSSIAN_SIGMA,
            use_sample_covariance=False,
            channel_axis=2 if estimate.ndim == 3 else None,
        )
    )


def delta_e(estimate: np.ndarray, truth: np.ndarray) -> float:
    """Mean CIEDE2000 difference between two `(H, W, 3)` sRGB images in [0, 1]; 0 if equal."""
    _check_same_shape(estimate, truth)
    _check_rgb(estimate)
    return float(np.mean(deltaE_ciede2000(_lab(estimate), _lab(truth))))


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler–Süsstrunk colorfulness of an `(H, W, 3)` image in [0, 1], on the 0–255 scale.

    M = sqrt(σ_rg² + σ_yb²) + 0.3·sqrt(μ_rg² + μ_yb²) with rg = R − G and yb = (R + G)/2 − B;
    0 for a gray image, about 30 for a "moderately colorful" photo, above 100 for saturated art.
    """
    red_green, yellow_blue = _opponent(rgb)
    spread = np.hypot(red_green.std(), yellow_blue.std())
    offset = np.hypot(red_green.mean(), yellow_blue.mean())
    return float(spread + 0.3 * offset)


def chroma_spread(rgb: np.ndarray) -> float:
    """The spatial part of `colorfulness`, sqrt(σ_rg² + σ_yb²), on the 0–255 scale.

    Colors in places, not a cast: an image tinted uniformly has the spread of its gray.
    """
    red_green, yellow_blue = _opponent(rgb)
    return float(np.hypot(red_green.std(), yellow_blue.std()))


BORDER_STRIP_SHARE = 0.03


def border_band(rgb: np.ndarray, share: float = BORDER_STRIP_SHARE) -> float:
    """How far the edges' colors stand out: 8-bit Cb/Cr units, 0 when they match the interior.

    The four border strips (each `share` of the shorter side wide, at least 2 px) and the
    interior (the image less three strip widths on every side) are compared by their mean Cb
    and mean Cr (BT.601, 0-255 scale); the result is the largest difference over strips and
    channels. A colored band along an edge of an otherwise even result shows here.
    """
    _check_rgb(rgb)
    height, width = rgb.shape[:2]
    strip = max(2, round(share * min(height, width)))
    if min(height, width) < 8 * strip:
        raise ValueError(f"image {width}x{height} is too small for border strips of {strip} px")
    scaled = rgb.astype(np.float64) * 255.0
    y = scaled @ np.array(LUMA_WEIGHTS)
    chroma = np.stack([(scaled[..., 2] - y) / CB_SCALE, (scaled[..., 0] - y) / CR_SCALE], axis=-1)
    interior = chroma[3 * strip : -3 * strip, 3 * strip : -3 * strip].mean(axis=(0, 1))
    strips = (chroma[:strip], chroma[-strip:], chroma[:, :strip], chroma[:, -strip:])
    return float(max(np.abs(part.mean(axis=(0, 1)) - interior).max() for part in strips))


def _opponent(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hasler–Süsstrunk opponent channels rg = R − G and yb = (R + G)/2 − B, 0–255 scale."""
    _check_rgb(rgb)
    scaled = rgb.astype(np.float64) * 255.0
    red, green, blue = scaled[..., 0], scaled[..., 1], scaled[..., 2]
    return red - green, 0.5 * (red + green) - blue


def chroma_histogram(rgb: np.ndarray) -> np.ndarray:
    """`(2, CHROMA_BINS)` normalised histograms of Lab a and b of an `(H, W, 3)` image."""
    _check_rgb(rgb)
    lab = _lab(rgb)
    limit = CHROMA_BIN_WIDTH * CHROMA_BINS / 2.0
    edges = np.linspace(-limit, limit, CHROMA_BINS + 1)
    histograms = np.stack(
        [np.histogram(lab[..., channel].ravel(), bins=edges)[0] for channel in (1, 2)]
    ).astype(np.float64)
    return histograms / histograms.sum(axis=1, keepdims=True)


def histogram_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Earth mover's distance between two `chroma_histogram`s, a and b summed, in Lab units.

    In one dimension it is the area between the two cumulative distributions.
    """
    _check_same_shape(first, second)
    gap = np.cumsum(first - second, axis=-1)
    return float(np.abs(gap).sum() * CHROMA_BIN_WIDTH)


def gaussian_descreen(halftone: np.ndarray, sigma: float) -> np.ndarray:
    """The classical descreening baseline: a Gaussian low-pass of σ pixels (reflected borders)."""
    return cv2.GaussianBlur(
        halftone.astype(np.float32), (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT_101
    )


def center_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """Resize `(H, W, 3)` so that its short side is `size`, then crop the central `size²` square.

    Downscaling averages pixel areas (no aliasing); upscaling is bicubic, clipped to [0, 1].
    """
    _check_rgb(rgb)
    height, width = rgb.shape[:2]
    scale = size / min(height, width)
    new_height = max(size, round(height * scale))
    new_width = max(size, round(width * scale))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
    resized = cv2.resize(
        rgb.astype(np.float32), (new_width, new_height), interpolation=interpolation
    )
    top = (new_height - size) // 2
    left = (new_width - size) // 2
    return np.clip(resized[top : top + size, left : left + size], 0.0, 1.0)


def luma(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma `(H, W)` of an `(H, W, 3)` image, the gray truth of the paper's data."""
    _check_rgb(rgb)
    return (rgb.astype(np.float32) @ np.asarray(LUMA_WEIGHTS, dtype=np.float32)).astype(np.float32)


def _lab(rgb: np.ndarray) -> np.ndarray:
    return rgb2lab(np.clip(rgb.astype(np.float64), 0.0, 1.0))


def _check_same_shape(first: np.ndarray, second: np.ndarray) -> None:
    if first.shape != second.shape:
        raise ValueError(f"images differ in shape: {first.shape} vs {second.shape}")


def _check_rgb(rgb: np.ndarray) -> None:
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB array, got shape {rgb.shape}")
