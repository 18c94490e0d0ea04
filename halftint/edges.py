"""Canny edge maps for the colorization network G (README.md, "How it works", step 3).

G takes, besides the gray image and the color code, a binary edge map of that same image. The
edges come from OpenCV's Canny detector with the thresholds the paper's code uses (80 and 250 on
the 8-bit image). Canny is not differentiable and runs on the CPU: edge maps are inputs, never
trained through, so nothing is lost by leaving torch for a moment.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

CANNY_LOW_THRESHOLD = 80
CANNY_HIGH_THRESHOLD = 250


def canny_edges(gray: torch.Tensor) -> torch.Tensor:
    """Binary Canny edge map of each image in a batch.

    Args:
        gray: `(B, 1, H, W)` float tensor, nominally in [0, 1]; values outside are clamped
            before the 8-bit conversion (round to nearest).

    Returns:
        `(B, 1, H, W)` tensor with values exactly 0.0 (no edge) or 1.0 (edge); dtype and device
        follow the input.

    Raises:
        ValueError: `gray` is not a 4-D tensor with one channel.
    """
    if gray.dim() != 4 or gray.shape[1] != 1:
        raise ValueError(
            f"canny_edges expects a (B, 1, H, W) tensor, got shape {tuple(gray.shape)}"
        )
    eight_bit = (
        (gray.detach().float().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).cpu().numpy()
    )
    edge_maps = np.empty(eight_bit.shape, dtype=np.float32)
    for index in range(eight_bit.shape[0]):
        # cv2.Canny wants a contiguous 2-D uint8 array and marks edges with 255
        image = np.ascontiguousarray(eight_bit[index, 0])
        edge_maps[index, 0] = cv2.Canny(image, CANNY_LOW_THRESHOLD, CANNY_HIGH_THRESHOLD) > 0
    return torch.from_numpy(edge_maps).to(device=gray.device, dtype=gray.dtype)
