"""`halftint halftone` in real subprocesses: outputs, stdin/stdout, errors, exit codes."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from halftint.cli.halftone_cmd import METHODS_HELP
from halftint.halftone import METHODS


def _halftint(
    *args: str, cwd: Path, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "halftint", *args],
        cwd=cwd,
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=120,
        check=False,
    )


def _photo(path: Path, width: int = 48, height: int = 32, *, color: bool = False) -> Path:
    """A small smooth image: a horizontal ramp (and colored bands when `color`)."""
    ramp = np.linspace(0, 255, width, dtype=np.float64)[None, :].repeat(height, axis=0)
    pixels = np.stack([ramp, ramp[::-1], np.full_like(ramp, 128)], axis=2) if color else ramp
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return path


def _one_error_line(stderr: bytes, expected: str) -> None:
    text = stderr.decode()
    assert "Traceback" not in text
    errors = [line for line in text.splitlines() if line.startswith("halftint: error:")]
    assert len(errors) == 1, text
    assert expected in errors[0], text


def test_default_output_is_a_one_bit_png_beside_the_input(tmp_path: Path) -> None:
    _photo(tmp_path / "ramp.png")
    result = _halftint("halftone", "ramp.png", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b""
    with Image.open(tmp_path / "ramp.halftone.png") as image:
        assert image.format == "PNG"
        assert image.mode == "1"
        assert image.size == (48, 32)
        ink = 1.0 - np.asarray(image, dtype=np.float64)
    # a left-to-right ramp from black to white: more ink on the left
    assert ink[:, :16].mean() > 0.6
    assert ink[:, -16:].mean() < 0.4


def test_stdin_to_stdout_round_trip(tmp_path: Path) -> None:
    source = _photo(tmp_path / "ramp.png", 64, 40)
    result = _halftint(
        "halftone", "-", "-o", "-", "--method", "atkinson", cwd=tmp_path, stdin=source.read_bytes()
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stderr == b""
    with Image.open(io.BytesIO(result.stdout)) as image:
        assert image.format == "PNG"
        assert image.mode == "1"
        assert image.size == (64, 40)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ramp.png"]


def test_folder_in_folder_out_keeps_the_tree(tmp_path: Path) -> None:
    _photo(tmp_path / "in" / "a.png")
    _photo(tmp_path / "in" / "deep" / "b.jpg")
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    result = _halftint("halftone", "in", "-o", "out", "--method", "clustered", cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    made = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*.png"))
    assert made == ["a.halftone.png", "deep/b.halftone.png"]
    assert "2 done, 0 skipped, 0 failed, 1 non-image files ignored" in result.stderr.decode()


def test_existing_outputs_are_skipped_unless_overwrite(tmp_path: Path) -> None:
    _photo(tmp_path / "ramp.png")
    output = tmp_path / "ramp.halftone.png"
    output.write_bytes(b"keep me")
    result = _halftint("halftone", "ramp.png", cwd=tmp_path)
    assert result.returncode == 0
    assert (
        "skipped ramp.halftone.png: it exists (use --overwrite to replace it)"
        in result.stderr.decode()
    )
    assert output.read_bytes() == b"keep me"
    result = _halftint("halftone", "ramp.png", "--overwrite", cwd=tmp_path)
    assert result.returncode == 0
    assert output.read_bytes().startswith(b"\x89PNG")


def test_one_bad_input_fails_the_run_but_the_rest_are_done(tmp_path: Path) -> None:
    _photo(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"garbage, not a PNG")
    result = _halftint("halftone", "bad.png", "good.png", cwd=tmp_path)
    assert result.returncode == 1
    _one_error_line(result.stderr, "bad.png is not an image file halftint can read")
    assert "1 done, 0 skipped, 1 failed" in result.stderr.decode()
    assert (tmp_path / "good.halftone.png").exists()
    assert not (tmp_path / "bad.halftone.png").exists()


def _truncated(path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue()[:1500])


BAD_RUNS = [
    # (arguments, setup, exit code, message)
    (["missing.png"], None, 2, "input not found: missing.png"),
    (["empty_folder"], "empty_folder", 2, "folder empty_folder holds no images"),
    (["notes.png"], "not_an_image", 1, "notes.png is not an image file halftint can read"),
    (["cut.png"], "truncated", 1, "cut.png is truncated or corrupt"),
    (
        ["ok.png", "--method", "dots"],
        None,
        2,
        "unknown halftone method 'dots'; valid: floyd-steinberg",
    ),
    (["ok.png", "--lpi", "400"], None, 2, "lpi must be > 0 and at most dpi/2 = 300"),
    (["ok.png", "--dpi", "-600"], None, 2, "dpi must be a positive number"),
    (["ok.png", "--angle", "720"], None, 2, "angle must be between -360 and 360 degrees"),
    (["ok.png", "--spot", "star"], None, 2, "unknown spot shape 'star'; valid: round, ellipse"),
    (
        ["ok.png", "--size", "10", "--scale", "2"],
        None,
        2,
        "--size and --scale are mutually exclusive",
    ),
    (
        ["ok.png", "ok2.png", "-o", "-"],
        None,
        2,
        "-o - writes one image to stdout, but this run makes 2",
    ),
    (["ok.png", "-o", "out.bmp"], None, 2, "unknown image extension '.bmp' (use png, jpg"),
    (["ok.png", "-o", "blocker/out.png"], "blocker", 1, "blocker is a file, not a folder"),
]


@pytest.mark.parametrize(
    ("arguments", "setup", "code", "message"),
    BAD_RUNS,
    ids=[
        "missing",
        "empty-folder",
        "not-an-image",
        "truncated",
        "unknown-method",
        "lpi",
        "dpi-negative",
        "angle",
        "spot",
        "size-and-scale",
        "stdout-two-images",
        "unknown-extension",
        "output-folder-is-a-file",
    ],
)
def test_bad_runs_give_one_line_and_the_right_exit_code(
    tmp_path: Path, arguments: list[str], setup: str | None, code: int, message: str
) -> None:
    _photo(tmp_path / "ok.png")
    _photo(tmp_path / "ok2.png")
    if setup == "empty_folder":
        (tmp_path / "empty_folder").mkdir()
        (tmp_path / "empty_folder" / "readme.txt").write_text("no images here")
    elif setup == "not_an_image":
        (tmp_path / "notes.png").write_text("just text")
    elif setup == "truncated":
        _truncated(tmp_path / "cut.png")
    elif setup == "blocker":
        (tmp_path / "blocker").write_text("a file where a folder should be")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    result = _halftint("halftone", *arguments, cwd=tmp_path)
    assert result.returncode == code, result.stderr.decode()
    _one_error_line(result.stderr, message)
    assert result.stdout == b""
    # nothing written, not even a temporary file
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_output_folder_fails_with_exit_1(tmp_path: Path) -> None:
    _photo(tmp_path / "ok.png")
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked").chmod(0o500)
    try:
        result = _halftint("halftone", "ok.png", "-o", "locked/out.png", cwd=tmp_path)
    finally:
        (tmp_path / "locked").chmod(0o700)
    assert result.returncode == 1
    _one_error_line(result.stderr, "Permission denied")


def test_same_seed_same_bytes_different_seed_different(tmp_path: Path) -> None:
    _photo(tmp_path / "in" / "a.png")
    _photo(tmp_path / "in" / "b.png")
    for out, seed in (("five", "5"), ("six", "6")):
        result = _halftint(
            "halftone", "in", "-o", out, "--method", "random", "--seed", seed, cwd=tmp_path
        )
        assert result.returncode == 0, result.stderr.decode()

    def output(folder: str, name: str) -> bytes:
        return (tmp_path / folder / f"{name}.halftone.png").read_bytes()

    # equal inputs with the same seed give the same bytes; another seed gives others
    assert output("five", "a") == output("five", "b")
    assert output("five", "a") != output("six", "a")


def test_color_clustered_writes_rgb_plates(tmp_path: Path) -> None:
    _photo(tmp_path / "bands.png", 96, 64, color=True)
    result = _halftint(
        "halftone", "bands.png", "--color", "--method", "clustered", "--lpi", "150", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr.decode()
    with Image.open(tmp_path / "bands.halftone.png") as image:
        assert image.mode == "RGB"
        pixels = np.asarray(image)
    assert set(np.unique(pixels).tolist()) == {0, 255}
    # a red-to-green ramp: the channels are not all the same plate
    assert not np.array_equal(pixels[:, :, 0], pixels[:, :, 1])


@pytest.mark.parametrize(
    ("option", "expected"), [(["--size", "40"], (40, 24)), (["--scale", "0.5"], (50, 30))]
)
def test_size_and_scale_resize_before_halftoning(
    tmp_path: Path, option: list[str], expected: tuple[int, int]
) -> None:
    _photo(tmp_path / "wide.png", 100, 60)
    result = _halftint("halftone", "wide.png", "-o", "small.png", *option, cwd=tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    with Image.open(tmp_path / "small.png") as image:
        assert image.size == expected


def test_earlier_outputs_in_folders_are_not_halftoned_again(tmp_path: Path) -> None:
    _photo(tmp_path / "in" / "a.png")
    _photo(tmp_path / "in" / "b.halftone.png")
    result = _halftint("halftone", "in", cwd=tmp_path)
    assert result.returncode == 0
    assert "ignored 1 earlier halftint outputs" in result.stderr.decode()
    names = sorted(p.name for p in (tmp_path / "in").iterdir())
    assert names == ["a.halftone.png", "a.png", "b.halftone.png"]


def test_help_lists_every_method() -> None:
    listed = {word.strip(",;.()") for word in METHODS_HELP.split()}
    assert set(METHODS) <= listed


@pytest.mark.parametrize(
    ("seed", "message"),
    [("-1", "greater than or equal to 0"), ("99999999999999999999", "less than or equal to")],
)
def test_a_seed_out_of_range_is_one_line_and_writes_nothing(
    tmp_path: Path, seed: str, message: str
) -> None:
    photo = _photo(tmp_path / "in.png")
    for method in ("floyd-steinberg", "random", "clustered"):
        result = _halftint(
            "halftone",
            str(photo),
            "-o",
            "out.png",
            "--method",
            method,
            "--seed",
            seed,
            cwd=tmp_path,
        )
        assert result.returncode == 2
        _one_error_line(result.stderr, message)
        assert not (tmp_path / "out.png").exists()


def test_a_closed_stdout_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "in.png")
    command = [sys.executable, "-m", "halftint", "halftone", str(photo), "-o", "-"]
    result = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *command],
        capture_output=False,
        stderr=subprocess.PIPE,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    _one_error_line(result.stderr, "stdout is closed")


def test_two_inputs_that_would_write_one_output_are_refused_before_any_work(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "in"
    _photo(folder / "pic.png")
    _photo(folder / "pic.jpg", color=True)
    _photo(folder / "other.png")
    result = _halftint("halftone", str(folder), "-o", "out", "--overwrite", cwd=tmp_path)
    assert result.returncode == 2
    _one_error_line(result.stderr, "pic.jpg and ")
    _one_error_line(result.stderr, "pic.png would both write")
    assert not (tmp_path / "out").exists()


def test_an_unknown_output_extension_is_an_error_not_a_new_folder(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "in.png")
    result = _halftint("halftone", str(photo), "-o", "x.xyz", cwd=tmp_path)
    assert result.returncode == 2
    _one_error_line(result.stderr, "-o x.xyz: unknown image extension '.xyz'")
    assert not (tmp_path / "x.xyz").exists()
    # a trailing slash still names a folder
    assert _halftint("halftone", str(photo), "-o", "x.xyz/", cwd=tmp_path).returncode == 0
    assert (tmp_path / "x.xyz" / "in.halftone.png").is_file()


def test_a_very_large_image_is_one_warning_line(tmp_path: Path) -> None:
    photo = _photo(tmp_path / "big.png")
    code = (
        "import PIL.Image\n"
        "PIL.Image.MAX_IMAGE_PIXELS = 1000  # the photo's 1,536 pixels are over it, not 2x\n"
        "from halftint.cli import main\n"
        f"main(['halftone', {str(photo)!r}, '-o', 'out.png'])\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("halftint: warning: ")
    assert "big.png is a very large image (48×32" in lines[0]
    assert lines[1] == "wrote out.png"
    assert (tmp_path / "out.png").is_file()
