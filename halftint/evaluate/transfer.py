"""Cross-reference evaluation: which photo serves as whose reference, and the color-transfer
baselines the networks are compared with.

In reconstruction mode the reference is the photo itself, so copying the reference's color
statistics scores well and says little about what a user gets with a reference of their own.
The cross-reference protocol colorizes each photo with another one as the reference: the
nearest by a cheap global descriptor (`descriptor`: the gray histogram and a small gray
thumbnail), so the pairs are plausible (a beach for a beach), deterministic and printable.

Baselines, on the true gray image (no descreening error, as the no-color baseline):
- `mean_color_transfer`: the gray image tinted with the reference's mean color;
- `color_table_transfer`: each pixel takes the mean color of the reference's pixels of the
  same luma (a luma -> color table, `TABLE_BINS` bins, empty bins interpolated).
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from halftint.color import recombine_luminance, rgb_to_ycbcr, ycbcr_to_rgb
from halftint.evaluate.measures import luma

HISTOGRAM_BINS = 16
THUMBNAIL_SIDE = 8
TABLE_BINS = 32


def descriptor(photo: np.ndarray) -> np.ndarray:
    """A photo's global gray descriptor: its normalised 16-bin luma histogram, then its 8×8
    luma thumbnail (values in [0, 1]); compared by L1 distance."""
    gray = luma(photo)
    histogram = np.histogram(gray, bins=HISTOGRAM_BINS, range=(0.0, 1.0))[0].astype(np.float64)
    histogram /= max(histogram.sum(), 1.0)
    thumbnail = cv2.resize(gray, (THUMBNAIL_SIDE, THUMBNAIL_SIDE), interpolation=cv2.INTER_AREA)
    return np.concatenate([histogram, thumbnail.ravel().astype(np.float64) / THUMBNAIL_SIDE])


def reference_pairs(photos: Sequence[np.ndarray]) -> list[int]:
    """For each photo, the index of its reference: the nearest other photo by `descriptor`
    (L1; ties go to the lower index). Needs at least two photos."""
    if len(photos) < 2:
        raise ValueError(f"reference pairs need at least 2 photos, got {len(photos)}")
    features = np.stack([descriptor(photo) for photo in photos])
    distances = np.abs(features[:, None, :] - features[None, :, :]).sum(axis=2)
    np.fill_diagonal(distances, np.inf)
    return [int(index) for index in np.argmin(distances, axis=1)]


def mean_color_transfer(gray: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`(H, W)` gray tinted with the mean Cb/Cr of an `(h, w, 3)` reference -> `(H, W, 3)`."""
    chroma = _ycbcr(reference)[1:].reshape(2, -1).mean(axis=1)
    return _with_chroma(gray, np.broadcast_to(chroma[:, None, None], (2, *gray.shape)))


def color_table_transfer(gray: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`(H, W)` gray colored by the reference's luma -> mean Cb/Cr table -> `(H, W, 3)`.

    The table has `TABLE_BINS` luma bins; a bin the reference has no pixels in takes the
    colors interpolated between its filled neighbours; between bin centres the colors are
    interpolated linearly, so smooth gray gives smooth color.
    """
    ycbcr = _ycbcr(reference).reshape(3, -1)
    bins = np.minimum((ycbcr[0] * TABLE_BINS).astype(np.int64), TABLE_BINS - 1)
    counts = np.bincount(bins, minlength=TABLE_BINS)
    centres = (np.arange(TABLE_BINS) + 0.5) / TABLE_BINS
    filled = counts > 0
    chroma = []
    for channel in (1, 2):
        sums = np.bincount(bins, weights=ycbcr[channel], minlength=TABLE_BINS)
        means = sums[filled] / counts[filled]
        chroma.append(np.interp(gray, centres[filled], means))
    return _with_chroma(gray, np.stack(chroma))


def _ycbcr(rgb: np.ndarray) -> np.ndarray:
    """`(H, W, 3)` RGB -> `(3, H, W)` full-range YCbCr, float64."""
    tensor = torch.from_numpy(np.ascontiguousarray(rgb, dtype=np.float32)).permute(2, 0, 1)
    return rgb_to_ycbcr(tensor[None])[0].double().numpy()


def _with_chroma(gray: np.ndarray, chroma: np.ndarray) -> np.ndarray:
    """RGB of luma `gray` `(H, W)` and Cb/Cr `chroma` `(2, H, W)`, fitted into the RGB cube."""
    luma_tensor = torch.from_numpy(np.ascontiguousarray(gray, dtype=np.float32))[None, None]
    chroma_tensor = torch.from_numpy(np.ascontiguousarray(chroma, dtype=np.float32))[None]
    rgb = ycbcr_to_rgb(torch.cat([luma_tensor, chroma_tensor], dim=1))
    fitted = recombine_luminance(rgb, luma_tensor)[0].permute(1, 2, 0)
    result: np.ndarray = fitted.numpy().astype(np.float32)
    return result
