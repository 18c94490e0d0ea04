"""Halftoning library: binary output, tone, exactness against references, screens, seeds."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from halftint.halftone import (
    ERROR_DIFFUSION_METHODS,
    METHODS,
    ORDERED_METHODS,
    dither,
    dither_color,
)
from halftint.halftone.bluenoise import MASK_SIZE, blue_noise_thresholds, void_and_cluster
from halftint.halftone.clustered import SPOTS, screen_thresholds
from halftint.halftone.kernels import KERNELS
from halftint.halftone.ordered import bayer_matrix

FIELD = 128


def _random_image(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).random((height, width)).astype(np.float32)


# --- every method -------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_output_is_binary_and_keeps_shape_and_dtype(method: str, dtype: type) -> None:
    image = _random_image(37, 53, seed=1).astype(dtype)
    result = dither(image, method, seed=0)
    assert result.shape == (37, 53)
    assert result.dtype == dtype
    assert set(np.unique(result).tolist()) == {0.0, 1.0}


@pytest.mark.parametrize("method", METHODS)
def test_black_and_white_stay_black_and_white(method: str) -> None:
    assert dither(np.zeros((20, 30)), method, seed=0).max() == 0.0
    assert dither(np.ones((20, 30)), method, seed=0).min() == 1.0


def _tone_tolerance(method: str, gray: float) -> float:
    """How far the share of white may stray from the gray level on a 128x128 flat field."""
    if method == "atkinson":
        # passes on only 6/8 of the error, by design: tones drift towards black and white away
        # from mid-gray (measured 7.6 % at quarter tones), while mid-gray stays exact by symmetry
        return 0.01 if gray == 0.5 else 0.09
    if method in ERROR_DIFFUSION_METHODS:
        # only the error pushed off the right and bottom edges is lost: under 1 % here
        return 0.01
    if method in ORDERED_METHODS:
        # a Bayer matrix of n x n has n² + 1 levels; a field of whole tiles rounds to the nearest
        size = int(method.removeprefix("bayer"))
        return 0.5 / size**2 + 1e-9
    if method == "blue-noise":
        return 0.5 / MASK_SIZE**2 + 1e-9
    if method == "clustered":
        # about 18 x 18 dots of ~50 pixels each, cut at the borders: a dot's pixels quantise
        # its tone to ~2 %, averaged over the field to well under that
        return 0.02
    # random: five standard deviations of a binomial share
    return 5 * math.sqrt(gray * (1 - gray) / FIELD**2)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("gray", [0.25, 0.5, 0.75])
def test_mean_tone_is_preserved_on_flat_fields(method: str, gray: float) -> None:
    result = dither(np.full((FIELD, FIELD), gray), method, seed=7)
    assert abs(result.mean() - gray) <= _tone_tolerance(method, gray)


def test_unknown_method_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown halftone method 'nope'; valid: floyd-steinberg"):
        dither(np.zeros((4, 4)), "nope")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lpi": 0.0}, "lpi must be > 0"),
        ({"lpi": 301.0, "dpi": 600.0}, "at most dpi/2 = 300"),
        ({"dpi": -5.0}, "dpi must be a positive number"),
        ({"angle": float("nan")}, "angle must be between -360 and 360"),
        ({"spot": "star"}, "unknown spot shape 'star'; valid: round, ellipse, square, line"),
    ],
)
def test_bad_screen_parameters_are_refused(options: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dither(np.zeros((4, 4)), "clustered", **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((4, 4), dtype=np.int32), r"expects a float array in \[0, 1\] or a uint8 one"),
        (np.zeros(4), r"got shape \(4,\)"),
        (np.zeros((0, 4), dtype=np.uint8), "empty image"),
        (np.full((4, 4), np.nan), "NaN or infinite"),
        (np.zeros((0, 4)), "empty image"),
    ],
)
def test_bad_arrays_are_refused(image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dither(image)


def test_a_batch_is_the_same_as_one_image_at_a_time() -> None:
    batch = np.stack([_random_image(24, 33, seed) for seed in range(3)])
    together = dither(batch[None], "jarvis")
    assert together.shape == (1, 3, 24, 33)
    for index in range(3):
        np.testing.assert_array_equal(together[0, index], dither(batch[index], "jarvis"))


def test_importing_the_halftoner_does_not_import_torch() -> None:
    code = "import sys, halftint.halftone; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_torch_batches_keep_shape_dtype_and_match_numpy() -> None:
    torch = pytest.importorskip("torch")
    images = torch.rand(
        2, 1, 19, 27, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    result = dither(images, "floyd-steinberg")
    assert isinstance(result, torch.Tensor)
    assert result.shape == (2, 1, 19, 27)
    assert result.dtype == torch.float64
    expected = dither(images.numpy().astype(np.float32), "floyd-steinberg")
    np.testing.assert_array_equal(result.numpy(), expected)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\) tensor, got shape \(2, 3, 5, 5\)"):
        dither(torch.zeros(2, 3, 5, 5))


# --- error diffusion ----------------------------------------------------------------------


def _floyd_steinberg_reference(image: np.ndarray, serpentine: bool) -> np.ndarray:
    """Textbook Floyd–Steinberg on nested lists, one pixel at a time."""
    height, width = image.shape
    values = [[float(v) for v in row] for row in image]
    out = [[0.0] * width for _ in range(height)]
    for y in range(height):
        backwards = serpentine and y % 2 == 1
        step = -1 if backwards else 1
        for x in range(width - 1, -1, -1) if backwards else range(width):
            old = values[y][x]
            new = 1.0 if old >= 0.5 else 0.0
            out[y][x] = new
            error = old - new
            for dy, dx, weight in ((0, step, 7), (1, -step, 3), (1, 0, 5), (1, step, 1)):
                if 0 <= y + dy < height and 0 <= x + dx < width:
                    values[y + dy][x + dx] += error * weight / 16
    return np.array(out)


@pytest.mark.parametrize("serpentine", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_floyd_steinberg_equals_a_plain_python_reference(serpentine: bool, seed: int) -> None:
    image = _random_image(23, 31, seed)
    expected = _floyd_steinberg_reference(image, serpentine)
    result = dither(image, "floyd-steinberg", serpentine=serpentine)
    np.testing.assert_array_equal(result, expected)


def test_serpentine_changes_the_pattern() -> None:
    image = np.full((32, 32), 0.3)
    raster = dither(image, "floyd-steinberg", serpentine=False)
    assert not np.array_equal(raster, dither(image, "floyd-steinberg", serpentine=True))


def _kernel_reference(image: np.ndarray, method: str, serpentine: bool) -> np.ndarray:
    """Any kernel of the table, one pixel at a time, mirrored on backward rows."""
    kernel = KERNELS[method]
    height, width = image.shape
    values = image.astype(np.float64).tolist()
    out = np.zeros((height, width))
    for y in range(height):
        backwards = serpentine and y % 2 == 1
        for x in range(width - 1, -1, -1) if backwards else range(width):
            out[y, x] = 1.0 if values[y][x] >= 0.5 else 0.0
            error = values[y][x] - out[y, x]
            for dy, dx, numerator in kernel.taps:
                tx = x - dx if backwards else x + dx
                if y + dy < height and 0 <= tx < width:
                    values[y + dy][tx] += error * (numerator / kernel.divisor)
    return out


@pytest.mark.parametrize("method", ERROR_DIFFUSION_METHODS)
def test_every_kernel_equals_the_reference_loop(method: str) -> None:
    image = _random_image(17, 21, seed=5)
    for serpentine in (False, True):
        expected = _kernel_reference(image, method, serpentine)
        np.testing.assert_array_equal(dither(image, method, serpentine=serpentine), expected)


@pytest.mark.parametrize("method", ERROR_DIFFUSION_METHODS)
def test_kernel_weights_sum_to_one_and_point_forward(method: str) -> None:
    kernel = KERNELS[method]
    expected = 6 / 8 if method == "atkinson" else 1.0
    assert kernel.total_weight == pytest.approx(expected, abs=1e-12)
    # error may only go to pixels not yet visited: right on this row, or any lower row
    assert all(row > 0 or (row == 0 and column > 0) for row, column, _ in kernel.taps)


def test_error_diffusion_methods_are_the_kernel_table() -> None:
    assert set(ERROR_DIFFUSION_METHODS) == set(KERNELS)
    assert set(METHODS) == {
        *KERNELS, "bayer2", "bayer4", "bayer8", "bayer16", "clustered", "blue-noise", "random"
    }  # fmt: skip


# --- ordered dither -----------------------------------------------------------------------

BAYER_2 = [[0, 2], [3, 1]]
BAYER_4 = [
    [0, 8, 2, 10],
    [12, 4, 14, 6],
    [3, 11, 1, 9],
    [15, 7, 13, 5],
]
BAYER_8 = [
    [0, 32, 8, 40, 2, 34, 10, 42],
    [48, 16, 56, 24, 50, 18, 58, 26],
    [12, 44, 4, 36, 14, 46, 6, 38],
    [60, 28, 52, 20, 62, 30, 54, 22],
    [3, 35, 11, 43, 1, 33, 9, 41],
    [51, 19, 59, 27, 49, 17, 57, 25],
    [15, 47, 7, 39, 13, 45, 5, 37],
    [63, 31, 55, 23, 61, 29, 53, 21],
]
BAYER_16_FIRST_ROW = [0, 128, 32, 160, 8, 136, 40, 168, 2, 130, 34, 162, 10, 138, 42, 170]


def _bayer_closed_form(size: int) -> np.ndarray:
    """Bayer's index by bit interleaving: reversed bits of (x xor y, y), pairwise."""
    bits = size.bit_length() - 1
    matrix = np.zeros((size, size), dtype=np.int64)
    for y in range(size):
        for x in range(size):
            value = 0
            for bit in range(bits):
                value = (value << 2) | ((((x ^ y) >> bit) & 1) << 1) | ((y >> bit) & 1)
            matrix[y, x] = value
    return matrix


@pytest.mark.parametrize(("size", "literal"), [(2, BAYER_2), (4, BAYER_4), (8, BAYER_8)])
def test_bayer_matrices_equal_literal_arrays(size: int, literal: list[list[int]]) -> None:
    np.testing.assert_array_equal(bayer_matrix(size), np.array(literal))


def test_bayer_16_equals_its_closed_form() -> None:
    matrix = bayer_matrix(16)
    assert matrix[0].tolist() == BAYER_16_FIRST_ROW
    np.testing.assert_array_equal(matrix, _bayer_closed_form(16))
    assert sorted(matrix.ravel().tolist()) == list(range(256))


def test_bayer_dither_is_the_tiled_matrix() -> None:
    # thresholds are (rank + 0.5) / 16: gray 5.7/16 lies between those of ranks 5 and 6, so
    # exactly the pixels of rank 0..5 are white, in every tile
    result = dither(np.full((8, 12), 5.7 / 16), "bayer4")
    expected = np.tile(np.array(BAYER_4) <= 5, (2, 3))
    np.testing.assert_array_equal(result, expected)


# --- clustered screens --------------------------------------------------------------------


def _dominant_frequency(halftone: np.ndarray) -> tuple[float, float]:
    """Period (pixels) and angle (degrees, mod 90) of the strongest non-DC spectral peak."""
    size = halftone.shape[0]
    window = np.hanning(size)[:, None] * np.hanning(size)[None, :]
    spectrum = np.abs(np.fft.fftshift(np.fft.fft2((halftone - halftone.mean()) * window)))
    centre = size // 2
    spectrum[centre - 3 : centre + 4, centre - 3 : centre + 4] = 0.0
    row, column = np.unravel_index(np.argmax(spectrum), spectrum.shape)

    # parabolic refinement of the peak position along both axes
    def refine(before: float, peak: float, after: float) -> float:
        return 0.5 * (before - after) / (before - 2 * peak + after)

    fy = (row - centre + refine(*spectrum[row - 1 : row + 2, column])) / size
    fx = (column - centre + refine(*spectrum[row, column - 1 : column + 2])) / size
    period = 1.0 / math.hypot(fx, fy)
    # image rows grow downwards: a counter-clockwise screen has its peak at -fy
    angle = math.degrees(math.atan2(-fy, fx)) % 90.0
    return period, angle


@pytest.mark.parametrize(
    ("lpi", "dpi", "angle"), [(85.0, 600.0, 45.0), (100.0, 600.0, 30.0), (60.0, 600.0, 15.0)]
)
def test_clustered_screen_period_and_angle_are_recovered_by_fft(
    lpi: float, dpi: float, angle: float
) -> None:
    halftone = dither(np.full((512, 512), 0.3), "clustered", lpi=lpi, dpi=dpi, angle=angle)
    period, found_angle = _dominant_frequency(halftone)
    assert period == pytest.approx(dpi / lpi, rel=0.02)
    difference = abs(found_angle - angle % 90.0)
    assert min(difference, 90.0 - difference) < 1.0


@pytest.mark.parametrize("spot", SPOTS)
def test_every_spot_shape_keeps_the_tone(spot: str) -> None:
    for gray in (0.2, 0.5, 0.8):
        result = dither(np.full((FIELD, FIELD), gray), "clustered", spot=spot, angle=20.0)
        assert abs(result.mean() - gray) < 0.02


def test_clustered_dots_grow_from_the_cell_centre() -> None:
    # at 600 dpi and 100 lpi with no angle, cells are 6x6 pixels starting at the origin: the
    # darkest threshold (first to ink) sits at the cell centre, the lightest at its corner
    thresholds = screen_thresholds(6, 6, lpi=100.0, dpi=600.0, angle=0.0, spot="round")
    assert thresholds[2:4, 2:4].min() == thresholds.max()
    assert thresholds[0, 0] == thresholds.min()


# --- blue noise ---------------------------------------------------------------------------


def test_void_and_cluster_ranks_every_pixel_once_and_deterministically() -> None:
    ranks = void_and_cluster(16, seed=3)
    assert sorted(ranks.ravel().tolist()) == list(range(256))
    np.testing.assert_array_equal(ranks, void_and_cluster(16, seed=3))
    assert blue_noise_thresholds().shape == (MASK_SIZE, MASK_SIZE)


def _low_frequency_power(halftone: np.ndarray) -> float:
    spectrum = np.abs(np.fft.fft2(halftone - halftone.mean())) ** 2
    frequencies = np.fft.fftfreq(halftone.shape[0])
    radius = np.hypot(frequencies[:, None], frequencies[None, :])
    return float(spectrum[(radius > 0) & (radius < 0.1)].sum() / spectrum.sum())


def test_blue_noise_has_little_low_frequency_power() -> None:
    # white noise spreads power evenly (~3 % below radius 0.1); blue noise pushes it outwards
    field = np.full((128, 128), 0.25)
    assert _low_frequency_power(dither(field, "random", seed=0)) > 0.02
    assert _low_frequency_power(dither(field, "blue-noise")) < 0.005


# --- seeds --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["random", "clustered", "blue-noise", "bayer8"])
def test_same_seed_same_bytes_different_seed_different(method: str) -> None:
    image = _random_image(64, 64, seed=9)
    first = dither(image, method, seed=11)
    assert first.tobytes() == dither(image, method, seed=11).tobytes()
    assert first.tobytes() != dither(image, method, seed=12).tobytes()


def test_error_diffusion_ignores_the_seed() -> None:
    image = _random_image(16, 16, seed=2)
    np.testing.assert_array_equal(dither(image, seed=1), dither(image, seed=2))


# --- color --------------------------------------------------------------------------------


def test_rgb_channels_are_halftoned_separately() -> None:
    rgb = np.random.default_rng(4).random((3, 20, 24))
    result = dither_color(rgb, "sierra", cmyk=False)
    for channel in range(3):
        np.testing.assert_array_equal(result[channel], dither(rgb[channel], "sierra"))
    channels_last = dither_color(np.moveaxis(rgb, 0, -1), "sierra", cmyk=False, channel_axis=-1)
    np.testing.assert_array_equal(np.moveaxis(channels_last, -1, 0), result)


@pytest.mark.parametrize(
    ("color", "expected"),
    [
        ((1.0, 1.0, 1.0), (1, 1, 1)),  # paper
        ((0.0, 0.0, 0.0), (0, 0, 0)),  # black ink
        ((1.0, 0.0, 0.0), (1, 0, 0)),  # magenta + yellow
        ((0.0, 1.0, 1.0), (0, 1, 1)),  # cyan
    ],
)
def test_cmyk_separation_of_pure_colors(
    color: tuple[float, ...], expected: tuple[int, ...]
) -> None:
    rgb = np.broadcast_to(np.array(color)[:, None, None], (3, 32, 32)).copy()
    result = dither_color(rgb, "clustered")
    for channel in range(3):
        assert (result[channel] == expected[channel]).all()


def test_cmyk_gray_uses_black_ink_only() -> None:
    result = dither_color(np.full((3, 96, 96), 0.6), "clustered")
    np.testing.assert_array_equal(result[0], result[1])
    np.testing.assert_array_equal(result[1], result[2])
    assert abs(result.mean() - 0.6) < 0.02


def test_cmyk_plates_use_different_screen_angles() -> None:
    # equal cyan and magenta coverage at different angles: the two plates differ
    rgb = np.stack([np.full((64, 64), 0.4), np.full((64, 64), 0.4), np.ones((64, 64))])
    result = dither_color(rgb, "clustered")
    assert not np.array_equal(result[0], result[1])
    assert (result[2] == 1).all()


def test_color_needs_three_channels() -> None:
    with pytest.raises(ValueError, match=r"3 channels on axis -3, got shape \(20, 24, 3\)"):
        dither_color(np.zeros((20, 24, 3)))


def test_numba_caches_its_kernels_in_the_user_cache_not_the_package(tmp_path: Path) -> None:
    """A cache folder inside an installed package outlives `pip uninstall` and then shadows a
    later editable install; the kernels go to the user's cache folder instead."""
    moved = ("NUMBA_CACHE_DIR", "HALFTINT_CACHE_DIR")
    environment = {key: value for key, value in os.environ.items() if key not in moved} | {
        "XDG_CACHE_HOME": str(tmp_path / "cache")
    }
    code = (
        "import numpy as np, os\n"
        "from halftint.halftone import dither\n"
        # large enough to be compiled (smaller images run interpreted, see halftone.jit)
        "dither(np.full((512, 512), 0.5, np.float32), 'floyd-steinberg')\n"
        "print(os.environ['NUMBA_CACHE_DIR'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environment, check=False
    )
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "cache" / "halftint" / "numba"
    assert result.stdout.strip() == str(folder)
    assert any(folder.rglob("*.nbi")), "no numba index written to the user cache"


def _python(code: str) -> str:
    """stdout of `code` run by a fresh interpreter, which must succeed."""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_small_images_halftone_without_loading_numba() -> None:
    """numba costs a process about a second before its first compiled call; a small image is
    halftoned by the same loop interpreted, and numba is never imported."""
    code = (
        "import sys, numpy as np\n"
        "from halftint.halftone import dither\n"
        "dither(np.full((96, 128), 0.3, np.float32), 'floyd-steinberg')\n"
        "print('numba' in sys.modules)\n"
    )
    assert _python(code).strip() == "False"


@pytest.mark.parametrize("name", ERROR_DIFFUSION_METHODS)
def test_interpreted_and_compiled_error_diffusion_give_the_same_bits(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from halftint.halftone import errordiffusion, jit

    interpreted = jit.Kernel(errordiffusion._diffuse)
    compiled = jit.Kernel(errordiffusion._diffuse, cache=True, nogil=True)
    compiled.compiled()
    levels = np.random.default_rng(7).integers(0, 256, (2, 23, 31), dtype=np.uint8)
    for images in (levels, levels.astype(np.float32) / np.float32(255)):
        for serpentine in (True, False):
            results = []
            for kernel in (interpreted, compiled):
                monkeypatch.setattr(errordiffusion, "_diffuse_kernel", kernel)
                results.append(
                    errordiffusion.error_diffusion(images, KERNELS[name], serpentine=serpentine)
                )
            np.testing.assert_array_equal(results[0], results[1])
    assert interpreted._compiled is None and interpreted.interpreted_pixels == 4 * levels.size


def test_a_kernel_compiles_once_its_interpreted_budget_is_spent() -> None:
    from halftint.halftone import jit

    def add_one(values: np.ndarray) -> None:
        for i in range(values.shape[0]):
            values[i] += 1.0

    kernel = jit.Kernel(add_one)
    values = np.zeros(8)
    kernel(jit.INTERPRETED_CALL_PIXELS, values)
    assert kernel._compiled is None and kernel.interpreted_pixels == jit.INTERPRETED_CALL_PIXELS
    kernel(jit.INTERPRETED_CALL_PIXELS + 1, values)  # one call too large: compiled
    assert kernel._compiled is not None
    kernel(1, values)  # and compiled it stays
    assert kernel.interpreted_pixels == jit.INTERPRETED_CALL_PIXELS
    np.testing.assert_array_equal(values, np.full(8, 3.0))
    many = jit.Kernel(add_one)
    for _ in range(jit.INTERPRETED_TOTAL_PIXELS // 1000):
        many(1000, values)
    assert many._compiled is None
    many(1000, values)  # over the process's budget
    assert many._compiled is not None


def test_scipy_imports_normally_after_numba_started_without_it() -> None:
    pytest.importorskip("scipy")
    code = (
        "import sys, numpy as np\n"
        "from halftint.halftone import dither\n"
        "dither(np.full((512, 512), 0.5, np.float32), 'floyd-steinberg')\n"
        "print(sys.modules.get('scipy.linalg.cython_blas', 'absent'))\n"
        "import scipy.linalg.cython_blas\n"
        "print(sys.modules['scipy.linalg.cython_blas'] is not None)\n"
    )
    assert _python(code).split() == ["absent", "True"]


@pytest.mark.parametrize("method", METHODS)
def test_eight_bit_levels_halftone_as_their_float_values(method: str) -> None:
    levels = np.random.default_rng(3).integers(0, 256, (2, 37, 41), dtype=np.uint8)
    floats = levels.astype(np.float32) / np.float32(255)
    original = levels.copy()
    result = dither(levels, method, seed=5)
    assert result.dtype == np.uint8 and result.shape == levels.shape
    assert set(np.unique(result)) <= {0, 255}
    np.testing.assert_array_equal(result, dither(floats, method, seed=5).astype(np.uint8) * 255)
    np.testing.assert_array_equal(levels, original)  # the input is left as it was


def test_eight_bit_color_halftones_as_its_float_values() -> None:
    rgb = np.random.default_rng(4).integers(0, 256, (30, 20, 3), dtype=np.uint8)
    floats = rgb.astype(np.float32) / np.float32(255)
    for method in ("floyd-steinberg", "clustered"):
        result = dither_color(rgb, method, seed=1, channel_axis=-1)
        assert result.dtype == np.uint8 and set(np.unique(result)) <= {0, 255}
        expected = dither_color(floats, method, seed=1, channel_axis=-1).astype(np.uint8) * 255
        np.testing.assert_array_equal(result, expected)
