"""The Colorizer with a tiny random-weight bundle: contracts, determinism, tiling, devices.

The weights are random, so colors are nonsense: these tests check shapes, ranges, determinism,
luminance preservation and that tiling is invisible, never how good the colors look.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from halftint.checkpoint import load_bundle
from halftint.color import mean_chroma, rgb_to_gray
from halftint.coloring import CodeColors, InterpolatedColors, RandomColors, ReferenceColors
from halftint.errors import HalftintError, UsageError, WeightsError
from halftint.halftone import dither
from halftint.nets import get_preset
from halftint.pipeline import Colorizer, resolve_device, resolve_precision
from halftint.pipeline import colorizer as colorizer_module
from halftint.pipeline.device import cpu_has_native_bf16
from halftint.pipeline.memory import ihn_bytes_per_pixel
from halftint.pipeline.noise import positional_noise
from halftint.pipeline.sheets import CELL_LONG_SIDE, GAP, contact_sheet, fit_to_cell, grid
from halftint.pipeline.tiling import plan_side, run_tiled

HALF_8BIT_STEP = 0.5 / 255


def _halftone(
    height: int, width: int, seed: int = 0, method: str = "floyd-steinberg"
) -> torch.Tensor:
    gray = torch.rand(1, 1, height, width, generator=torch.Generator().manual_seed(seed))
    return dither(gray, method, seed=seed)


@pytest.fixture(scope="module")
def colorizer(tiny_bundle: Path) -> Colorizer:
    return Colorizer(load_bundle(tiny_bundle), device="cpu", precision="fp32")


# --- tiling ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "tile", "overlap", "alignment"),
    [(1000, 256, 64, 16), (257, 128, 64, 64), (4096, 1024, 100, 128), (129, 64, 16, 16)],
)
def test_tile_plans_cover_the_side_with_aligned_overlapping_tiles(
    length: int, tile: int, overlap: int, alignment: int
) -> None:
    plan = plan_side(length, tile, overlap, alignment)
    starts = [start for start, _ in plan.spans]
    assert starts[0] == 0 and plan.spans[-1][1] == length
    assert all(start % alignment == 0 for start in starts)
    assert all(stop - start <= tile for start, stop in plan.spans)
    assert plan.overlap % alignment == 0 and plan.overlap >= overlap
    for (_, previous_stop), (next_start, _) in zip(plan.spans, plan.spans[1:], strict=False):
        assert previous_stop - next_start >= plan.overlap
    assert plan.weight_sum().min() > 0


def test_feathers_sum_to_one_where_tiles_overlap_exactly() -> None:
    plan = plan_side(1000, 256, 64, 16)
    total = plan.weight_sum()
    # all but the last tile overlap their neighbour by exactly 64, so their weights add to 1
    assert torch.allclose(total[: plan.spans[-1][0]], torch.ones(plan.spans[-1][0]).double())
    # the outer quarter of an overlap belongs to one tile only
    second = plan.weights(1)
    assert second[:16].max() == 0 and second[-16:].max() == 0
    assert second[48:-48].min() == 1


def test_a_side_that_fits_is_one_tile_and_small_tiles_are_refused() -> None:
    assert plan_side(200, 256, 64, 16).spans == ((0, 200),)
    with pytest.raises(ValueError, match="at least twice the overlap"):
        plan_side(1000, 100, 64, 16)


def test_tiling_an_identity_gives_the_image_back_exactly() -> None:
    image = torch.rand(2, 3, 301, 517, generator=torch.Generator().manual_seed(1))
    result = run_tiled(lambda tile, _top, _left: tile, image, tile=128, overlap=32, alignment=16)
    assert torch.allclose(result, image, atol=1e-6)


def test_tiling_equals_untiled_beyond_the_receptive_field() -> None:
    # three 3x3 convolutions see 3 pixels each way; a 32-pixel overlap discards 8 at each border
    torch.manual_seed(0)
    network = torch.nn.Sequential(*(torch.nn.Conv2d(2, 2, 3, padding=1) for _ in range(3)))
    image = torch.rand(1, 2, 200, 300)
    calls = []

    def function(tile: torch.Tensor, top: int, left: int) -> torch.Tensor:
        calls.append((top, left))
        with torch.no_grad():
            return network(tile)

    with torch.no_grad():
        untiled = network(image)
    tiled = run_tiled(function, image, tile=96, overlap=32, alignment=16)
    assert len(calls) > 4
    assert torch.allclose(tiled, untiled, atol=1e-6)


def test_positional_noise_depends_on_position_only(colorizer: Colorizer) -> None:
    whole = positional_noise(colorizer.ihn, 0, 0, 600, 700)
    assert whole.shape == (1, colorizer.ihn.config.noise_channels, 600, 700)
    part = positional_noise(colorizer.ihn, 250, 300, 100, 300)
    assert torch.equal(part, whole[..., 250:350, 300:600])
    assert 10 < whole[0, 0].std().item() < 25  # the authors' noise has a std of about 17


# --- the pipeline ---------------------------------------------------------------------------


@pytest.mark.parametrize(("height", "width"), [(1, 1), (5, 3), (37, 53), (64, 31)])
def test_outputs_have_the_input_size_for_odd_sizes(
    colorizer: Colorizer, height: int, width: int
) -> None:
    halftone = _halftone(height, width)
    gray = colorizer.descreen(halftone)
    colors = colorizer.colorize(halftone, seed=1, n=2)
    assert gray.shape == (1, 1, height, width) and colors.shape == (2, 3, height, width)
    for image in (gray, colors):
        assert image.dtype == torch.float32
        assert image.min() >= 0 and image.max() <= 1


@pytest.mark.slow
def test_a_3000x2000_scan_keeps_its_size(colorizer: Colorizer) -> None:
    halftone = dither(torch.full((1, 1, 3000, 2000), 0.6), "bayer8")
    colors = colorizer.colorize(halftone, seed=0)
    assert colors.shape == (1, 3, 3000, 2000)
    assert colors.min() >= 0 and colors.max() <= 1


def test_random_samples_differ_and_repeat_with_the_seed(colorizer: Colorizer) -> None:
    halftone = _halftone(40, 48)
    samples = colorizer.colorize(halftone, seed=5, n=5)
    flat = samples.flatten(1)
    for first in range(5):
        for second in range(first + 1, 5):
            assert (flat[first] - flat[second]).abs().max() > 1e-3
    assert torch.equal(colorizer.colorize(halftone, seed=5, n=5), samples)
    assert not torch.equal(colorizer.colorize(halftone, seed=6, n=5), samples)
    # sample i depends on the seed only, not on how many were asked for
    assert torch.equal(colorizer.sample_codes(2, 5), colorizer.sample_codes(5, 5)[:2])


def test_reference_mode_is_deterministic_and_follows_the_reference(
    colorizer: Colorizer, tiny_bundle: Path
) -> None:
    halftone = _halftone(40, 48)
    warm = torch.rand(1, 3, 50, 70, generator=torch.Generator().manual_seed(1)) * 0.3 + 0.7
    cold = warm.flip(1)
    first = colorizer.colorize(halftone, reference=warm)
    assert first.shape == (1, 3, 40, 48)
    assert torch.equal(colorizer.colorize(halftone, reference=warm), first)
    # a second Colorizer from the same bundle gives the same bytes
    again = Colorizer(load_bundle(tiny_bundle), device="cpu", precision="fp32")
    assert torch.equal(again.colorize(halftone, reference=warm), first)
    assert not torch.equal(colorizer.colorize(halftone, reference=cold), first)
    warm_chroma = colorizer.reference_chroma(warm)
    assert torch.equal(
        colorizer.colorize(halftone, z=colorizer.encode(warm), chroma=warm_chroma), first
    )
    # without the match: the networks' colors, as with the code alone
    assert torch.equal(
        colorizer.colorize(halftone, reference=warm, match="none"),
        colorizer.colorize(halftone, z=colorizer.encode(warm)),
    )


def test_reference_mode_takes_the_references_mean_color_and_keeps_the_luminance(
    colorizer: Colorizer,
) -> None:
    halftone = _halftone(40, 48)
    gray = colorizer.descreen(halftone)
    generator = torch.Generator().manual_seed(2)
    for tint in ((0.9, 0.6, 0.4), (0.4, 0.6, 0.9)):
        reference = torch.rand(1, 3, 30, 30, generator=generator) * 0.2 + torch.tensor(tint).view(
            1, 3, 1, 1
        )
        matched = colorizer.colorize(halftone, reference=reference)
        alone = colorizer.colorize(halftone, reference=reference, match="none")
        wanted = mean_chroma(reference)
        # the same direction, most of the way (pixels near black or white have little room
        # for color in the RGB cube, so the mean can fall short of the reference's)
        assert torch.equal(mean_chroma(matched).sign(), wanted.sign())
        assert ((mean_chroma(matched) - wanted).abs() < 0.5 * wanted.abs()).all()
        assert (mean_chroma(matched) - wanted).abs().max() < (
            mean_chroma(alone) - wanted
        ).abs().max()
        assert (rgb_to_gray(matched) - gray).abs().max() < 1e-5


def test_keep_luma_output_has_the_descreened_luminance(colorizer: Colorizer) -> None:
    # larger than the working size, so the colors are computed small and upsampled
    halftone = _halftone(90, 130)
    gray = colorizer.descreen(halftone)
    colors = colorizer.colorize(halftone, seed=2, n=3)
    assert (rgb_to_gray(colors) - gray).abs().max() < 1e-5
    # and after 8-bit rounding of both, within one level
    eight_bit = (colors * 255).round() / 255
    assert ((rgb_to_gray(eight_bit) - (gray * 255).round() / 255).abs() * 255).max() <= 1.0 + 1e-4
    plain = colorizer.colorize(halftone, seed=2, n=3, keep_luma=False)
    assert (rgb_to_gray(plain) - gray).abs().max() > 0.01  # working-resolution luma, upsampled


def test_interpolation_grid_has_the_corner_samples_at_its_corners(colorizer: Colorizer) -> None:
    halftone = _halftone(30, 40)
    grid = colorizer.interpolate(halftone, corners=4, steps=3, seed=4)
    assert grid.shape == (9, 3, 30, 40)
    corners = colorizer.sample_codes(4, 4)
    codes = colorizer.interpolation_codes(corners=4, steps=3, seed=4)
    assert torch.allclose(codes[[0, 2, 6, 8]], corners)
    assert torch.allclose(codes[4], corners.mean(0))
    assert torch.allclose(grid[8:9], colorizer.colorize(halftone, z=corners[3:4]), atol=1e-6)
    assert colorizer.interpolate(halftone, corners=2, steps=4, seed=4).shape == (4, 3, 30, 40)


def test_a_reference_is_made_once_and_gives_what_the_image_gives(colorizer: Colorizer) -> None:
    warm = torch.rand(1, 3, 50, 70, generator=torch.Generator().manual_seed(1)) * 0.3 + 0.7
    reference = colorizer.reference(warm)
    assert len(reference) == 1
    assert torch.equal(reference.code, colorizer.encode(warm))
    assert torch.equal(reference.chroma, colorizer.reference_chroma(warm))
    with pytest.raises(dataclasses.FrozenInstanceError):
        reference.code = torch.zeros(1, colorizer.z_dim)  # type: ignore[misc]
    for seed, (height, width) in enumerate([(40, 48), (31, 20)]):
        halftone = _halftone(height, width, seed=seed)
        expected = colorizer.colorize(halftone, reference=warm)
        assert torch.equal(colorizer.colorize(halftone, reference=reference), expected)
        assert torch.equal(colorizer.run(halftone, ReferenceColors(reference)), expected)
        assert torch.equal(
            colorizer.run(halftone, ReferenceColors(reference, match="none")),
            colorizer.colorize(halftone, z=reference.code),
        )


def test_random_colors_made_a_few_at_a_time_have_the_codes_of_all_at_once(
    colorizer: Colorizer,
) -> None:
    halftone = _halftone(40, 48)
    prepared = colorizer.prepare(halftone)
    colors = RandomColors(n=9, seed=4)
    whole = prepared.colorize(colors)
    assert torch.equal(whole, colorizer.colorize(halftone, seed=4, n=9))
    codes = colorizer.sample_codes(9, 4)
    for start in range(0, 9, 4):
        stop = min(start + 4, 9)
        part = prepared.colorize(colors, start=start, stop=stop)
        # exactly the codes drawing all nine gives; the same pixels up to batched rounding
        assert torch.equal(part, prepared.colorize(CodeColors(codes[start:stop])))
        assert torch.allclose(part, whole[start:stop], atol=1e-5)
    grid = InterpolatedColors(corners=4, steps=3, seed=2)
    assert grid.count == 9 and InterpolatedColors(corners=2, steps=4).count == 4
    assert torch.equal(
        prepared.colorize(grid, start=3, stop=5),
        prepared.colorize(CodeColors(colorizer.interpolation_codes(steps=3, seed=2)[3:5])),
    )
    with pytest.raises(ValueError, match="outputs 8 to 10 are not a slice of the 9 outputs"):
        prepared.colorize(colors, start=8, stop=10)
    with pytest.raises(ValueError, match="needs a seed"):
        prepared.colorize(RandomColors(n=3), start=1)
    with pytest.raises(TypeError, match="colors must be a ColorSource"):
        prepared.colorize(codes)  # type: ignore[arg-type]


def test_prepare_descreens_once_with_the_screen_and_progress_given(
    colorizer: Colorizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    coarse = _screen_print(16.0, size=128)
    calls: list[object] = []
    descreen = colorizer.descreen

    def counted(*args: object, **kwargs: object) -> torch.Tensor:
        calls.append(kwargs["screen"])
        return descreen(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(colorizer, "descreen", counted)
    ticks: list[tuple[int, int]] = []
    prepared = colorizer.prepare(
        coarse, screen="none", progress=lambda done, total: ticks.append((done, total))
    )
    assert calls == ["none"] and ticks == [(1, 1)]
    assert torch.equal(prepared.gray, descreen(coarse, screen="none"))
    assert prepared.halftone is coarse
    prepared.colorize(RandomColors(n=2, seed=0))
    prepared.colorize(CodeColors(colorizer.sample_codes(1, 5)))
    assert calls == ["none"]
    # for a sheet: shrunk to a cell after descreening, and colorized at that size
    wide = _halftone(40, CELL_LONG_SIDE + 100)
    small = colorizer.prepare(wide, for_sheet=True)
    assert small.halftone.shape == small.gray.shape == (1, 1, 36, CELL_LONG_SIDE)
    assert torch.equal(small.gray, fit_to_cell(descreen(wide)))
    assert small.colorize(RandomColors(n=2, seed=0)).shape == (2, 3, 36, CELL_LONG_SIDE)


def test_tiled_descreening_equals_untiled(colorizer: Colorizer) -> None:
    """Tolerance: with an overlap wider than twice IHN's receptive field (here about 24 px),
    every kept pixel is computed from the same inputs, the same noise and the same U-Net phase
    as untiled; only the order of float additions differs (1e-5)."""
    halftone = _halftone(300, 520, seed=3)
    untiled = colorizer.descreen(halftone)
    tiled = _descreen_with_tiles(colorizer, halftone, tile=256, overlap=128)
    assert (tiled - untiled).abs().max() < 1e-5


def test_no_seam_on_a_flat_field(colorizer: Colorizer) -> None:
    """At the default overlap, tiles of a flat gray field differ from the untiled result by
    less than half an 8-bit step anywhere, so no seam can show in the written image."""
    flat = dither(torch.full((1, 1, 384, 384), 0.5), "bayer8")
    untiled = colorizer.descreen(flat)
    tiled = _descreen_with_tiles(colorizer, flat, tile=128, overlap=colorizer.overlap)
    assert (tiled - untiled).abs().max() < HALF_8BIT_STEP


def _descreen_with_tiles(
    colorizer: Colorizer, halftone: torch.Tensor, *, tile: int, overlap: int
) -> torch.Tensor:
    saved = colorizer.tile_size, colorizer.overlap
    colorizer.tile_size, colorizer.overlap = tile, overlap
    try:
        return colorizer.descreen(halftone)
    finally:
        colorizer.tile_size, colorizer.overlap = saved


def test_tile_size_follows_memory_and_alignment(colorizer: Colorizer) -> None:
    side = colorizer._tile_side(batch=1)
    assert side % colorizer.alignment == 0
    assert 2 * colorizer.overlap <= side <= colorizer_module.MAX_TILE
    # on the CPU, tiles stay small enough for the caches however much memory is free
    assert colorizer.device.type != "cpu" or side <= colorizer_module.CPU_TILE_SIDE
    assert ihn_bytes_per_pixel(get_preset("paper").ihn) == 4096
    # measured peak RSS: 3,249 B/px for the paper IHN; the estimate errs on the safe side
    assert ihn_bytes_per_pixel(get_preset("lite").ihn) < 4096


def test_bf16_colorization_stays_close_to_fp32(tiny_bundle: Path) -> None:
    halftone = _halftone(40, 56)
    reference = Colorizer(load_bundle(tiny_bundle), device="cpu", precision="fp32")
    mixed = Colorizer(load_bundle(tiny_bundle), device="cpu", precision="bf16")
    expected = reference.colorize(halftone, seed=3)
    result = mixed.colorize(halftone, seed=3)
    assert result.dtype == torch.float32
    assert (result - expected).abs().mean() < 0.02


def _snapshot(networks: dict[str, torch.nn.Module]) -> list[object]:
    """Every module's mode and every tensor's device, strides and bytes."""
    return [
        (
            name,
            [module.training for module in network.modules()],
            [
                (key, tensor.device, tensor.stride(), tensor.detach().numpy().tobytes())
                for key, tensor in network.state_dict().items()
            ],
        )
        for name, network in networks.items()
    ]


def test_a_colorizer_leaves_the_bundles_networks_as_they_were(tiny_bundle: Path) -> None:
    """The Colorizer runs copies: the caller's modules keep their device, memory format, mode
    and values, and changes the caller makes to them later do not reach the Colorizer."""
    bundle = load_bundle(tiny_bundle)
    bundle.networks["generator"].train()  # e.g. a training loop's modules
    before = _snapshot(bundle.networks)
    colorizer = Colorizer(bundle, device="cpu", precision="fp32")
    halftone = _halftone(30, 40)
    expected = colorizer.colorize(halftone, seed=2)
    assert _snapshot(bundle.networks) == before
    assert colorizer.generator is not bundle.networks["generator"]
    assert not colorizer.generator.training
    with torch.no_grad():
        for parameter in bundle.networks["ihn"].parameters():
            parameter.zero_()
    assert torch.equal(colorizer.colorize(halftone, seed=2), expected)


def test_two_colorizers_on_one_bundle_do_not_interfere(tiny_bundle: Path) -> None:
    bundle = load_bundle(tiny_bundle)
    halftone = _halftone(40, 48)
    on_cpu = Colorizer(bundle, device="cpu", precision="fp32")
    expected = on_cpu.colorize(halftone, seed=3)
    # a second one elsewhere: the "meta" device (no storage) stands in for a GPU
    elsewhere = Colorizer(bundle, device=torch.device("meta"), precision="bf16")
    assert next(elsewhere.ihn.parameters()).device.type == "meta"
    assert torch.equal(on_cpu.colorize(halftone, seed=3), expected)


# --- sheets ---------------------------------------------------------------------------------


def test_contact_sheet_puts_input_gray_and_colorings_in_a_row() -> None:
    halftone = torch.zeros(1, 1, 10, 12)
    gray = torch.full((1, 1, 10, 12), 0.5)
    colors = torch.rand(2, 3, 10, 12, generator=torch.Generator().manual_seed(0))
    sheet = contact_sheet(halftone, gray, colors)
    assert sheet.shape == (3, 10, 4 * 12 + 3 * GAP)
    assert sheet[:, :, :12].max() == 0 and torch.all(sheet[:, :, 12 : 12 + GAP] == 1)
    assert torch.all(sheet[:, :, 12 + GAP : 24 + GAP] == 0.5)
    third = 2 * (12 + GAP)
    assert torch.equal(sheet[:, :, third : third + 12], colors[0])
    with pytest.raises(ValueError, match=r"gray must be \(1, 1, 10, 12\)"):
        contact_sheet(halftone, torch.zeros(1, 1, 10, 11), colors)


def test_grid_fills_rows_and_leaves_the_rest_white() -> None:
    cells = torch.zeros(5, 3, 4, 6)
    sheet = grid(cells, columns=2)
    assert sheet.shape == (3, 3 * 4 + 2 * GAP, 2 * 6 + GAP)
    last_row = 2 * (4 + GAP)
    assert sheet[:, last_row:, :6].max() == 0 and sheet[:, last_row:, 6:].min() == 1


def test_cells_shrink_to_fit_but_never_grow() -> None:
    wide = torch.rand(1, 3, CELL_LONG_SIDE, 2 * CELL_LONG_SIDE)
    assert fit_to_cell(wide).shape == (1, 3, CELL_LONG_SIDE // 2, CELL_LONG_SIDE)
    small = torch.rand(2, 1, 30, 40)
    assert fit_to_cell(small) is small


# --- errors ---------------------------------------------------------------------------------


def test_bad_shapes_are_refused_naming_the_shape(colorizer: Colorizer) -> None:
    with pytest.raises(
        ValueError, match=r"halftone must be a \(B, 1, H, W\) tensor, got \(1, 3, 8, 8\)"
    ):
        colorizer.descreen(torch.zeros(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"\(1, 1, H, W\).*\(2, 1, 8, 8\)"):
        colorizer.colorize(torch.zeros(2, 1, 8, 8), seed=0)
    with pytest.raises(ValueError, match=r"reference must be a \(B, 3, H, W\)"):
        colorizer.encode(torch.zeros(1, 1, 8, 8))
    with pytest.raises(ValueError, match=r"z must be \(k, 8\) with k >= 1, got shape \(2, 3\)"):
        colorizer.colorize(torch.zeros(1, 1, 8, 8), z=torch.zeros(2, 3))
    with pytest.raises(ValueError, match="either reference or z"):
        colorizer.colorize(
            torch.zeros(1, 1, 8, 8), reference=torch.zeros(1, 3, 8, 8), z=torch.zeros(1, 8)
        )
    with pytest.raises(ValueError, match="n=3 applies to random codes only"):
        colorizer.colorize(torch.zeros(1, 1, 8, 8), z=torch.zeros(1, 8), n=3)
    with pytest.raises(ValueError, match="n must be at least 1"):
        colorizer.sample_codes(0, 1)
    with pytest.raises(ValueError, match="corners must be 2 or 4"):
        colorizer.interpolation_codes(corners=3)
    with pytest.raises(ValueError, match="steps must be at least 2"):
        colorizer.interpolation_codes(steps=1)


def test_a_bundle_trained_on_an_unknown_halftone_method_is_refused(tiny_bundle: Path) -> None:
    bundle = load_bundle(tiny_bundle)
    bundle.meta["halftone_methods"] = ["mezzotint"]
    bundle.meta["reverse_halftone"] = "mezzotint"
    with pytest.raises(WeightsError, match="halftone method 'mezzotint' is unknown"):
        Colorizer(bundle, device="cpu")


def test_the_reverse_cascade_uses_the_bundles_reverse_halftone(tiny_bundle: Path) -> None:
    bundle = load_bundle(tiny_bundle)
    bundle.meta["halftone_methods"] = ["floyd-steinberg", "clustered"]
    bundle.meta["reverse_halftone"] = "atkinson"
    assert Colorizer(bundle, device="cpu").halftone_method == "atkinson"
    del bundle.meta["reverse_halftone"]  # older bundles: the first training method
    assert Colorizer(bundle, device="cpu").halftone_method == "floyd-steinberg"


def test_device_and_precision_names() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(UsageError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    with pytest.raises(UsageError, match="cuda:0"):
        resolve_device("cuda:x")
    with pytest.raises(UsageError, match=r"unknown precision 'fp64'.*auto, fp32, bf16, fp16"):
        resolve_precision("fp64", torch.device("cpu"))
    auto = resolve_precision("auto", torch.device("cpu"))
    assert auto.descreen is None  # full-resolution luminance always in fp32 on the CPU
    assert auto.colorize == (torch.bfloat16 if cpu_has_native_bf16() else None)
    assert resolve_precision("bf16", torch.device("cpu")).descreen == torch.bfloat16


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown without CUDA")
def test_asking_for_cuda_without_it_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match=r"no CUDA device is available; use device='cpu'$"):
        resolve_device("cuda")


def test_out_of_memory_halves_the_tile_on_cuda_and_is_one_error_on_cpu(
    colorizer: Colorizer, monkeypatch: pytest.MonkeyPatch
) -> None:
    halftone = _halftone(20, 20)
    attempts: list[int] = []

    def run_tiled_out_of_memory_once(*args: object, tile: int, **kwargs: object) -> torch.Tensor:
        attempts.append(tile)
        if len(attempts) == 1:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return torch.zeros(1, 1, 20, 20)

    monkeypatch.setattr(colorizer_module, "run_tiled", run_tiled_out_of_memory_once)
    monkeypatch.setattr(colorizer_module.torch.cuda, "empty_cache", lambda: None)
    monkeypatch.setattr(colorizer, "tile_size", 1024)
    monkeypatch.setattr(colorizer, "device", torch.device("cuda"))
    colorizer.descreen(halftone)
    assert attempts == [1024, 512] and colorizer.tile_size == 512

    monkeypatch.setattr(colorizer, "device", torch.device("cpu"))
    attempts.clear()
    with pytest.raises(HalftintError, match="out of memory on cpu even with 512-pixel tiles"):
        colorizer.descreen(halftone)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_itself_and_roughly_the_cpu(tiny_bundle: Path) -> None:
    halftone = _halftone(70, 90)
    on_cuda = Colorizer(load_bundle(tiny_bundle), device="cuda", precision="fp32")
    first = on_cuda.colorize(halftone, seed=1, n=2)
    assert first.device == halftone.device
    assert torch.equal(on_cuda.colorize(halftone, seed=1, n=2), first)
    on_cpu = Colorizer(load_bundle(tiny_bundle), device="cpu", precision="fp32")
    assert (on_cpu.colorize(halftone, seed=1, n=2) - first).abs().mean() < 0.01


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_colorizer_leaves_a_cpu_one_on_the_same_bundle_alone(tiny_bundle: Path) -> None:
    bundle = load_bundle(tiny_bundle)
    halftone = _halftone(40, 48)
    on_cpu = Colorizer(bundle, device="cpu", precision="fp32")
    expected = on_cpu.colorize(halftone, seed=1)
    on_cuda = Colorizer(bundle, device="cuda", precision="bf16")
    assert on_cuda.colorize(halftone, seed=1).shape == expected.shape
    assert torch.equal(on_cpu.colorize(halftone, seed=1), expected)


# --- screen handling ----------------------------------------------------------------------------


def _screen_print(period: float, size: int = 256) -> torch.Tensor:
    y, x = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    gray = (0.5 + 0.3 * torch.sin(x / 23.0) * torch.cos(y / 31.0)).float()[None, None]
    return dither(gray, "clustered", lpi=600 / period, dpi=600, angle=45)


def test_a_coarse_screen_is_resized_into_the_trained_range(colorizer: Colorizer) -> None:
    # the tiny bundle records no periods: the default range applies
    assert colorizer.screen_periods == colorizer_module.DEFAULT_SCREEN_PERIODS
    coarse = _screen_print(16.0)
    factor = colorizer.screen_factor(coarse)
    assert factor == pytest.approx(colorizer.screen_periods[1] / 16.0, rel=0.05)
    assert colorizer.screen_factor(coarse, "none") == 1.0
    assert colorizer.screen_factor(coarse, 20.0) == colorizer.screen_periods[1] / 20.0
    assert colorizer.screen_factor(_screen_print(6.0)) == 1.0
    assert colorizer.screen_factor(_halftone(128, 128)) == 1.0
    gray = colorizer.descreen(coarse)
    assert gray.shape == coarse.shape and 0.0 <= float(gray.min()) <= float(gray.max()) <= 1.0
    assert not torch.equal(gray, colorizer.descreen(coarse, screen="none"))


@pytest.mark.parametrize("bad", ["bogus", 0.0, -3.0, float("nan")])
def test_bad_screen_settings_are_refused(colorizer: Colorizer, bad: object) -> None:
    with pytest.raises(ValueError, match="screen"):
        colorizer.screen_factor(_screen_print(6.0), bad)  # type: ignore[arg-type]


def test_a_cuda_device_without_bf16_is_refused_in_neutral_words(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from halftint.cli.common import error_text
    from halftint.errors import UsageError
    from halftint.pipeline.device import resolve_precision

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    with pytest.raises(UsageError) as caught:
        resolve_precision("bf16", torch.device("cuda", 0))
    assert str(caught.value) == "cuda:0 does not support bf16; use precision='fp16' or fp32"
    assert error_text(caught.value) == "cuda:0 does not support bf16; use --precision fp16 or fp32"


def test_random_colors_take_the_spread_of_a_training_photo(
    tiny_bundle: Path, tmp_path: Path
) -> None:
    from halftint.checkpoint import save_bundle
    from halftint.color import chroma_statistics

    original = load_bundle(tiny_bundle)
    spreads = [(0.03, 0.015), (0.012, 0.035)]
    folder = save_bundle(
        tmp_path / "with-spreads",
        original.networks,
        preset="tiny",
        working_size=original.working_size,
        halftone_methods=["floyd-steinberg"],
        data="test",
        photo_spreads=spreads,
    )
    colorizer = Colorizer(load_bundle(folder), device="cpu")
    assert colorizer.photo_spreads is not None
    assert torch.allclose(colorizer.photo_spreads, torch.tensor(spreads))
    halftone = _halftone(32, 32)  # at the working size: what is matched is what comes out
    prepared = colorizer.prepare(halftone)
    colors = RandomColors(n=6, seed=3)
    taken = colors.photos(2)
    matched = prepared.colorize(colors, keep_luma=False)
    plain = prepared.colorize(RandomColors(n=6, seed=3, spread="none"), keep_luma=False)
    assert torch.equal(
        plain, prepared.colorize(CodeColors(colorizer.sample_codes(6, 3)), keep_luma=False)
    )
    before, after = chroma_statistics(plain), chroma_statistics(matched)
    # each sample takes its photo's spread (Cb wider than Cr for photo 0, narrower for photo
    # 1; the tiny random networks' own are about equal), its mean color kept
    assert set(taken.tolist()) == {0, 1}
    wider_cb = after[:, 2] > after[:, 3]
    assert torch.equal(wider_cb, taken == 0)
    assert torch.all((before[:, 2] - before[:, 3]).abs() < 0.003)
    assert torch.allclose(after[:, :2], before[:, :2], atol=0.01)
    # slices take the photos of the whole
    assert torch.allclose(
        prepared.colorize(colors, start=2, stop=4, keep_luma=False), matched[2:4], atol=1e-5
    )
    # a bundle without spreads (the tiny one) keeps the networks' colors
    bare = Colorizer(original, device="cpu")
    assert bare.photo_spreads is None
    bare_prepared = bare.prepare(halftone)
    assert torch.equal(
        bare_prepared.colorize(RandomColors(n=2, seed=3)),
        bare_prepared.colorize(RandomColors(n=2, seed=3, spread="none")),
    )
