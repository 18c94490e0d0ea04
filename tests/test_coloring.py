"""Color sources: what each one says and how random codes are drawn."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from halftint.coloring import InterpolatedColors, RandomColors

Z_DIM = 8


def test_random_codes_are_seeded_standard_normal() -> None:
    codes = RandomColors(2000, seed=11).codes(Z_DIM)
    assert codes.shape == (2000, Z_DIM) and codes.dtype == torch.float32
    assert torch.equal(codes, RandomColors(2000, seed=11).codes(Z_DIM))
    assert not torch.equal(codes, RandomColors(2000, seed=12).codes(Z_DIM))
    assert abs(codes.mean().item()) < 0.05 and abs(codes.std().item() - 1.0) < 0.05
    # the first codes do not depend on how many are drawn
    assert torch.equal(RandomColors(3, seed=11).codes(Z_DIM), codes[:3])
    # no seed: a fresh draw each time
    assert not torch.equal(RandomColors(3).codes(Z_DIM), RandomColors(3).codes(Z_DIM))


def test_sources_check_their_counts() -> None:
    with pytest.raises(ValueError, match="n must be at least 1, got 0"):
        RandomColors(0)
    with pytest.raises(ValueError, match="corners must be 2 or 4, got 3"):
        InterpolatedColors(corners=3)
    with pytest.raises(ValueError, match="steps must be at least 2, got 1"):
        InterpolatedColors(steps=1)
    assert RandomColors(5).count == 5 and InterpolatedColors(4, 3).count == 9


def test_the_module_loads_no_torch() -> None:
    code = "import sys, halftint.coloring; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_random_photos_are_seeded_and_do_not_change_the_codes() -> None:
    colors = RandomColors(400, seed=7)
    photos = colors.photos(5)
    assert photos.shape == (400,) and photos.dtype == torch.int64
    assert set(photos.tolist()) == {0, 1, 2, 3, 4}
    assert torch.equal(photos, RandomColors(400, seed=7).photos(5))
    assert torch.equal(RandomColors(3, seed=7).photos(5), photos[:3])
    assert not torch.equal(photos, RandomColors(400, seed=8).photos(5))
    # the codes are those drawn before photo spreads existed: the seed's own stream
    generator = torch.Generator().manual_seed(7)
    first = torch.randn(Z_DIM, generator=generator)
    assert torch.equal(RandomColors(1, seed=7, spread="none").codes(Z_DIM)[0], first)
    assert torch.equal(RandomColors(1, seed=7).codes(Z_DIM)[0], first)


def test_random_spread_must_be_known() -> None:
    assert RandomColors(2).spread == "photos"
    with pytest.raises(ValueError, match="spread must be one of photos, none, got 'loud'"):
        RandomColors(2, spread="loud")
