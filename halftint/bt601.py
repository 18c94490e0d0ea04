"""ITU-R BT.601 luma and the full-range (JPEG) YCbCr built on it: plain numbers, no imports.

The one definition every gray image and every YCbCr conversion in halftint derives from (the
gray of the paper's data): `halftint.color` on tensors, `halftint.io` when it reads an image as
gray, `halftint.data` for training samples and their color shifts, `halftint.evaluate`.
Import-free, so the lowest layers (which may not import one another) can all use it.
"""

from __future__ import annotations

# Y = 0.299 R + 0.587 G + 0.114 B
LUMA_WEIGHTS = (0.299, 0.587, 0.114)
# Cb = (B - Y) / CB_SCALE and Cr = (R - Y) / CR_SCALE, each in [-0.5, 0.5]: the scales are
# 2 (1 - weight of B) and 2 (1 - weight of R)
CB_SCALE = 1.772
CR_SCALE = 1.402
