"""Scores of an evaluation, the targets a trained model is judged on, and their JSON form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from halftint.evaluate.methods import HalftoneMethod
from halftint.match import DEFAULT_MATCH

DIVERSITY_SAMPLES = 5  # random samples per photo
MIN_PHOTOS = 2  # reference fidelity pairs each photo with another one

# what a trained model is judged on
# dB over the best Gaussian, by method (a scanned print of any method: the scanned goal)
DESCREEN_GAIN_GOALS = {"floyd-steinberg": 3.0, "jarvis": 2.5, "atkinson": 1.5, "clustered": 1.5}
DESCREEN_GAIN_GOAL_SCANNED = 1.5
DELTA_E_RATIO_GOAL = 0.8  # reconstruction ΔE2000 / no-color ΔE2000, at most
# the networks' colors alone, reconstruction mode: better than leaving the image gray
NETWORK_DELTA_E_RATIO_GOAL = 0.95
NETWORK_REFERENCE_FIDELITY_GOAL = 0.75  # share of cross-reference pairs, at least
# a ΔE2000 of about 2 is a just-noticeable color difference: samples must differ clearly
DIVERSITY_GOAL = 5.0
REFERENCE_FIDELITY_GOAL = 0.9  # cross-reference, as `colorize --ref` runs: share of pairs
# chroma spread of the outputs over the truth's (ratio of sums over photos), at least
CROSS_SPREAD_GOAL = 0.8
RANDOM_SPREAD_GOAL = 0.85
BORDER_BAND_GOAL = 2.0  # 8-bit Cb/Cr units between a border strip and the interior, at most
CROSS_DELTA_E_MARGIN = 2.0  # cross-reference ΔE2000 at most the no-color ΔE2000 plus this

# the cross-reference variants: `colorize --ref` as it runs by default, the networks' colors
# alone, each reference match (`--match-ref`), the two color-transfer baselines (`transfer`),
# and no color
TRANSFER_VARIANTS = (
    "model", "networks", "match_mean", "match_spread", "mean_color", "color_table", "no_color"
)  # fmt: skip


@dataclass(frozen=True)
class DescreenScores:
    """Mean descreening scores of one halftoning method (PSNR in dB, capped at 100)."""

    psnr: float
    ssim: float
    gaussian_psnr: float
    gaussian_ssim: float
    gaussian_sigma: float
    # the classical descreeners fitted on other photos (`baselines`), when asked for
    linear_psnr: float | None = None
    lut_psnr: float | None = None


@dataclass(frozen=True)
class ColorizationScores:
    """Mean colorization scores, measured on the `halftone` method's halftones."""

    halftone: str
    psnr: float
    ssim: float
    delta_e: float
    baseline_psnr: float
    baseline_ssim: float
    baseline_delta_e: float
    diversity_delta_e: float
    reference_fidelity: float
    colorfulness: float
    random_colorfulness: float
    truth_colorfulness: float
    # reference mode with the networks' colors alone (`colorize --ref --no-match-ref`)
    network_psnr: float
    network_ssim: float
    network_delta_e: float
    network_reference_fidelity: float
    network_colorfulness: float
    # random mode and the truth: chroma spread (`measures.chroma_spread`), the best sample
    random_chroma_spread: float = 0.0
    best_random_delta_e: float = 0.0
    truth_chroma_spread: float = 0.0
    # random mode with the networks' colors alone (`colorize --random --random-spread none`;
    # the fields above without `network_` are as `colorize --random` runs by default)
    network_diversity_delta_e: float = 0.0
    network_random_colorfulness: float = 0.0
    network_random_chroma_spread: float = 0.0
    network_best_random_delta_e: float = 0.0
    # random colorings of even prints: the largest border band of any (`loop.even_print_bands`)
    random_border_band: float = 0.0
    network_random_border_band: float = 0.0
    # cross-reference protocol by variant (`TRANSFER_VARIANTS`), and photo i's reference index
    cross_reference: dict[str, TransferScores] = field(default_factory=dict)
    reference_pairs: list[int] = field(default_factory=list)
    match: str = DEFAULT_MATCH  # the reference match of "model" (`colorize --ref`'s default)

    def spread_ratio(self, spread: float) -> float | None:
        """A mean chroma spread over the truth's (a ratio of sums); None for gray photos."""
        return spread / self.truth_chroma_spread if self.truth_chroma_spread > 0.0 else None


@dataclass(frozen=True)
class TransferScores:
    """Mean cross-reference scores of one variant: ΔE2000 to the truth, the earth mover's
    distance of its chroma histograms to the reference's (Lab units), the share of photos
    nearer the reference than no color is, chroma spread and colorfulness (0–255 scale)."""

    delta_e: float
    reference_emd: float
    fidelity: float
    chroma_spread: float
    colorfulness: float


@dataclass(frozen=True)
class Target:
    """A goal the trained model is judged on; `value` is None when it cannot be measured."""

    value: float | None
    goal: float
    at_least: bool

    @property
    def met(self) -> bool:
        if self.value is None:
            return False
        return self.value >= self.goal if self.at_least else self.value <= self.goal


@dataclass(frozen=True)
class Evaluation:
    """All scores of one run; `as_dict` gives the JSON form that `halftint eval --json` prints."""

    size: int
    images: int
    descreen: dict[str, DescreenScores]
    colorization: ColorizationScores
    targets: dict[str, Target]

    def as_dict(self) -> dict[str, Any]:
        return {
            "size": self.size,
            "images": self.images,
            "methods": {label: {"descreen": asdict(s)} for label, s in self.descreen.items()},
            "colorization": asdict(self.colorization),
            "targets": {
                name: {
                    "value": target.value,
                    "goal": target.goal,
                    "rule": ">=" if target.at_least else "<=",
                    "met": target.met,
                }
                for name, target in self.targets.items()
            },
        }


def judge(
    methods: Sequence[HalftoneMethod],
    descreen: dict[str, DescreenScores],
    colorization: ColorizationScores,
) -> dict[str, Target]:
    """The targets a trained model is judged on, from its scores.

    Descreening gains (model PSNR minus best-Gaussian PSNR) are judged for the methods whose
    goals are set (`DESCREEN_GAIN_GOALS`) and for scanned prints.
    """
    targets: dict[str, Target] = {}
    for method in methods:
        scores = descreen[method.label]
        gain = scores.psnr - scores.gaussian_psnr
        scanned = dict(method.options).get("scan") is True
        goal = DESCREEN_GAIN_GOAL_SCANNED if scanned else DESCREEN_GAIN_GOALS.get(method.method)
        if goal is not None:
            targets[f"descreen_gain:{method.label}"] = Target(gain, goal, at_least=True)
    ratio = (
        colorization.delta_e / colorization.baseline_delta_e
        if colorization.baseline_delta_e > 0.0
        else None  # gray photos: there is no color to get right
    )
    network_ratio = (
        colorization.network_delta_e / colorization.baseline_delta_e
        if colorization.baseline_delta_e > 0.0
        else None
    )
    targets["delta_e_ratio"] = Target(ratio, DELTA_E_RATIO_GOAL, at_least=False)
    targets["network_delta_e_ratio"] = Target(
        network_ratio, NETWORK_DELTA_E_RATIO_GOAL, at_least=False
    )
    targets["network_reference_fidelity"] = Target(
        colorization.network_reference_fidelity, NETWORK_REFERENCE_FIDELITY_GOAL, at_least=True
    )
    targets["reference_fidelity"] = Target(
        colorization.reference_fidelity, REFERENCE_FIDELITY_GOAL, at_least=True
    )
    cross = colorization.cross_reference.get("model")
    if cross is not None:
        targets["cross_spread_ratio"] = Target(
            colorization.spread_ratio(cross.chroma_spread), CROSS_SPREAD_GOAL, at_least=True
        )
        targets["cross_delta_e_excess"] = Target(
            cross.delta_e - colorization.baseline_delta_e, CROSS_DELTA_E_MARGIN, at_least=False
        )
    targets["diversity_delta_e"] = Target(
        colorization.diversity_delta_e, DIVERSITY_GOAL, at_least=True
    )
    targets["random_spread_ratio"] = Target(
        colorization.spread_ratio(colorization.random_chroma_spread),
        RANDOM_SPREAD_GOAL,
        at_least=True,
    )
    targets["random_border_band"] = Target(
        colorization.random_border_band, BORDER_BAND_GOAL, at_least=False
    )
    return targets
