"""Screen analysis: clustered-dot screens found with their period and angle, others left alone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from halftint.halftone import dither
from halftint.screen import ScreenInfo, analyze, screen_scale


def _ramp(size: int = 512) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    return (0.2 + 0.6 * x * (0.7 + 0.3 * np.cos(3 * y))).astype(np.float32)


def _analyze(halftone: np.ndarray) -> ScreenInfo:
    return analyze(torch.from_numpy(np.asarray(halftone, dtype=np.float32)))


def _angle_gap(found: float, true: float) -> float:
    gap = abs(found - true % 90.0)
    return min(gap, 90.0 - gap)


@pytest.mark.parametrize("period", [3.0, 4.0, 5.5, 7.0, 10.0, 14.0, 20.0])
@pytest.mark.parametrize("angle", [0.0, 15.0, 30.0, 45.0, 62.0, 75.0, 90.0])
def test_screen_period_and_angle_are_found(period: float, angle: float) -> None:
    halftone = dither(_ramp(), "clustered", lpi=600 / period, dpi=600, angle=angle)
    info = _analyze(halftone)
    assert info.periodic, info
    assert info.period is not None and info.angle is not None
    assert abs(info.period - period) / period <= 0.05
    assert _angle_gap(info.angle, angle) <= 3.0
    assert 0.0 <= info.angle < 90.0


def test_a_line_screen_is_a_screen_too() -> None:
    info = _analyze(dither(_ramp(), "clustered", lpi=100, dpi=600, angle=30, spot="line"))
    assert info.periodic and info.period is not None
    assert abs(info.period - 6.0) / 6.0 <= 0.05


@pytest.mark.parametrize(
    "method", ["floyd-steinberg", "atkinson", "blue-noise", "jarvis", "bayer8", "random"]
)
def test_dispersed_halftones_are_aperiodic(method: str) -> None:
    info = _analyze(dither(_ramp(), method, seed=1))
    assert not info.periodic
    assert info.period is None and info.reason


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        (torch.ones(1, 1, 200, 300), "blank"),
        (torch.zeros(1, 1, 1, 1), "too small"),
        (torch.from_numpy(_ramp()), "continuous tone"),
        (
            torch.from_numpy(np.tile(np.linspace(0.2, 0.8, 256, dtype=np.float32), (256, 1))),
            "continuous tone",
        ),
        (torch.rand(64, 64, generator=torch.Generator().manual_seed(0)), "no clear"),
    ],
)
def test_odd_inputs_fall_back_to_none_with_a_reason(image: torch.Tensor, reason: str) -> None:
    info = analyze(image)
    assert not info.periodic
    assert reason in info.reason
    assert info.describe().startswith("no periodic screen")


def test_screen_scale_brings_the_period_into_range() -> None:
    assert screen_scale(ScreenInfo(True, period=14.0, angle=45.0), (3.0, 12.0)) == 12.0 / 14.0
    assert screen_scale(ScreenInfo(True, period=2.0, angle=0.0), (3.0, 12.0)) == 1.5
    assert screen_scale(ScreenInfo(True, period=7.0, angle=0.0), (3.0, 12.0)) == 1.0
    assert screen_scale(ScreenInfo(False, reason="x"), (3.0, 12.0)) == 1.0
