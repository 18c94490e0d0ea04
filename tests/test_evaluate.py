"""Quality measures against known values, the `--methods` syntax, the loop, and `halftint eval`.

The loop is checked with two colorizers whose right answers are known: an oracle that returns the
truth (every score must be perfect, every target met) and a collapsed one that ignores its code
(diversity must be exactly zero). `halftint eval` runs end to end in subprocesses, on three tiny
photos with the tiny random bundle of conftest.py.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from halftint.bundle import read_manifest, verified
from halftint.color import chroma_statistics, match_chroma
from halftint.coloring import CodeColors, ColorSource, RandomColors, Reference, ReferenceColors
from halftint.errors import UsageError
from halftint.evaluate.loop import (
    COLORIZATION_METHOD,
    EVEN_PRINT_SHAPE,
    EVEN_PRINT_TONES,
    SHEET_GAP,
    contact_sheet,
    evaluate,
)
from halftint.evaluate.measures import (
    CHROMA_BIN_WIDTH,
    CHROMA_BINS,
    GAUSSIAN_SIGMAS,
    center_crop,
    chroma_histogram,
    chroma_spread,
    colorfulness,
    delta_e,
    gaussian_descreen,
    histogram_distance,
    luma,
    ssim,
)
from halftint.evaluate.methods import DEFAULT_METHODS, HalftoneMethod, parse_methods
from halftint.evaluate.transfer import (
    color_table_transfer,
    mean_color_transfer,
    reference_pairs,
)
from halftint.io import read_image, write_image
from halftint.losses import PSNR_CAP, psnr
from halftint.match import DEFAULT_MATCH

SIZE = 24


def _photos(count: int = 3, size: int = SIZE) -> list[np.ndarray]:
    """Smooth, colorful, distinct test photos: gradients with a different hue each."""
    rows, columns = np.mgrid[0:size, 0:size].astype(np.float32) / (size - 1)
    photos = []
    for index in range(count):
        phase = 2.0 * np.pi * index / count
        red = 0.5 + 0.4 * np.sin(phase + 3.0 * rows)
        green = 0.5 + 0.4 * np.sin(phase + 2.0 + 3.0 * columns)
        blue = 0.5 + 0.4 * np.cos(phase + 2.0 * (rows + columns))
        photos.append(np.stack([red, green, blue], axis=2).astype(np.float32))
    return photos


# --- measures -------------------------------------------------------------------------------


def test_psnr_known_value_and_cap() -> None:
    truth = np.zeros((8, 8), dtype=np.float32)
    assert psnr(np.full((8, 8), 0.1), truth) == pytest.approx(20.0)
    assert psnr(truth, truth) == PSNR_CAP
    # a tiny but non-zero error stays below the cap, not infinity
    nearly = truth.copy()
    nearly[0, 0] = 1e-3
    assert 60.0 < psnr(nearly, truth) < PSNR_CAP


def test_measures_reject_mismatched_shapes_naming_them() -> None:
    with pytest.raises(ValueError, match=r"\(8, 8\) vs \(8, 9\)"):
        psnr(np.zeros((8, 8)), np.zeros((8, 9)))
    with pytest.raises(ValueError, match=r"\(H, W, 3\).*\(8, 8\)"):
        delta_e(np.zeros((8, 8)), np.zeros((8, 8)))


def test_ssim_is_one_for_identical_images_and_lower_otherwise() -> None:
    photo = _photos(1)[0]
    gray = luma(photo)
    assert ssim(gray, gray) == pytest.approx(1.0)
    assert ssim(photo, photo) == pytest.approx(1.0)
    noisy = np.clip(gray + np.random.default_rng(0).normal(0, 0.2, gray.shape), 0, 1)
    assert -1.0 <= ssim(noisy, gray) < 0.7


def test_delta_e_zero_for_identical_and_100_from_black_to_white() -> None:
    photo = _photos(1)[0]
    assert delta_e(photo, photo) == 0.0
    black = np.zeros((4, 4, 3))
    white = np.ones((4, 4, 3))
    # a pure lightness step at mean L* 50 has S_L = 1: ΔE2000 equals ΔL* exactly
    assert delta_e(black, white) == pytest.approx(100.0, abs=1e-3)


def test_colorfulness_gray_is_zero_and_red_green_split_is_known() -> None:
    assert colorfulness(np.full((6, 6, 3), 0.4)) == pytest.approx(0.0, abs=1e-9)
    split = np.zeros((6, 6, 3))
    split[:3, :, 0] = 1.0  # red half
    split[3:, :, 1] = 1.0  # green half
    # rg = ±255 (std 255, mean 0); yb = 127.5 everywhere (std 0): 255 + 0.3 * 127.5
    assert colorfulness(split) == pytest.approx(255.0 + 0.3 * 127.5)


def _uniform(red: float, green: float, blue: float) -> np.ndarray:
    return np.broadcast_to(np.array([red, green, blue]), (8, 8, 3)).copy()


def test_chroma_histogram_of_gray_sits_in_the_central_bins() -> None:
    gray = np.repeat(np.linspace(0, 1, 64).reshape(8, 8, 1), 3, axis=2)
    histogram = chroma_histogram(gray)
    assert histogram.shape == (2, CHROMA_BINS)
    assert histogram.sum(axis=1) == pytest.approx([1.0, 1.0])
    assert histogram[:, CHROMA_BINS // 2] == pytest.approx([1.0, 1.0])


def test_chroma_distance_is_in_lab_units_and_punishes_wrong_hues() -> None:
    gray = chroma_histogram(_uniform(0.5, 0.5, 0.5))
    red = chroma_histogram(_uniform(1.0, 0.0, 0.0))
    assert histogram_distance(red, red) == 0.0
    # sRGB red is Lab (53.2, 80.1, 67.2): gray is |a| + |b| away, to within a bin
    assert histogram_distance(gray, red) == pytest.approx(80.1 + 67.2, abs=2 * CHROMA_BIN_WIDTH)
    # an image of the opposite hue is farther from a green reference than no color at all
    green = chroma_histogram(_uniform(0.2, 0.6, 0.2))
    magenta = chroma_histogram(_uniform(0.6, 0.2, 0.6))
    assert histogram_distance(magenta, green) > 1.5 * histogram_distance(gray, green)


def test_gaussian_descreen_keeps_tone_and_shape() -> None:
    checkerboard = (np.indices((32, 32)).sum(axis=0) % 2).astype(np.float32)
    smooth = gaussian_descreen(checkerboard, 2.0)
    assert smooth.shape == (32, 32)
    assert np.allclose(smooth, 0.5, atol=1e-3)
    assert GAUSSIAN_SIGMAS[0] == 0.3 and GAUSSIAN_SIGMAS[-1] == 8.0


@pytest.mark.parametrize(("height", "width"), [(40, 64), (64, 40), (20, 20), (10, 16)])
def test_center_crop_is_square_in_range_and_centred(height: int, width: int) -> None:
    image = np.zeros((height, width, 3), dtype=np.float32)
    image[height // 2 - 1 : height // 2 + 1, width // 2 - 1 : width // 2 + 1] = 1.0
    crop = center_crop(image, 16)
    assert crop.shape == (16, 16, 3)
    assert crop.dtype == np.float32
    assert crop.min() >= 0.0 and crop.max() <= 1.0
    # the bright centre stays in the centre
    peak = np.unravel_index(np.argmax(crop[..., 0]), crop.shape[:2])
    assert all(abs(int(p) - 7.5) <= 1.5 for p in peak)


def test_luma_is_bt601() -> None:
    pixel = np.array([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]])
    assert luma(pixel) == pytest.approx(np.array([[0.299, 0.587, 0.114]]))


# --- the --methods syntax -------------------------------------------------------------------


def test_default_methods_are_three_error_diffusions_two_rulings_and_a_scan() -> None:
    labels = [method.label for method in parse_methods(DEFAULT_METHODS)]
    assert labels == [
        "floyd-steinberg",
        "jarvis",
        "atkinson",
        "clustered-150lpi@600dpi",
        "clustered-100lpi@600dpi",
        "clustered-100lpi@600dpi-30deg-scanned",
    ]


def test_a_scanned_print_is_no_longer_binary_and_repeats_with_its_seed() -> None:
    (method,) = parse_methods("clustered:lpi=100:dpi=600:scan=true")
    gray = np.full((64, 64), 0.4, dtype=np.float32)
    first = method.apply(gray, seed=3)
    assert first.shape == gray.shape and first.dtype == np.float32
    assert len(np.unique(first)) > 2 and 0.0 <= first.min() <= first.max() <= 1.0
    np.testing.assert_array_equal(first, method.apply(gray, seed=3))


def test_method_options_appear_in_labels() -> None:
    methods = parse_methods(
        " clustered:spot=ellipse:angle=30:lpi=85 , atkinson:serpentine=false,clustered,bayer8"
    )
    assert [method.label for method in methods] == [
        "clustered-85lpi@600dpi-30deg-ellipse",
        "atkinson-raster",
        "clustered-85lpi@600dpi",
        "bayer8",
    ]
    assert methods[0].options == (("angle", 30.0), ("lpi", 85.0), ("spot", "ellipse"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("floyd-steinberg,bogus", "unknown halftone method 'bogus'.*valid: floyd-steinberg"),
        ("clustered:lpi", "bad option 'lpi'.*OPTION=VALUE"),
        (
            "clustered:size=4",
            r"bad option 'size=4'.*serpentine \(error diffusion\), lpi, dpi, angle, spot "
            r"\(clustered\), scan \(any\)$",
        ),
        ("floyd-steinberg:lpi=85", "option lpi does not apply to floyd-steinberg"),
        ("clustered:lpi=abc", "bad value for lpi"),
        ("atkinson:serpentine=maybe", "maybe is not true or false"),
        ("clustered:lpi=400:dpi=600", "bad value in.*lpi must be"),
        ("clustered:spot=star", "bad value in.*unknown spot shape 'star'"),
        ("atkinson,atkinson", "lists atkinson twice"),
        # a library caller is told of the setting, the command line of its option (below)
        (" , ", "^methods is empty"),
    ],
)
def test_bad_method_lists_are_usage_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_methods(text)


def test_method_apply_is_binary_seeded_and_keeps_tone() -> None:
    gray = np.full((48, 48), 0.3, dtype=np.float32)
    for method in parse_methods("floyd-steinberg,clustered:lpi=150:dpi=600,random"):
        halftone = method.apply(gray, seed=7)
        assert halftone.shape == (48, 48) and halftone.dtype == np.float32
        assert set(np.unique(halftone).tolist()) <= {0.0, 1.0}
        assert halftone.mean() == pytest.approx(0.3, abs=0.06)
        assert np.array_equal(halftone, method.apply(gray, seed=7))


# --- the evaluation loop --------------------------------------------------------------------


Z_DIM = 8
# the oracle's encoder marks a photo's code with this offset plus its index: random codes from
# N(0, I) never come near it
PHOTO_CODE = 1000.0


class OracleColorizer:
    """Knows every photo: descreens to the gray truth and colorizes a photo's code with that
    photo's own colors; a random code tints the gray truth by its first three values."""

    def __init__(self, photos: list[np.ndarray], methods: list[HalftoneMethod], seed: int) -> None:
        self.photos = photos
        self.grays: dict[bytes, np.ndarray] = {}
        for method in [*methods, COLORIZATION_METHOD]:
            for index, photo in enumerate(photos):
                halftone = method.apply(luma(photo), seed + index)
                self.grays[halftone.tobytes()] = luma(photo)
        for tone in EVEN_PRINT_TONES:  # the even prints border bands are measured on
            even = np.full(EVEN_PRINT_SHAPE, tone, dtype=np.float32)
            self.grays[COLORIZATION_METHOD.apply(even, seed).tobytes()] = even

    def _gray(self, halftone: torch.Tensor) -> torch.Tensor:
        """The gray truth `(1, H, W)` of one `(1, H, W)` halftone."""
        assert halftone.shape[0] == 1 and halftone.dtype == torch.float32
        return torch.from_numpy(self.grays[halftone[0].numpy().tobytes()])[None]

    def descreen(self, halftone: torch.Tensor) -> torch.Tensor:
        return torch.stack([self._gray(one) for one in halftone])

    def encode(self, reference: torch.Tensor) -> torch.Tensor:
        assert reference.shape[1] == 3
        codes = torch.zeros(reference.shape[0], Z_DIM)
        for row, image in enumerate(reference.permute(0, 2, 3, 1).numpy()):
            index = next(i for i, photo in enumerate(self.photos) if np.array_equal(photo, image))
            codes[row, 0] = PHOTO_CODE + index
        return codes

    def reference(self, image: torch.Tensor) -> Reference:
        return Reference(code=self.encode(image), chroma=chroma_statistics(image))

    def prepare(self, halftone: torch.Tensor) -> _OraclePrepared:
        return _OraclePrepared(self, halftone)

    def _colorize(self, halftone: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        assert halftone.shape[0] == 1 and z is not None and z.shape[1] == Z_DIM
        gray = self._gray(halftone[0])
        outputs = []
        for code in z:
            if code[0] >= PHOTO_CODE:
                photo = self.photos[int(code[0] - PHOTO_CODE)]
                outputs.append(torch.from_numpy(photo).permute(2, 0, 1))
            else:
                outputs.append((gray + 0.3 * torch.tanh(code[:3, None, None])).clamp(0.0, 1.0))
        return torch.stack(outputs)


class _OraclePrepared:
    def __init__(self, colorizer: OracleColorizer, halftone: torch.Tensor) -> None:
        self.colorizer, self.halftone = colorizer, halftone

    def colorize(self, colors: ColorSource) -> torch.Tensor:
        if isinstance(colors, CodeColors):
            return self.colorizer._colorize(self.halftone, colors.z)
        if isinstance(colors, RandomColors):
            # as a bundle with photo spreads: every sample's chroma spread set to 0.05
            outputs = self.colorizer._colorize(self.halftone, colors.codes(Z_DIM))
            return match_chroma(outputs, torch.tensor([[0.05, 0.05]]), "spread")
        assert isinstance(colors, ReferenceColors)
        outputs = self.colorizer._colorize(self.halftone, colors.reference.code)
        return match_chroma(outputs, colors.reference.chroma, colors.match)


class CollapsedColorizer(OracleColorizer):
    """Ignores random codes: every random sample is the same image."""

    def _colorize(self, halftone: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        assert z is not None
        fixed = torch.where(z[:, :1] >= PHOTO_CODE, z, torch.full_like(z, 0.5))
        return super()._colorize(halftone, fixed)


class BandedColorizer(OracleColorizer):
    """The oracle, with a teal band along the bottom edge of every random coloring."""

    def _colorize(self, halftone: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        colors = super()._colorize(halftone, z)
        assert z is not None
        band = max(2, colors.shape[-2] // 25)
        random = z[:, 0] < PHOTO_CODE
        colors[random, :, -band:, :] += torch.tensor([-0.05, 0.03, 0.03]).view(1, 3, 1, 1)
        return colors.clamp(0.0, 1.0)


class GrayColorizer(OracleColorizer):
    """Networks that give no color at all: reference mode's color only comes from the match."""

    def _colorize(self, halftone: torch.Tensor, z: torch.Tensor | None) -> torch.Tensor:
        assert z is not None
        return self._gray(halftone[0]).expand(z.shape[0], 3, -1, -1).clone()


def test_oracle_scores_are_perfect_and_meet_every_target() -> None:
    photos = _photos(3)
    methods = parse_methods("floyd-steinberg,clustered:lpi=150:dpi=600")
    steps: list[tuple[int, int]] = []
    evaluation = evaluate(
        OracleColorizer(photos, methods, seed=5),
        photos,
        methods,
        seed=5,
        on_progress=lambda done, total: steps.append((done, total)),
    )
    assert evaluation.size == SIZE and evaluation.images == 3
    assert list(evaluation.descreen) == ["floyd-steinberg", "clustered-150lpi@600dpi"]
    for scores in evaluation.descreen.values():
        assert scores.psnr == PSNR_CAP and scores.ssim == pytest.approx(1.0)
        assert 5.0 < scores.gaussian_psnr < 60.0 and 0.0 < scores.gaussian_ssim < 1.0
        assert scores.gaussian_sigma in GAUSSIAN_SIGMAS
    colorization = evaluation.colorization
    assert colorization.halftone == "floyd-steinberg"
    # the networks' colors are the truth; moving them to the truth's own mean color changes
    # them by float rounding only
    assert colorization.network_psnr == PSNR_CAP and colorization.network_delta_e == 0.0
    assert colorization.psnr > 60.0 and colorization.ssim == pytest.approx(1.0)
    assert colorization.delta_e == pytest.approx(0.0, abs=1e-3)
    assert colorization.baseline_delta_e > 5.0 and colorization.baseline_psnr < PSNR_CAP
    assert colorization.diversity_delta_e > 5.0
    assert colorization.reference_fidelity == colorization.network_reference_fidelity == 1.0
    assert colorization.colorfulness == pytest.approx(colorization.truth_colorfulness, abs=1e-3)
    assert colorization.random_colorfulness > 0.0
    assert set(evaluation.targets) == {
        "descreen_gain:floyd-steinberg",
        "descreen_gain:clustered-150lpi@600dpi",
        "delta_e_ratio",
        "network_delta_e_ratio",
        "network_reference_fidelity",
        "reference_fidelity",
        "cross_spread_ratio",
        "cross_delta_e_excess",
        "diversity_delta_e",
        "random_spread_ratio",
        "random_border_band",
    }
    # an even print comes out one color to its edges
    assert colorization.random_border_band < 0.1 and colorization.network_random_border_band < 0.1
    # the oracle hands back the reference photo itself when given another photo's code, which
    # is not the truth; and its random samples are faint tints
    missed = {name for name, target in evaluation.targets.items() if not target.met}
    assert missed == {"cross_delta_e_excess", "random_spread_ratio"}
    cross = colorization.cross_reference
    assert list(cross) == [
        "model", "networks", "match_mean", "match_spread", "mean_color", "color_table", "no_color"
    ]  # fmt: skip
    assert cross["model"] == cross[f"match_{DEFAULT_MATCH}"]  # the default match
    assert cross["model"].reference_emd == pytest.approx(0.0, abs=1e-9)
    assert cross["no_color"].fidelity == 0.0 and cross["no_color"].chroma_spread == 0.0
    assert cross["no_color"].delta_e == pytest.approx(colorization.baseline_delta_e)
    # the reference's mean color is a cast: next to no spread; the luma table puts colors in places
    assert cross["mean_color"].chroma_spread < 0.1 * cross["color_table"].chroma_spread
    assert len(colorization.reference_pairs) == 3
    assert all(j != i for i, j in enumerate(colorization.reference_pairs))
    assert evaluation.targets["delta_e_ratio"].value == pytest.approx(0.0, abs=1e-4)
    # a step per photo per method (three photos descreen as one batch), then one per photo for
    # colorization, then one for the even prints
    assert steps == [(3, 10), (6, 10), (7, 10), (8, 10), (9, 10), (10, 10)]


def test_a_band_along_an_edge_of_random_colorings_misses_the_border_target() -> None:
    photos = _photos(2)
    methods = parse_methods("floyd-steinberg")
    evaluation = evaluate(BandedColorizer(photos, methods, seed=0), photos, methods)
    colorization = evaluation.colorization
    # about 0.05 * 0.5 / 0.713 * 255 = 9 Cr units from the red channel alone
    assert colorization.network_random_border_band > 5.0
    assert colorization.random_border_band > 5.0
    assert not evaluation.targets["random_border_band"].met
    assert evaluation.targets["diversity_delta_e"].met


def test_collapsed_model_has_zero_diversity_and_misses_that_target() -> None:
    photos = _photos(2)
    methods = parse_methods("atkinson")
    evaluation = evaluate(CollapsedColorizer(photos, methods, seed=0), photos, methods)
    assert evaluation.colorization.diversity_delta_e == 0.0
    assert not evaluation.targets["diversity_delta_e"].met
    # atkinson has no descreening goal; the others are still measured
    assert {"descreen_gain:atkinson", "delta_e_ratio", "diversity_delta_e"} <= set(
        evaluation.targets
    )


def test_colorless_networks_get_the_reference_mean_color_from_the_match() -> None:
    photos = [photo * np.asarray([1.0, 0.7, 0.4], dtype=np.float32) for photo in _photos(3)]
    methods = parse_methods("floyd-steinberg")
    colorization = evaluate(GrayColorizer(photos, methods, seed=0), photos, methods).colorization
    # gray networks score exactly the no-color baseline ...
    assert colorization.network_delta_e == pytest.approx(colorization.baseline_delta_e)
    assert colorization.network_colorfulness == 0.0
    assert colorization.network_reference_fidelity == 0.0
    # ... and the warm photos' mean color makes the matched output nearer the truth
    assert colorization.delta_e < 0.8 * colorization.baseline_delta_e
    assert colorization.reference_fidelity == 1.0 and colorization.colorfulness > 5.0


def test_results_are_deterministic_and_valid_strict_json() -> None:
    photos = _photos(3)
    methods = parse_methods("random,bayer4")
    runs = [
        evaluate(OracleColorizer(photos, methods, seed=1), photos, methods, seed=1).as_dict()
        for _ in range(2)
    ]
    assert runs[0] == runs[1]
    decoded = json.loads(json.dumps(runs[0], allow_nan=False))
    assert set(decoded) == {"size", "images", "methods", "colorization", "targets"}
    assert set(decoded["methods"]["random"]["descreen"]) == {
        "psnr",
        "ssim",
        "gaussian_psnr",
        "gaussian_ssim",
        "gaussian_sigma",
        "linear_psnr",
        "lut_psnr",
    }
    # the classical baselines are measured only when asked for (`baselines`)
    assert decoded["methods"]["random"]["descreen"]["lut_psnr"] is None
    assert {"value", "goal", "met", "rule"} <= set(decoded["targets"]["reference_fidelity"])


def test_sheets_hold_every_row_of_each_photo() -> None:
    photos = _photos(2)
    methods = parse_methods("floyd-steinberg,bayer2,atkinson")
    sheets: dict[int, np.ndarray] = {}
    evaluate(
        OracleColorizer(photos, methods, seed=0),
        photos,
        methods,
        samples=6,
        on_sheet=sheets.__setitem__,
    )
    assert sorted(sheets) == [0, 1]
    step = SIZE + SHEET_GAP
    # rows: colorizations, 6 samples, 3 methods; columns: the 6 samples are the widest row
    assert sheets[0].shape == (5 * step - SHEET_GAP, 6 * step - SHEET_GAP, 3)
    assert np.array_equal(sheets[1][:SIZE, :SIZE], photos[1])
    # the reference of photo 1 is photo 0 (the next one, wrapping), fourth tile of the first row
    assert np.array_equal(sheets[1][:SIZE, 3 * step : 3 * step + SIZE], photos[0])


def test_contact_sheet_pads_short_rows_with_white() -> None:
    tiles = [np.zeros((4, 4)), np.full((4, 4, 3), 0.5)]
    sheet = contact_sheet([tiles, tiles[:1]])
    assert sheet.shape == (8 + SHEET_GAP, 8 + SHEET_GAP, 3)
    assert np.all(sheet[4 + SHEET_GAP :, 4 + SHEET_GAP :] == 1.0)
    with pytest.raises(ValueError, match="sheet tiles must be 4"):
        contact_sheet([[np.zeros((4, 4)), np.zeros((5, 5))]])


def test_evaluate_needs_two_photos_of_one_square_size() -> None:
    photos = _photos(2)
    methods = parse_methods("bayer2")
    colorizer = OracleColorizer(photos, methods, seed=0)
    with pytest.raises(UsageError, match="at least 2 photos, got 1"):
        evaluate(colorizer, photos[:1], methods)
    with pytest.raises(ValueError, match="share one size"):
        evaluate(colorizer, [photos[0], _photos(1, size=SIZE + 2)[0]], methods)
    with pytest.raises(ValueError, match=r"square \(S, S, 3\).*\(24, 20, 3\)"):
        evaluate(colorizer, [photos[0], photos[1][:, :20]], methods)
    with pytest.raises(UsageError, match="at least 2 random samples"):
        evaluate(colorizer, photos, methods, samples=1)


def test_pairwise_diversity_matches_a_direct_computation() -> None:
    photos = _photos(2)
    methods = parse_methods("bayer2")
    colorizer = OracleColorizer(photos, methods, seed=3)
    evaluation = evaluate(colorizer, photos, methods, seed=3, samples=3)
    expected: dict[str, list[float]] = {"networks": [], "as run": []}
    for index in range(2):
        halftone = HalftoneMethod("floyd-steinberg").apply(luma(photos[index]), 3 + index)
        colors = RandomColors(3, seed=3 + index)
        prepared = colorizer.prepare(torch.from_numpy(halftone)[None, None])
        for kind, samples in (
            ("networks", prepared.colorize(CodeColors(colors.codes(Z_DIM)))),
            ("as run", prepared.colorize(colors)),
        ):
            images = samples.permute(0, 2, 3, 1).numpy()
            pairs = [delta_e(a, b) for a, b in itertools.combinations(images, 2)]
            expected[kind].append(float(np.mean(pairs)))
    scores = evaluation.colorization
    assert scores.network_diversity_delta_e == pytest.approx(np.mean(expected["networks"]))
    assert scores.diversity_delta_e == pytest.approx(np.mean(expected["as run"]))
    # the spread given to every sample changes them: the two measures differ
    assert abs(scores.diversity_delta_e - scores.network_diversity_delta_e) > 0.01
    assert scores.random_chroma_spread != scores.network_random_chroma_spread


# --- halftint eval, end to end --------------------------------------------------------------


def _run_eval(*args: str | Path) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
    environment.pop("HALFTINT_WEIGHTS", None)
    return subprocess.run(
        [sys.executable, "-m", "halftint", "eval", *map(str, args)],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        check=False,
    )


def _assert_one_line_error(result: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert result.returncode == code, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and text in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three small photos of different shapes, in a tree, plus a file that is no image."""
    folder = tmp_path_factory.mktemp("photos")
    photos = _photos(3, size=48)
    write_image(photos[0], folder / "a.png")
    write_image(photos[1][:, :40], folder / "b.jpg")  # portrait: cropped to the centre
    write_image(photos[2], folder / "more" / "c.png")
    (folder / "notes.txt").write_text("not a photo")
    return folder


@pytest.mark.slow
def test_eval_json_has_every_measure_in_range_and_writes_sheets(
    tiny_bundle: Path, photo_folder: Path, tmp_path: Path
) -> None:
    sheets = tmp_path / "sheets"
    arguments = (
        "--data", photo_folder, "--weights", tiny_bundle, "--json", "--out", sheets,
        "--fit-data", photo_folder,
    )  # fmt: skip
    result = _run_eval(*arguments)
    assert result.returncode == 0, result.stderr
    assert "Descreening vs the best Gaussian" in result.stderr  # the table goes to stderr
    results = json.loads(result.stdout)

    assert results["weights"]["preset"] == "tiny" and results["weights"]["working_size"] == 32
    assert results["size"] == 32 and results["images"] == 3
    assert list(results["methods"]) == [
        "floyd-steinberg",
        "jarvis",
        "atkinson",
        "clustered-150lpi@600dpi",
        "clustered-100lpi@600dpi",
        "clustered-100lpi@600dpi-30deg-scanned",
    ]
    assert "LUT PSNR" in result.stderr and "linear PSNR" in result.stderr
    for entry in results["methods"].values():
        scores = entry["descreen"]
        assert 0.0 < scores["linear_psnr"] <= PSNR_CAP and 0.0 < scores["lut_psnr"] <= PSNR_CAP
        assert 0.0 < scores["psnr"] <= PSNR_CAP and 0.0 < scores["gaussian_psnr"] <= PSNR_CAP
        assert -1.0 <= scores["ssim"] <= 1.0 and -1.0 <= scores["gaussian_ssim"] <= 1.0
        assert scores["gaussian_sigma"] in GAUSSIAN_SIGMAS
    colorization = results["colorization"]
    assert colorization["halftone"] == "floyd-steinberg"
    for key in ("psnr", "baseline_psnr"):
        assert 0.0 < colorization[key] <= PSNR_CAP
    for key in ("ssim", "baseline_ssim"):
        assert -1.0 <= colorization[key] <= 1.0
    for key in ("delta_e", "network_delta_e", "baseline_delta_e", "diversity_delta_e"):
        assert 0.0 <= colorization[key] <= 120.0
    assert 0.0 < colorization["network_psnr"] <= PSNR_CAP
    assert -1.0 <= colorization["network_ssim"] <= 1.0
    assert colorization["network_reference_fidelity"] in {0.0, 1 / 3, 2 / 3, 1.0}
    assert colorization["network_colorfulness"] >= 0.0
    # a random model still makes different samples from different codes
    assert colorization["diversity_delta_e"] > 0.0
    assert colorization["reference_fidelity"] in {0.0, 1 / 3, 2 / 3, 1.0}
    for key in ("colorfulness", "random_colorfulness", "truth_colorfulness"):
        assert colorization[key] >= 0.0
    assert colorization["truth_colorfulness"] > 20.0  # the test photos are colorful
    assert set(results["targets"]) == {
        "descreen_gain:floyd-steinberg",
        "descreen_gain:jarvis",
        "descreen_gain:atkinson",
        "descreen_gain:clustered-150lpi@600dpi",
        "descreen_gain:clustered-100lpi@600dpi",
        "descreen_gain:clustered-100lpi@600dpi-30deg-scanned",
        "delta_e_ratio",
        "network_delta_e_ratio",
        "network_reference_fidelity",
        "reference_fidelity",
        "cross_spread_ratio",
        "cross_delta_e_excess",
        "diversity_delta_e",
        "random_spread_ratio",
        "random_border_band",
    }
    for key in ("random_border_band", "network_random_border_band"):
        assert 0.0 <= colorization[key] <= 255.0
    assert "even prints: worst border band" in result.stderr
    assert set(colorization["cross_reference"]) == {
        "model", "networks", "match_mean", "match_spread", "mean_color", "color_table", "no_color"
    }  # fmt: skip
    for scores in colorization["cross_reference"].values():
        assert set(scores) == {
            "delta_e", "reference_emd", "fidelity", "chroma_spread", "colorfulness"
        }  # fmt: skip
        assert scores["fidelity"] in {0.0, 1 / 3, 2 / 3, 1.0} and scores["reference_emd"] >= 0.0
    # each photo's reference is another photo, printed by name and in the JSON
    pairs = {pair["photo"]: pair["reference"] for pair in results["reference_pairs"]}
    assert set(pairs) == {"a.png", "b.jpg", "more/c.png"}
    assert all(photo != reference for photo, reference in pairs.items())
    assert "Cross-reference" in result.stderr and "references: a.png ← " in result.stderr
    for target in results["targets"].values():
        assert isinstance(target["met"], bool) and isinstance(target["value"], float)

    written = sorted(path.relative_to(sheets).as_posix() for path in sheets.rglob("*"))
    assert written == ["a.eval.png", "b.eval.png", "more", "more/c.eval.png"]
    step = 32 + SHEET_GAP
    # rows: colorizations, 5 samples, 6 methods; 5 columns
    assert read_image(sheets / "a.eval.png").shape == (
        8 * step - SHEET_GAP,
        5 * step - SHEET_GAP,
        3,
    )

    # a second run is identical (fixed seeds) and leaves the existing sheets alone
    before = {path: path.read_bytes() for path in sheets.rglob("*.png")}
    (sheets / "a.eval.png").touch()
    again = _run_eval(*arguments)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == results
    assert again.stderr.count("use --overwrite to replace it") == 3
    assert {path: path.read_bytes() for path in sheets.rglob("*.png")} == before


@pytest.mark.slow
def test_eval_prints_the_table_and_reports_an_unreadable_photo(
    tiny_bundle: Path, photo_folder: Path, tmp_path: Path
) -> None:
    data = tmp_path / "photos"
    data.mkdir()
    for name in ("a.png", "b.jpg"):
        (data / name).write_bytes((photo_folder / name).read_bytes())
    (data / "broken.png").write_bytes((photo_folder / "a.png").read_bytes()[:60])
    result = _run_eval(
        "--data", data, "--weights", tiny_bundle, "--methods", "bayer4", "--size", "24", "-n", "3"
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert len(errors) == 1 and "broken.png" in errors[0]
    assert "2 photos at 24×24" in result.stdout
    assert "bayer4" in result.stdout and "reference_fidelity" in result.stdout


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (
            ("--methods", "floyd-steinberg,halftone"),
            2,
            "unknown halftone method 'halftone' in --methods",
        ),
        (("--methods", "clustered:lpi=900"), 2, "lpi must be"),
        (("--size", "8"), 2, "--size"),
        (("--size", "20000"), 2, "less than or equal to 2048"),
        (("--fit-data", "missing-folder"), 2, "--fit-data missing-folder is not a folder"),
        (("-n", "1"), 2, "--samples"),
    ],
)
def test_eval_usage_errors_are_one_line(
    photo_folder: Path, arguments: tuple[str, ...], code: int, message: str
) -> None:
    _assert_one_line_error(_run_eval("--data", photo_folder, *arguments), code, message)


def test_eval_needs_a_folder_with_two_photos(photo_folder: Path, tmp_path: Path) -> None:
    _assert_one_line_error(
        _run_eval("--data", photo_folder / "a.png"), 2, "is not a folder (give a folder"
    )
    single = tmp_path / "single"
    single.mkdir()
    (single / "a.png").write_bytes((photo_folder / "a.png").read_bytes())
    _assert_one_line_error(_run_eval("--data", single), 2, "eval needs at least 2")
    _assert_one_line_error(_run_eval("--data", tmp_path / "missing"), 2, "is not a folder")


def test_eval_help_renders_and_names_the_default_methods() -> None:
    result = _run_eval("--help")
    assert result.returncode == 0, result.stderr
    # help text wraps at hyphens too: join "floyd-" and "steinberg" again
    shown = re.sub(r"-\n\s+", "-", result.stdout)
    for entry in DEFAULT_METHODS.split(","):
        assert entry in shown
    assert "--data" in result.stdout and "--methods" in result.stdout


def test_eval_without_weights_says_how_to_get_them(photo_folder: Path, tmp_path: Path) -> None:
    result = _run_eval("--data", photo_folder, "--weights", tmp_path)
    _assert_one_line_error(result, 1, "not a halftint weights bundle")


@pytest.mark.slow
def test_record_stores_the_results_in_a_bundle_that_still_verifies(
    tiny_bundle: Path, photo_folder: Path, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    weights_before = (bundle / "ihn" / "model.safetensors").read_bytes()
    result = _run_eval("--data", photo_folder, "--weights", bundle, "--json", "--record")
    assert result.returncode == 0, result.stderr
    results = json.loads(result.stdout)

    verified(bundle)  # the model card changed, and so did its recorded sha256
    recorded = read_manifest(bundle).meta["metrics"]["eval"]
    assert recorded["images"] == 3 and recorded["data"] == photo_folder.name
    assert recorded["colorization"] == results["colorization"]
    assert recorded["targets"]["delta_e_ratio"] == results["targets"]["delta_e_ratio"]["value"]
    assert "eval.colorization.delta_e" in (bundle / "README.md").read_text()
    assert (bundle / "ihn" / "model.safetensors").read_bytes() == weights_before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bundle.")]


def test_record_needs_a_local_bundle_folder(photo_folder: Path) -> None:
    result = _run_eval("--data", photo_folder, "--weights", "hf://owner/repo", "--record")
    _assert_one_line_error(result, 2, "--record needs --weights FOLDER")


# --- classical baselines --------------------------------------------------------------------


def _smooth_grays(count: int, size: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:size, 0:size] / size
    return [
        (0.5 + 0.35 * np.sin(rng.uniform(2, 6) * x + rng.uniform(0, 6)) * np.cos(3 * y)).astype(
            np.float32
        )
        for _ in range(count)
    ]


def test_fitted_baselines_beat_the_blur_on_their_kind() -> None:
    from halftint.evaluate.baselines import LinearFilter, LookupTable

    (method,) = parse_methods("floyd-steinberg")
    train, test = _smooth_grays(12), _smooth_grays(3)[::-1]
    pairs = [(method.apply(gray, index), gray) for index, gray in enumerate(train)]
    linear, table = LinearFilter.fit(pairs), LookupTable.fit(pairs)
    assert linear.kernel.shape == (11, 11)
    assert abs(float(linear.kernel.sum()) + linear.bias - 1.0) < 0.1  # keeps the tone
    for index, gray in enumerate(test):
        halftone = method.apply(gray, 100 + index)
        blurred = psnr(gaussian_descreen(halftone, 1.2), gray)
        for estimate in (linear(halftone), table(halftone)):
            assert estimate.shape == gray.shape and estimate.dtype == np.float32
            assert 0.0 <= estimate.min() <= estimate.max() <= 1.0
            assert psnr(estimate, gray) > blurred


def test_an_even_linear_kernel_is_refused() -> None:
    from halftint.evaluate.baselines import LinearFilter

    with pytest.raises(ValueError, match="odd"):
        LinearFilter.fit([], size=4)


def test_chroma_spread_ignores_a_uniform_cast() -> None:
    cast = np.ones((8, 8, 3), np.float32) * np.asarray([0.8, 0.5, 0.2], np.float32)
    assert chroma_spread(cast) == pytest.approx(0.0, abs=1e-9) and colorfulness(cast) > 20.0
    halves = cast.copy()
    halves[:, 4:] = [0.2, 0.5, 0.8]
    assert chroma_spread(halves) > 50.0


def test_reference_pairs_take_the_nearest_other_photo() -> None:
    rng = np.random.default_rng(0)
    beach = rng.uniform(0.6, 1.0, (32, 32, 3)).astype(np.float32)
    night = rng.uniform(0.0, 0.3, (32, 32, 3)).astype(np.float32)
    beach_again = np.clip(beach + 0.02, 0.0, 1.0)
    dusk = np.clip(night + 0.1, 0.0, 1.0)
    assert reference_pairs([beach, night, beach_again, dusk]) == [2, 3, 0, 1]
    with pytest.raises(ValueError, match="at least 2 photos"):
        reference_pairs([beach])


def test_color_transfers_keep_the_luma_and_take_the_references_colors() -> None:
    # a reference blue in its shadows and yellow in its highlights
    ramp = np.linspace(0.05, 0.95, 64, dtype=np.float32)[None, :].repeat(16, axis=0)
    reference = np.stack([ramp, ramp, ramp], axis=2)
    reference[:, :32] += np.asarray([-0.03, -0.03, 0.15], np.float32)
    reference[:, 32:] += np.asarray([0.05, 0.05, -0.3], np.float32)
    reference = np.clip(reference, 0.0, 1.0)
    gray = np.linspace(0.1, 0.9, 40, dtype=np.float32)[None, :].repeat(8, axis=0)
    table = color_table_transfer(gray, reference)
    mean = mean_color_transfer(gray, reference)
    for result in (table, mean):
        assert result.shape == (8, 40, 3) and result.min() >= 0.0 and result.max() <= 1.0
        np.testing.assert_allclose(luma(result), gray, atol=2e-3)
    cb = table[..., 2] - luma(table)
    assert cb[:, :10].mean() > 0.02 and cb[:, -10:].mean() < -0.05  # blue shadows, yellow lights
    # the mean color: one cast for every pixel (the spread of a cast is next to nothing)
    assert chroma_spread(mean) < 0.2 * chroma_spread(table)
