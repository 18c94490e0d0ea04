"""`halftint colorize` and `halftint descreen` as a user runs them: real subprocesses, real files.

A tiny random-weight bundle stands in for trained weights, so colors are nonsense: the tests
check sizes, names, bytes on stdout, exit codes and messages, and luminance preservation.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from halftint.io import write_image

HEIGHT, WIDTH = 37, 53  # odd on purpose


def _run(
    *args: str | Path, stdin: bytes | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[bytes]:
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    environment.pop("HALFTINT_WEIGHTS", None)
    return subprocess.run(
        [sys.executable, "-m", "halftint", *map(str, args)],
        input=stdin,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        capture_output=True,
        cwd=cwd,
        env=environment,
        check=False,
        timeout=300,
    )


def _stderr(result: subprocess.CompletedProcess[bytes]) -> str:
    return result.stderr.decode()


def _assert_one_line_error(
    result: subprocess.CompletedProcess[bytes], code: int, text: str
) -> None:
    stderr = _stderr(result)
    assert result.returncode == code, stderr
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("halftint: error:")]
    assert len(errors) == 1 and text in errors[0], stderr
    assert result.stdout == b""


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB") if image.mode != "L" else image, dtype=np.int16)


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a halftone (odd size), a color photo and a gray photo."""
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    write_image(rng.random((HEIGHT, WIDTH)) > 0.5, folder / "print.png")
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    photo = np.stack([x / WIDTH, y / HEIGHT, 0.3 + 0 * x], axis=-1)
    write_image(photo, folder / "photo.png")
    write_image(photo.mean(axis=-1), folder / "gray-photo.png")
    return folder


def test_random_mode_writes_n_different_images_and_the_seed_repeats_them(
    images: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    arguments = ["colorize", images / "print.png", "--random", "-n", "3", "--seed", "7"]
    first = _run(*arguments, "--weights", tiny_bundle, "-o", tmp_path)
    assert first.returncode == 0, _stderr(first)
    assert "device cpu" in _stderr(first)
    outputs = [tmp_path / f"print.random-{index}.png" for index in (1, 2, 3)]
    assert sorted(tmp_path.iterdir()) == outputs
    pixels = [_pixels(path) for path in outputs]
    assert all(image.shape == (HEIGHT, WIDTH, 3) for image in pixels)
    assert all(np.abs(pixels[i] - pixels[j]).max() > 0 for i, j in ((0, 1), (0, 2), (1, 2)))
    contents = [path.read_bytes() for path in outputs]
    times = [path.stat().st_mtime_ns for path in outputs]

    # a second process, same seed: the files are replaced (--overwrite) by the same bytes
    again = _run(*arguments, "--weights", tiny_bundle, "-o", tmp_path, "--overwrite")
    assert again.returncode == 0, _stderr(again)
    assert [path.read_bytes() for path in outputs] == contents
    assert all(path.stat().st_mtime_ns > time for path, time in zip(outputs, times, strict=True))


def test_reference_output_keeps_the_descreened_luminance(
    images: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    shutil.copy(images / "print.png", tmp_path / "print.png")
    descreened = _run("descreen", tmp_path / "print.png", "--weights", tiny_bundle, cwd=tmp_path)
    assert descreened.returncode == 0, _stderr(descreened)
    # a gray reference is accepted with a warning
    colored = _run(
        "colorize",
        tmp_path / "print.png",
        "--ref",
        images / "gray-photo.png",
        "--weights",
        tiny_bundle,
    )
    assert colored.returncode == 0, _stderr(colored)
    assert "warning: reference" in _stderr(colored) and "is gray or nearly so" in _stderr(colored)
    gray = _pixels(tmp_path / "print.gray.png").astype(np.float64)
    color = _pixels(tmp_path / "print.color.png").astype(np.float64)
    assert gray.shape == (HEIGHT, WIDTH) and color.shape == (HEIGHT, WIDTH, 3)
    luma = color @ np.array([0.299, 0.587, 0.114])
    # each channel and the gray were rounded to 8 bits once: at most one level apart
    assert np.abs(luma - gray).max() <= 1.0 + 1e-6


def _mean_cb_cr(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.float64) / 255
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    return np.array([(rgb[..., 2] - luma).mean() / 1.772, (rgb[..., 0] - luma).mean() / 1.402])


def test_reference_mode_takes_the_references_mean_color_unless_told_not_to(
    images: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    common = ["colorize", images / "print.png", "--ref", images / "photo.png"]
    matched = _run(*common, "--weights", tiny_bundle, "-o", tmp_path / "matched.png")
    assert matched.returncode == 0, _stderr(matched)
    alone = _run(
        *common, "--match-ref", "none", "--weights", tiny_bundle, "-o", tmp_path / "alone.png"
    )
    assert alone.returncode == 0, _stderr(alone)
    # the old spelling of "none" still works
    old = _run(*common, "--no-match-ref", "--weights", tiny_bundle, "-o", tmp_path / "old.png")
    assert (
        old.returncode == 0
        and _pixels(tmp_path / "old.png").tolist() == _pixels(tmp_path / "alone.png").tolist()
    )
    spread = _run(
        *common, "--match-ref", "spread", "--weights", tiny_bundle, "-o", tmp_path / "spread.png"
    )
    assert spread.returncode == 0, _stderr(spread)
    wanted = _mean_cb_cr(_pixels(images / "photo.png"))
    assert wanted[0] < -0.05  # the photo is yellowish: blue-difference below neutral
    matched_error = np.abs(_mean_cb_cr(_pixels(tmp_path / "matched.png")) - wanted).max()
    alone_error = np.abs(_mean_cb_cr(_pixels(tmp_path / "alone.png")) - wanted).max()
    assert matched_error < 0.5 * alone_error
    assert matched_error < 0.5 * np.abs(wanted).max()
    # spread matches the mean color too, and the spread of the colors besides
    spread_error = np.abs(_mean_cb_cr(_pixels(tmp_path / "spread.png")) - wanted).max()
    assert spread_error < 0.5 * np.abs(wanted).max()


def test_unknown_weights_are_one_line_with_the_source_forms_printed_as_text(
    images: Path, tmp_path: Path
) -> None:
    # the message holds "[/SUBDIR]", which rich would take for a closing tag
    result = _run("colorize", images / "print.png", "--random", "--weights", tmp_path / "nope")
    _assert_one_line_error(
        result, 1, "is neither a folder, nor hf://OWNER/REPO[/SUBDIR][@REVISION]"
    )
    assert not (images / "print.random-1.png").exists()


def test_halftone_piped_into_colorize_gives_one_png_on_stdout(
    images: Path, tiny_bundle: Path
) -> None:
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    halftone = subprocess.Popen(
        [sys.executable, "-m", "halftint", "halftone", str(images / "photo.png"), "-o", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
    )
    colorize = subprocess.run(
        [
            sys.executable,
            "-m",
            "halftint",
            "colorize",
            "-",
            "--random",
            "-n",
            "2",
            "--grid",
            "--seed",
            "1",
            "--weights",
            str(tiny_bundle),
            "-o",
            "-",
        ],
        stdin=halftone.stdout,
        capture_output=True,
        env=environment,
        check=False,
        timeout=300,
    )
    assert halftone.stdout is not None
    halftone.stdout.close()
    assert halftone.wait(timeout=60) == 0
    assert colorize.returncode == 0, colorize.stderr.decode()
    assert colorize.stdout.startswith(b"\x89PNG\r\n\x1a\n")
    sheet = Path(images.parent / "sheet-from-pipe.png")
    sheet.write_bytes(colorize.stdout)
    # input, gray, two colorings side by side with 8-pixel gaps
    with Image.open(sheet) as image:
        assert image.size == (4 * WIDTH + 3 * 8, HEIGHT) and image.mode == "RGB"


def test_interpolation_grid_and_a_color_input(
    images: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    # a color photo as input: converted to gray with a note, not a crash
    result = _run(
        "colorize",
        images / "photo.png",
        "--interpolate",
        "3",
        "--seed",
        "2",
        "--weights",
        tiny_bundle,
        "-o",
        tmp_path / "grid.png",
    )
    assert result.returncode == 0, _stderr(result)
    assert "is in color: using its gray version" in _stderr(result)
    with Image.open(tmp_path / "grid.png") as image:
        assert image.size == (3 * WIDTH + 2 * 8, 3 * HEIGHT + 2 * 8)


def test_existing_outputs_are_skipped_and_bad_inputs_fail_alone(
    images: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    batch = tmp_path / "batch"
    (batch / "deeper").mkdir(parents=True)
    shutil.copy(images / "print.png", batch / "deeper" / "good.png")
    (batch / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    out = tmp_path / "out"
    (out / "deeper").mkdir(parents=True)
    existing = out / "deeper" / "good.color.png"
    existing.write_bytes(b"keep me")
    result = _run(
        "colorize", batch, "--ref", images / "photo.png", "--weights", tiny_bundle, "-o", out
    )
    stderr = _stderr(result)
    assert result.returncode == 1, stderr
    assert "Traceback" not in stderr
    assert existing.read_bytes() == b"keep me"
    assert "skipped" in stderr and "0 done, 1 skipped, 1 failed" in stderr
    failures = [line for line in stderr.splitlines() if line.startswith("halftint: error:")]
    assert len(failures) == 1 and "broken.png" in failures[0]
    written = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert written == ["deeper/good.color.png"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["print.png"], "choose exactly one of --ref IMG, --random, --interpolate K (got none)"),
        (["print.png", "--random", "--interpolate", "3"], "got --random, --interpolate"),
        (["print.png", "--ref", "photo.png", "-n", "2"], "-n/--count goes with --random only"),
        (["print.png", "--random", "-n", "0"], "-n must be between 1 and 1000, got 0"),
        (["print.png", "--random", "-n", "10000"], "-n must be between 1 and 1000, got 10000"),
        (["print.png", "--interpolate", "1"], "--interpolate K needs 2 <= K <= 16, got 1"),
        (["print.png", "--interpolate", "3", "--grid"], "--grid goes with --ref or --random"),
        (["print.png", "--random", "-n", "2", "-o", "-"], "use -o FOLDER (or --grid"),
        (["missing.png", "--random"], "input not found: missing.png"),
        (["print.png", "--random", "-o", "out.gif"], "unknown image extension '.gif'"),
        (
            ["print.png", "--random", "--precision", "fp64", "--weights", "bundle"],
            "unknown precision 'fp64'",
        ),
        (
            ["print.png", "--random", "--device", "tpu", "--weights", "bundle"],
            "unknown device 'tpu'",
        ),
        (["print.png", "--ref", "print.txt", "--weights", "bundle"], "--ref: "),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(
    images: Path, tiny_bundle: Path, tmp_path: Path, arguments: list[str], message: str
) -> None:
    shutil.copy(images / "print.png", tmp_path / "print.png")
    shutil.copy(images / "photo.png", tmp_path / "photo.png")
    (tmp_path / "print.txt").write_text("not an image")
    arguments = [str(tiny_bundle) if argument == "bundle" else argument for argument in arguments]
    result = _run("colorize", *arguments, cwd=tmp_path)
    _assert_one_line_error(result, 2, message)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png", "print.png", "print.txt"]


def test_no_weights_says_how_to_get_them(images: Path, tmp_path: Path) -> None:
    # an installation without the shipped bundle: the CLI runs with the package's weights
    # folder pointed at an empty one
    empty = tmp_path / "no-weights"
    empty.mkdir()
    script = (
        "import pathlib, sys\n"
        "import halftint.hub\n"
        "halftint.hub.EMBEDDED_FOLDER = pathlib.Path(sys.argv[1])\n"
        "from halftint.cli import main\n"
        "main(sys.argv[2:])\n"
    )
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    environment.pop("HALFTINT_WEIGHTS", None)
    arguments = ["descreen", str(images / "print.png"), "-o", str(tmp_path / "gray.png")]
    result = subprocess.run(
        [sys.executable, "-c", script, str(empty), *arguments],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=environment,
        check=False,
        timeout=300,
    )
    _assert_one_line_error(result, 1, "--weights")
    assert "halftint train" in _stderr(result)
    assert not (tmp_path / "gray.png").exists()


def test_an_unwritable_output_fails_that_input_and_leaves_no_file(
    images: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder is needed")
    result = _run(
        "descreen", images / "print.png", "--weights", tiny_bundle, "-o", blocker / "gray.png"
    )
    _assert_one_line_error(result, 1, "is a file, not a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-folder"]
    assert blocker.read_text() == "a file where a folder is needed"


@pytest.mark.skipif(
    __import__("torch").cuda.is_available(), reason="checks the message shown without CUDA"
)
def test_cuda_without_a_gpu_is_a_usage_error(images: Path, tiny_bundle: Path) -> None:
    result = _run("descreen", images / "print.png", "--device", "cuda", "--weights", tiny_bundle)
    _assert_one_line_error(result, 2, "no CUDA device is available; use --device cpu")


@pytest.mark.slow
def test_example_pipeline_script_runs_end_to_end(
    images: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    photos = tmp_path / "photos"
    (photos / "trip").mkdir(parents=True)
    shutil.copy(images / "photo.png", photos / "photo.png")
    shutil.copy(images / "gray-photo.png", photos / "trip" / "gray-photo.png")
    script = Path(__file__).parent.parent / "examples" / "pipeline.sh"
    bin_folder = str(Path(sys.executable).parent)
    environment = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PATH": f"{bin_folder}{os.pathsep}{os.environ['PATH']}",
    }
    result = subprocess.run(
        ["bash", str(script), str(photos), str(tmp_path / "out"), str(tiny_bundle)],
        capture_output=True,
        env=environment,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr.decode()
    out = tmp_path / "out"
    assert (out / "prints" / "trip" / "gray-photo.halftone.png").is_file()
    assert (out / "gray" / "trip" / "gray-photo.halftone.gray.png").is_file()
    assert len(list((out / "random").rglob("*.random-*.png"))) == 6
    for name in ("reconstructed.png", "sheet.png"):
        assert (out / name).read_bytes().startswith(b"\x89PNG")
    with Image.open(out / "reconstructed.png") as image:
        assert image.size == (WIDTH, HEIGHT)


# --- --screen and -v ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["0", "-3", "abc", "nan"])
def test_a_bad_screen_setting_is_a_usage_error(images: Path, tmp_path: Path, bad: str) -> None:
    for command in (["descreen"], ["colorize", "--random"]):
        result = _run(*command, images / "print.png", "--screen", bad, "-o", tmp_path / "x.png")
        _assert_one_line_error(result, 2, "--screen must be auto, none or a dot period")
    assert not (tmp_path / "x.png").exists()


def test_verbose_says_what_the_screen_analysis_found(
    images: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    from halftint.halftone import dither

    y, x = np.mgrid[0:200, 0:240] / 240.0
    coarse = dither((0.3 + 0.4 * x * (1 - y)).astype(np.float32), "clustered", lpi=40, dpi=600)
    write_image(coarse, tmp_path / "coarse.png")
    result = _run(
        "descreen", tmp_path / "coarse.png", images / "print.png", "-v",
        "--weights", tiny_bundle, "-o", tmp_path / "out",
    )  # fmt: skip
    stderr = _stderr(result)
    assert result.returncode == 0, stderr
    # 600 / 40 = 15 px, beyond the default range of a bundle that records none (3-7 px)
    assert "coarse.png: clustered-dot screen, period 15.0" in stderr
    assert "resized ×0.467 to descreen" in stderr  # to 7 px
    assert "print.png: no periodic screen" in stderr
    given = _run(
        "descreen", tmp_path / "coarse.png", "-v", "--screen", "none",
        "--weights", tiny_bundle, "-o", tmp_path / "none.png",
    )  # fmt: skip
    assert given.returncode == 0 and "coarse.png: screen none" in _stderr(given)


@pytest.mark.parametrize("mode", [["--random"], ["--interpolate", "3"]])
def test_a_seed_out_of_range_is_a_usage_error(
    images: Path, tmp_path: Path, mode: list[str]
) -> None:
    for seed in ("-5", "99999999999999999999"):
        result = _run("colorize", images / "print.png", *mode, "--seed", seed, "-o", tmp_path)
        _assert_one_line_error(result, 2, "Invalid value for '--seed'")
    assert not any(tmp_path.iterdir())


def test_many_samples_run_in_chunks_and_match_fewer(
    images: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    """Samples are colorized and written a few at a time; sample i does not depend on -n."""
    arguments = ["colorize", images / "print.png", "--random", "--seed", "4"]
    many = _run(*arguments, "-n", "9", "--weights", tiny_bundle, "-o", tmp_path / "many")
    few = _run(*arguments, "-n", "2", "--weights", tiny_bundle, "-o", tmp_path / "few")
    assert many.returncode == 0 and few.returncode == 0, _stderr(many) + _stderr(few)
    written = sorted(path.name for path in (tmp_path / "many").iterdir())
    assert written == sorted(f"print.random-{index}.png" for index in range(1, 10))
    for index in (1, 2):
        name = f"print.random-{index}.png"
        assert np.array_equal(_pixels(tmp_path / "many" / name), _pixels(tmp_path / "few" / name))
    assert not np.array_equal(
        _pixels(tmp_path / "many" / "print.random-5.png"),
        _pixels(tmp_path / "many" / "print.random-9.png"),
    )


def test_colliding_inputs_are_refused_before_any_work(images: Path, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(images / "print.png", folder / "scan.png")
    Image.open(images / "print.png").convert("L").save(folder / "scan.tif")
    for command in (["descreen"], ["colorize", "--random"]):
        result = _run(*command, folder, "-o", tmp_path / "out")
        _assert_one_line_error(result, 2, "would both write")
    assert not (tmp_path / "out").exists()


def test_ctrl_c_says_interrupted_and_exits_130(tmp_path: Path) -> None:
    """typer turns a KeyboardInterrupt into a silent exit 130; the CLI says what happened."""
    import signal
    import time

    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "halftint", "colorize", "-", "--random", "-o", tmp_path / "x.png"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # noqa: PLW1509
    )
    time.sleep(4)  # loading the weights or waiting for stdin: either way, interrupted
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.decode().strip().splitlines()[-1] == "halftint: error: interrupted"
    assert not (tmp_path / "x.png").exists()


def test_bad_match_modes_and_tiny_references_are_one_line(
    images: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    common = ["colorize", images / "print.png", "--weights", tiny_bundle, "-o", tmp_path / "x.png"]
    result = _run(*common, "--ref", images / "photo.png", "--match-ref", "median")
    _assert_one_line_error(result, 2, "--match-ref 'median': choose one of none, mean, spread")
    small = tmp_path / "small.png"
    write_image(np.full((15, 40, 3), 0.5, np.float32) * np.asarray([1.0, 0.6, 0.3]), small)
    result = _run(*common, "--ref", small)
    _assert_one_line_error(result, 2, "is 40×15 pixels; a reference needs at least 16 pixels")
    assert not (tmp_path / "x.png").exists()


def test_random_spread_is_checked_and_changes_only_bundles_that_record_spreads(
    images: Path, tiny_bundle: Path, tmp_path: Path
) -> None:
    from halftint.checkpoint import load_bundle, save_bundle

    common = ["colorize", images / "print.png", "-o", tmp_path / "x.png"]
    result = _run(*common, "--random", "--random-spread", "loud", "--weights", tiny_bundle)
    _assert_one_line_error(result, 2, "--random-spread 'loud': choose one of photos, none")
    result = _run(*common, "--ref", images / "photo.png", "--random-spread", "none")
    _assert_one_line_error(result, 2, "--random-spread goes with --random only")
    assert not (tmp_path / "x.png").exists()
    tiny = load_bundle(tiny_bundle)
    spread_bundle = save_bundle(
        tmp_path / "spreads",
        tiny.networks,
        preset="tiny",
        working_size=tiny.working_size,
        halftone_methods=["floyd-steinberg"],
        data="test",
        photo_spreads=[(0.09, 0.01)],
    )
    outputs = {}
    for bundle in (tiny_bundle, spread_bundle):
        for spread in ("photos", "none"):
            out = tmp_path / f"{bundle.name}-{spread}.png"
            run = _run(
                "colorize", images / "print.png", "--random", "--seed", "3",
                "--random-spread", spread, "--weights", bundle, "-o", out,
            )  # fmt: skip
            assert run.returncode == 0, _stderr(run)
            outputs[bundle.name, spread] = _pixels(out).astype(np.float64)
    # without recorded spreads both are the networks' colors; with them, not
    assert np.array_equal(outputs["tiny-bundle", "photos"], outputs["tiny-bundle", "none"])
    assert np.array_equal(outputs["tiny-bundle", "none"], outputs["spreads", "none"])

    def spread_of(rgb: np.ndarray) -> np.ndarray:
        rgb = rgb / 255
        luma = rgb @ np.array([0.299, 0.587, 0.114])
        return np.array(
            [((rgb[..., 2] - luma) / 1.772).std(), ((rgb[..., 0] - luma) / 1.402).std()]
        )

    plain, taken = spread_of(outputs["spreads", "none"]), spread_of(outputs["spreads", "photos"])
    # the photo's Cb spreads nine times its Cr: the output moves that way
    assert taken[0] / taken[1] > 1.5 * plain[0] / plain[1]
