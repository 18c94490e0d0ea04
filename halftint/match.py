"""How `colorize --ref` matches its result to the reference's colors, and how `colorize --random`
gives its samples a color spread: the modes and the defaults.

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

# random colorings: each sample takes the chroma spread of one training photo (the bundle's
# `photo_spreads`), or keeps the networks' colors as they are
RANDOM_SPREADS = ("photos", "none")
# chosen on training photos (never val/; weights.md, "Random colorings"): with lite-photos-v4's
# networks on 20 of them, "photos" gave samples 0.67x the truth's chroma spread where "none"
# gave 0.45x (the goal is 0.85x), diversity 8.7 against 5.9 ΔE2000, for 0.3 more ΔE2000 in
# the best of 5 (12.60 against 12.30)
DEFAULT_RANDOM_SPREAD = "photos"
