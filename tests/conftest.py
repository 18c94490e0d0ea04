"""Fixtures shared by the whole test suite: a tiny network preset and a bundle of it.

The tiny preset has the topology of `paper` and `lite` with a few channels per layer, so tests
can build, run, train and save every network in milliseconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from halftint.checkpoint import save_bundle
from halftint.nets import (
    DiscriminatorConfig,
    EncoderConfig,
    FusionConfig,
    GeneratorConfig,
    HistogramConfig,
    IHNConfig,
    Preset,
    build_networks,
)

TINY_WORKING_SIZE = 32


@pytest.fixture(autouse=True, scope="session")
def _own_halftint_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The suite's verified-file stamps go to a folder of its own, not the user's cache (numba's
    compiled kernels stay where they are: NUMBA_CACHE_DIR is set when halftint is imported)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HALFTINT_CACHE_DIR", str(tmp_path_factory.mktemp("halftint-cache")))
        yield


def tiny_preset() -> Preset:
    """A preset with the real topology and 4-8 channels per layer, working size 32."""
    return Preset(
        name="tiny",
        working_size=TINY_WORKING_SIZE,
        ihn=IHNConfig(
            base_channels=4,
            depth=4,
            dense_layers=2,
            dense_growth=4,
            dense_bottleneck=8,
            detail_channels=4,
            detail_blocks=1,
            detail_expand=8,
        ),
        encoder=EncoderConfig(input_size=TINY_WORKING_SIZE, base_channels=4, pool_size=4),
        generator=GeneratorConfig(base_channels=4, depth=4),
        discriminator=DiscriminatorConfig(base_channels=4, layers=2),
        histogram=HistogramConfig(input_size=TINY_WORKING_SIZE, channels=(4, 8, 8)),
        fusion=FusionConfig(channels=4, residual_blocks=1),
    )


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved bundle of randomly initialised tiny networks (all six); treat it as read-only."""
    torch.manual_seed(0)
    networks = build_networks(tiny_preset())
    folder = tmp_path_factory.mktemp("weights") / "tiny-bundle"
    return save_bundle(
        folder,
        networks,
        preset="tiny",
        working_size=TINY_WORKING_SIZE,
        halftone_methods=["floyd-steinberg"],
        data="random initialisation (test fixture)",
        metrics={},
    )
