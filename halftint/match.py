"""How `colorize --ref` matches its result to the reference's colors: the modes and the default.

Torch-free, so the command line can check `--match-ref` before anything heavy is imported; the
matching itself is `halftint.color.match_chroma`.
"""

from __future__ import annotations

# not at all, the reference's mean color, or its mean color and its spread (the standard
# deviations of Cb and of Cr)
MATCH_MODES = ("none", "mean", "spread")
# chosen on the cross-reference protocol of `halftint eval` (weights.md)
DEFAULT_MATCH = "mean"
