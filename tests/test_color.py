"""Color conversions: exact round trips, BT.601 luma, and luminance recombination in gamut."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from halftint.bt601 import CB_SCALE, CR_SCALE, LUMA_WEIGHTS
from halftint.color import (
    MAX_SPREAD_GAIN,
    chroma_statistics,
    match_chroma,
    mean_chroma,
    recombine_luminance,
    rgb_to_gray,
    rgb_to_ycbcr,
    shift_chroma,
    ycbcr_to_rgb,
)


def _random_rgb(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(*shape, generator=torch.Generator().manual_seed(seed))


def test_gray_uses_bt601_weights() -> None:
    primaries = torch.eye(3).reshape(3, 3, 1, 1)  # pure red, green, blue
    assert rgb_to_gray(primaries).flatten().tolist() == pytest.approx([0.299, 0.587, 0.114])


def test_the_ycbcr_scales_follow_from_the_luma_weights_and_every_user_shares_them() -> None:
    from halftint.data import LUMA, color_shift_matrix

    assert sum(LUMA_WEIGHTS) == pytest.approx(1.0)
    assert pytest.approx(2 * (1 - LUMA_WEIGHTS[2])) == CB_SCALE
    assert pytest.approx(2 * (1 - LUMA_WEIGHTS[0])) == CR_SCALE
    assert LUMA.tolist() == pytest.approx(LUMA_WEIGHTS)
    # pure red, green and blue reach ±0.5 in Cb or Cr, as full-range YCbCr has it
    ycbcr = rgb_to_ycbcr(torch.eye(3).reshape(3, 3, 1, 1)).flatten(1)
    assert ycbcr[2, 1].item() == pytest.approx(1.0) and ycbcr[0, 2].item() == pytest.approx(1.0)
    # the training color shift acts in the same (Cb, Cr) plane: a half turn flips the chroma
    flipped = np.array([[0.8, 0.3, 0.2]]) @ color_shift_matrix(0.5, 1.0).T
    original = rgb_to_ycbcr(torch.tensor([[0.8, 0.3, 0.2]]).reshape(1, 3, 1, 1)).flatten()
    turned = rgb_to_ycbcr(torch.tensor(flipped, dtype=torch.float32).reshape(1, 3, 1, 1)).flatten()
    assert turned[0].item() == pytest.approx(original[0].item(), abs=1e-6)
    assert (turned[1:] - 0.5).tolist() == pytest.approx((0.5 - original[1:]).tolist(), abs=1e-5)


def test_ycbcr_round_trip_and_neutral_chroma() -> None:
    rgb = _random_rgb(2, 3, 5, 7).double()
    assert torch.allclose(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb, atol=1e-12)
    gray = torch.full((1, 3, 2, 2), 0.3)
    assert torch.allclose(rgb_to_ycbcr(gray)[:, 1:], torch.full((1, 2, 2, 2), 0.5))


def test_recombined_luma_equals_the_given_luminance_exactly() -> None:
    color = _random_rgb(3, 3, 16, 16, seed=1)
    luminance = _random_rgb(3, 1, 16, 16, seed=2) * 1.4 - 0.2  # some values outside [0, 1]
    result = recombine_luminance(color, luminance)
    assert result.shape == color.shape
    assert result.min() >= 0.0 and result.max() <= 1.0
    assert torch.allclose(rgb_to_gray(result), luminance.clamp(0, 1), atol=1e-5)


def test_recombination_keeps_chroma_where_it_fits() -> None:
    # a muted color at mid gray fits anywhere near mid luma: the Cb/Cr must come through unchanged
    color = torch.tensor([0.55, 0.45, 0.40]).reshape(1, 3, 1, 1).expand(1, 3, 4, 4)
    luminance = torch.linspace(0.4, 0.6, 16).reshape(1, 1, 4, 4)
    result = recombine_luminance(color, luminance)
    assert torch.allclose(rgb_to_ycbcr(result)[:, 1:], rgb_to_ycbcr(color)[:, 1:], atol=1e-6)


def test_out_of_gamut_pixels_lose_saturation_not_luma_or_hue() -> None:
    yellow = torch.tensor([1.0, 1.0, 0.0]).reshape(1, 3, 1, 1)
    result = recombine_luminance(yellow, torch.full((1, 1, 1, 1), 0.97))
    assert rgb_to_gray(result).item() == pytest.approx(0.97, abs=1e-6)
    red, green, blue = result.flatten().tolist()
    assert red == pytest.approx(green, abs=1e-6) and blue < red  # still a (paler) yellow
    assert max(red, green, blue) <= 1.0


def test_black_and_white_luminance_give_black_and_white() -> None:
    color = _random_rgb(1, 3, 2, 2, seed=4)
    assert torch.equal(recombine_luminance(color, torch.zeros(1, 1, 2, 2)), torch.zeros(1, 3, 2, 2))
    assert torch.allclose(
        recombine_luminance(color, torch.ones(1, 1, 2, 2)), torch.ones(1, 3, 2, 2)
    )


def test_gray_color_gives_gray_output_and_dtype_follows() -> None:
    color = torch.full((1, 3, 3, 3), 0.2, dtype=torch.float64)
    luminance = torch.full((1, 1, 3, 3), 0.8, dtype=torch.float32)
    result = recombine_luminance(color, luminance)
    assert result.dtype == torch.float64
    assert torch.allclose(result, torch.full((1, 3, 3, 3), 0.8, dtype=torch.float64), atol=1e-7)


def test_recombination_rejects_mismatched_shapes_naming_them() -> None:
    with pytest.raises(ValueError, match=r"\(2, 1, 4, 4\).*got \(2, 1, 4, 5\)"):
        recombine_luminance(torch.zeros(2, 3, 4, 4), torch.zeros(2, 1, 4, 5))
    with pytest.raises(ValueError, match=r"\(1, 1, 4, 4\)"):
        rgb_to_gray(torch.zeros(1, 1, 4, 4))


def test_mean_chroma_is_zero_for_gray_and_signed_for_colors() -> None:
    assert mean_chroma(torch.full((2, 3, 4, 4), 0.4)).abs().max() < 1e-7
    red, blue = torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 0.0, 1.0])
    cb_cr = mean_chroma(torch.stack([red, blue]).view(2, 3, 1, 1).expand(-1, -1, 3, 3))
    # red: Cb < 0 < Cr; blue: Cr < 0 < Cb (full-range YCbCr offsets)
    assert cb_cr[0, 0] < 0 < cb_cr[0, 1] and cb_cr[1, 1] < 0 < cb_cr[1, 0]
    assert cb_cr[0, 1].item() == pytest.approx(0.5)


def test_shift_chroma_moves_the_mean_color_and_keeps_every_luma() -> None:
    rgb = _random_rgb(2, 3, 16, 16, seed=3) * 0.4 + 0.3  # mid tones: room for the shift
    target = torch.tensor([[0.05, -0.04], [-0.03, 0.06]])
    shifted = shift_chroma(rgb, target)
    assert torch.allclose(mean_chroma(shifted), target, atol=1e-6)
    assert torch.allclose(rgb_to_gray(shifted), rgb_to_gray(rgb), atol=1e-6)
    # the spread of colors around the mean is kept: a pure offset per image
    assert torch.allclose(
        rgb_to_ycbcr(shifted)[:, 1:] - rgb_to_ycbcr(rgb)[:, 1:],
        (target - mean_chroma(rgb)).view(2, 2, 1, 1).expand(-1, -1, 16, 16),
        atol=1e-6,
    )
    # its own mean color changes nothing; one target row serves a whole batch
    assert torch.allclose(shift_chroma(rgb, mean_chroma(rgb)), rgb, atol=1e-6)
    assert torch.equal(shift_chroma(rgb, target[:1]), shift_chroma(rgb, target[:1].expand(2, 2)))


def test_shift_chroma_stays_in_the_cube_and_checks_its_target() -> None:
    rgb = _random_rgb(1, 3, 8, 8, seed=4)
    strong = shift_chroma(rgb, torch.tensor([[0.0, 0.45]]))  # deep red asked of bright pixels
    assert strong.min() >= 0.0 and strong.max() <= 1.0
    assert torch.allclose(rgb_to_gray(strong), rgb_to_gray(rgb), atol=1e-6)
    assert mean_chroma(strong)[0, 1] > mean_chroma(rgb)[0, 1] + 0.1
    with pytest.raises(ValueError, match=r"chroma must have shape \(1, 2\) or \(1, 2\)"):
        shift_chroma(rgb, torch.zeros(2, 2))


def test_chroma_statistics_are_mean_and_spread_of_cb_and_cr() -> None:
    rgb = torch.rand(2, 3, 8, 8)
    ycbcr = rgb_to_ycbcr(rgb)
    statistics = chroma_statistics(rgb)
    assert statistics.shape == (2, 4)
    assert torch.allclose(statistics[:, :2], mean_chroma(rgb), atol=1e-6)
    assert torch.allclose(statistics[:, 2:], ycbcr[:, 1:].std(dim=(2, 3), correction=0), atol=1e-6)
    assert chroma_statistics(torch.full((1, 3, 4, 4), 0.3)).abs().max() < 1e-6


def test_match_chroma_modes() -> None:
    torch.manual_seed(0)
    # a muted output and a vivid reference, both mid-gray on average so nothing leaves the cube
    output = (0.5 + 0.045 * torch.randn(1, 3, 16, 16)).clamp(0, 1)
    reference = (0.5 + 0.08 * torch.randn(1, 3, 16, 16)).clamp(0, 1)
    wanted = chroma_statistics(reference)
    assert torch.equal(match_chroma(output, wanted, "none"), output)
    mean = match_chroma(output, wanted, "mean")
    spread = match_chroma(output, wanted, "spread")
    for matched in (mean, spread):
        assert torch.allclose(rgb_to_gray(matched), rgb_to_gray(output), atol=1e-5)
        assert torch.allclose(chroma_statistics(matched)[:, :2], wanted[:, :2], atol=2e-3)
    # mean keeps the output's spread; spread takes the reference's
    assert torch.allclose(
        chroma_statistics(mean)[:, 2:], chroma_statistics(output)[:, 2:], atol=1e-3
    )
    assert torch.allclose(chroma_statistics(spread)[:, 2:], wanted[:, 2:], atol=2e-3)
    # a gray output is not blown up: the gain is capped
    flat = (0.5 + 0.001 * torch.randn(1, 3, 16, 16)).clamp(0, 1)
    capped = chroma_statistics(match_chroma(flat, wanted, "spread"))[:, 2:]
    assert torch.all(capped <= MAX_SPREAD_GAIN * chroma_statistics(flat)[:, 2:] + 1e-4)
    with pytest.raises(ValueError, match="match mode must be one of none, mean, spread"):
        match_chroma(output, wanted, "median")
    with pytest.raises(ValueError, match=r"statistics must have shape \(1, 4\)"):
        match_chroma(output, wanted[:, :2], "mean")


def test_match_chroma_spread_alone_keeps_each_image_s_own_mean() -> None:
    torch.manual_seed(1)
    output = (
        0.5 + 0.03 * torch.randn(2, 3, 16, 16) + torch.tensor([0.02, 0.0, -0.02]).view(1, 3, 1, 1)
    )
    output = output.clamp(0, 1)
    spreads = torch.tensor([[0.04, 0.035], [0.015, 0.03]])  # gains within the cap
    matched = match_chroma(output, spreads, "spread")
    assert torch.allclose(rgb_to_gray(matched), rgb_to_gray(output), atol=1e-5)
    before, after = chroma_statistics(output), chroma_statistics(matched)
    assert torch.allclose(after[:, :2], before[:, :2], atol=1e-3)
    assert torch.allclose(after[:, 2:], spreads, atol=2e-3)
    with pytest.raises(ValueError, match=r"statistics must have shape \(1, 2\) or \(2, 2\) or"):
        match_chroma(output, spreads[:, :1], "spread")


def test_match_chroma_spread_reaches_its_spread_and_mean_where_the_cube_clips() -> None:
    torch.manual_seed(2)
    # a bright image: scaling its colors up pushes its most colorful pixels out of the RGB cube,
    # and fitting them back in takes chroma away; the rest must make up for it
    output = (0.88 + 0.04 * torch.randn(1, 3, 24, 24)).clamp(0, 1)
    spreads = torch.tensor([[0.055, 0.052]])  # gains within the cap
    assert torch.all(spreads / chroma_statistics(output)[:, 2:] < MAX_SPREAD_GAIN)
    matched = match_chroma(output, spreads, "spread")
    assert torch.allclose(rgb_to_gray(matched), rgb_to_gray(output), atol=1e-5)
    assert matched.min() >= 0 and matched.max() <= 1
    after = chroma_statistics(matched)
    assert torch.allclose(after[:, 2:], spreads, rtol=0.02)
    # and its own mean color, which the clipped pixels alone would have moved
    assert torch.allclose(after[:, :2], chroma_statistics(output)[:, :2], atol=2e-3)
