"""Honest quality measurement (SPEC §6): the measures and the evaluation behind `halftint eval`.

Library code only: arrays and tensors in, numbers out. `measures` holds the pure metrics,
`methods` the halftoning settings and their `--methods` syntax, `loop` the evaluation itself.
"""

from halftint.evaluate.loop import (
    ColorizationScores,
    DescreenScores,
    Evaluation,
    SupportsColorize,
    Target,
    contact_sheet,
    evaluate,
)
from halftint.evaluate.measures import (
    PSNR_CAP,
    center_crop,
    chroma_histogram,
    colorfulness,
    delta_e,
    gaussian_descreen,
    histogram_distance,
    luma,
    psnr,
    ssim,
)
from halftint.evaluate.methods import DEFAULT_METHODS, HalftoneMethod, parse_methods

__all__ = [
    "DEFAULT_METHODS",
    "PSNR_CAP",
    "ColorizationScores",
    "DescreenScores",
    "Evaluation",
    "HalftoneMethod",
    "SupportsColorize",
    "Target",
    "center_crop",
    "chroma_histogram",
    "colorfulness",
    "contact_sheet",
    "delta_e",
    "evaluate",
    "gaussian_descreen",
    "histogram_distance",
    "luma",
    "parse_methods",
    "psnr",
    "ssim",
]
