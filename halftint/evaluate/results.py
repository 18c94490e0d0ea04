"""Scores of an evaluation, the targets a trained model is judged on, and their JSON form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from halftint.evaluate.methods import HalftoneMethod

DIVERSITY_SAMPLES = 5  # random samples per photo
MIN_PHOTOS = 2  # reference fidelity pairs each photo with another one

# what a trained model is judged on
# dB over the best Gaussian, by method (a scanned print of any method: the scanned goal)
DESCREEN_GAIN_GOALS = {"floyd-steinberg": 3.0, "jarvis": 2.5, "atkinson": 1.5, "clustered": 1.5}
DESCREEN_GAIN_GOAL_SCANNED = 1.5
DELTA_E_RATIO_GOAL = 0.8  # reconstruction ΔE2000 / no-color ΔE2000, at most
# a ΔE2000 of about 2 is a just-noticeable color difference: samples must differ visibly
DIVERSITY_GOAL = 2.0
REFERENCE_FIDELITY_GOAL = 0.8  # share of pairs, at least


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
    targets["delta_e_ratio"] = Target(ratio, DELTA_E_RATIO_GOAL, at_least=False)
    targets["diversity_delta_e"] = Target(
        colorization.diversity_delta_e, DIVERSITY_GOAL, at_least=True
    )
    targets["reference_fidelity"] = Target(
        colorization.reference_fidelity, REFERENCE_FIDELITY_GOAL, at_least=True
    )
    return targets
