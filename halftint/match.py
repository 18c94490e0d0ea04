"""How `colorize --ref` matches its result to the reference's colors: the modes and the default.

Torch-free, so the command line can check `--match-ref` before anything heavy is imported; the
matching itself is `halftint.color.match_chroma`.
"""

from __future__ import annotations

# not at all, the reference's mean color, or its mean color and its spread (the standard
# deviations of Cb and of Cr)
MATCH_MODES = ("none", "mean", "spread")
# chosen on the cross-reference protocol of `halftint eval` (weights.md): on photos held out
# of training, "spread" gave outputs with 0.84-0.97x the truth's chroma spread where "mean"
# gave 0.46-0.63x (the goal is 0.8x), the same fidelity (100 %), for 0.6-1.3 more ΔE2000, with
# every bundle measured (lite-photos-v3 and three pilots)
DEFAULT_MATCH = "spread"
