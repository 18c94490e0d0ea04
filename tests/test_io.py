"""Image I/O: every Pillow mode to float [0, 1], EXIF, stdin/stdout, clear errors, atomic writes."""

from __future__ import annotations

import io
import os
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from halftint.errors import InputError, UsageError
from halftint.io import (
    OutputError,
    OutputExistsError,
    check_output_path,
    read_image,
    resize_image,
    write_image,
)

# --- reading: modes -----------------------------------------------------------------------


def _save(tmp_path: Path, image: Image.Image, name: str, **options: object) -> Path:
    path = tmp_path / name
    image.save(path, **options)
    return path


def test_one_bit_image_reads_as_zero_and_one(tmp_path: Path) -> None:
    pattern = np.indices((6, 8)).sum(axis=0) % 2 == 0
    path = _save(tmp_path, Image.fromarray(pattern), "bits.png")
    gray = read_image(path, "gray")
    assert gray.dtype == np.float32
    np.testing.assert_array_equal(gray, pattern.astype(np.float32))


def test_gray_image_reads_as_gray_or_three_equal_channels(tmp_path: Path) -> None:
    values = np.arange(0, 240, 10, dtype=np.uint8).reshape(4, 6)
    path = _save(tmp_path, Image.fromarray(values), "gray.png")
    gray = read_image(path, "gray")
    rgb = read_image(path, "rgb")
    assert gray.shape == (4, 6)
    assert rgb.shape == (4, 6, 3)
    np.testing.assert_allclose(gray, values / 255.0, atol=1e-7)
    for channel in range(3):
        np.testing.assert_array_equal(rgb[:, :, channel], gray)


def test_rgb_to_gray_uses_bt601_luma(tmp_path: Path) -> None:
    pixels = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255]]], dtype=np.uint8)
    path = _save(tmp_path, Image.fromarray(pixels), "rgb.png")
    np.testing.assert_allclose(read_image(path, "gray")[0], [0.299, 0.587, 0.114, 1.0], atol=1e-6)
    np.testing.assert_allclose(read_image(path, "rgb"), pixels / 255.0, atol=1e-7)


@pytest.mark.parametrize("mode", ["LA", "RGBA"])
def test_alpha_is_composited_over_white(tmp_path: Path, mode: str) -> None:
    black = (0, 255) if mode == "LA" else (0, 0, 0, 255)
    clear = (0, 0) if mode == "LA" else (0, 0, 0, 0)
    half = (0, 102) if mode == "LA" else (0, 0, 0, 102)
    image = Image.new(mode, (3, 1))
    for x, value in enumerate((black, clear, half)):
        image.putpixel((x, 0), value)
    gray = read_image(_save(tmp_path, image, "alpha.png"), "gray")
    np.testing.assert_allclose(gray[0], [0.0, 1.0, 1.0 - 102 / 255], atol=1e-6)


def test_palette_image_with_and_without_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (2, 1))
    image.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.putpixel((1, 0), 1)
    opaque = read_image(_save(tmp_path, image, "palette.png"), "rgb")
    np.testing.assert_allclose(opaque[0], [[1, 0, 0], [0, 0, 1]], atol=1e-7)
    see_through = read_image(_save(tmp_path, image, "clear.png", transparency=1), "rgb")
    np.testing.assert_allclose(see_through[0], [[1, 0, 0], [1, 1, 1]], atol=1e-7)


def test_cmyk_image_reads_as_rgb(tmp_path: Path) -> None:
    image = Image.new("CMYK", (3, 1))
    for x, ink in enumerate(((0, 0, 0, 0), (0, 0, 0, 255), (255, 0, 0, 0))):
        image.putpixel((x, 0), ink)
    rgb = read_image(_save(tmp_path, image, "cmyk.tif"), "rgb")
    np.testing.assert_allclose(rgb[0], [[1, 1, 1], [0, 0, 0], [0, 1, 1]], atol=1e-7)


def test_sixteen_bit_gray_keeps_its_precision(tmp_path: Path) -> None:
    values = np.array([[0, 1000, 32768, 65535]], dtype=np.uint16)
    path = _save(tmp_path, Image.fromarray(values), "deep.png")
    assert Image.open(path).mode.startswith("I")
    gray = read_image(path, "gray")
    # 1000 / 65535 is not a multiple of 1/255: an 8-bit detour would lose it
    np.testing.assert_allclose(gray[0], values[0] / 65535.0, atol=1e-6)


def test_eight_bit_gray_can_be_read_as_its_levels(tmp_path: Path) -> None:
    levels = np.random.default_rng(0).integers(0, 256, (5, 7), dtype=np.uint8)
    Image.fromarray(levels, "L").save(tmp_path / "gray.png")
    eight = read_image(tmp_path / "gray.png", "gray", eight_bit=True)
    assert eight.dtype == np.uint8 and eight.flags.writeable
    np.testing.assert_array_equal(eight, levels)
    floats = read_image(tmp_path / "gray.png", "gray")
    np.testing.assert_array_equal(floats, levels.astype(np.float32) / np.float32(255))
    # other files, and RGB reading, stay float
    Image.fromarray(np.stack([levels] * 3, axis=2), "RGB").save(tmp_path / "rgb.png")
    assert read_image(tmp_path / "rgb.png", "gray", eight_bit=True).dtype == np.float32
    assert read_image(tmp_path / "gray.png", "rgb", eight_bit=True).dtype == np.float32


def test_native_mode_keeps_a_gray_file_one_channel(tmp_path: Path) -> None:
    levels = np.random.default_rng(1).integers(0, 256, (5, 7), dtype=np.uint8)
    Image.fromarray(levels, "L").save(tmp_path / "gray.png")
    Image.fromarray(np.stack([levels] * 3, axis=2), "RGB").save(tmp_path / "rgb.png")
    Image.fromarray(levels > 127).save(tmp_path / "bits.png")
    np.testing.assert_array_equal(
        read_image(tmp_path / "gray.png", "native"), read_image(tmp_path / "gray.png", "gray")
    )
    assert read_image(tmp_path / "bits.png", "native").shape == (5, 7)
    np.testing.assert_array_equal(
        read_image(tmp_path / "rgb.png", "native"), read_image(tmp_path / "rgb.png", "rgb")
    )


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    # 32 wide x 16 high, left half black; orientation 6 means "rotate 90° clockwise to view"
    pixels = np.full((16, 32), 255, dtype=np.uint8)
    pixels[:, :16] = 0
    exif = Image.Exif()
    exif[0x0112] = 6
    path = _save(tmp_path, Image.fromarray(pixels), "turned.jpg", exif=exif.tobytes(), quality=95)
    gray = read_image(path, "gray")
    assert gray.shape == (32, 16)
    # after the clockwise turn the black left half is on top
    assert gray[:14].mean() < 0.05
    assert gray[18:].mean() > 0.95


def test_stdin_is_read_for_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    Image.fromarray(np.full((3, 5), 51, dtype=np.uint8)).save(buffer, format="PNG")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(buffer.getvalue())))
    gray = read_image("-", "gray")
    np.testing.assert_allclose(gray, np.full((3, 5), 0.2), atol=1e-7)


def test_unknown_mode_argument_is_a_programming_error(tmp_path: Path) -> None:
    path = _save(tmp_path, Image.new("L", (2, 2)), "a.png")
    with pytest.raises(ValueError, match="mode must be 'gray', 'rgb' or 'native'"):
        read_image(path, "lab")  # type: ignore[arg-type]


# --- reading: errors ----------------------------------------------------------------------


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def _truncated_png() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="PNG")
    return buffer.getvalue()[:2000]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.png", None, r"input not found: .*missing\.png"),
        ("folder", "folder", r"folder is a folder, not an image file"),
        ("empty.png", b"", r"empty\.png is empty \(0 bytes\)"),
        ("notes.png", b"not a picture", r"notes\.png is not an image file halftint can read"),
        ("cut.png", _truncated_png(), r"cut\.png is truncated or corrupt"),
        (
            "bomb.png",
            _png_header_only(30000, 30000),
            r"bomb\.png is too large to read safely .*decompression bomb",
        ),
    ],
)
def test_bad_inputs_raise_one_line_input_errors(
    tmp_path: Path, name: str, content: bytes | str | None, message: str
) -> None:
    path = tmp_path / name
    if content == "folder":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        read_image(path)
    assert "\n" not in str(caught.value)


# --- writing ------------------------------------------------------------------------------


def test_float_gray_round_trips_through_png(tmp_path: Path) -> None:
    values = np.random.default_rng(1).random((9, 11)).astype(np.float32)
    path = tmp_path / "gray.png"
    write_image(values, path)
    np.testing.assert_allclose(read_image(path, "gray"), np.rint(values * 255) / 255, atol=1e-7)


def test_rgb_uint8_round_trips_exactly(tmp_path: Path) -> None:
    pixels = np.random.default_rng(2).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    path = tmp_path / "color.png"
    write_image(pixels, path)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), pixels)


@pytest.mark.parametrize("width", [1, 8, 17, 64])
def test_bool_image_is_written_as_one_bit(tmp_path: Path, width: int) -> None:
    bits = np.random.default_rng(3).random((13, width)) > 0.5
    path = tmp_path / "bits.png"
    write_image(bits, path)
    with Image.open(path) as image:
        assert image.mode == "1"
        assert image.size == (width, 13)
        image.verify()  # chunk CRCs and structure
    np.testing.assert_array_equal(read_image(path, "gray"), bits.astype(np.float32))


def test_bool_rgb_is_written_with_0_and_255_channels(tmp_path: Path) -> None:
    bits = np.random.default_rng(4).random((6, 7, 3)) > 0.5
    path = tmp_path / "bits.png"
    write_image(bits, path)
    np.testing.assert_array_equal(np.asarray(Image.open(path)), bits.astype(np.uint8) * 255)


@pytest.mark.parametrize(
    ("suffix", "format_name"),
    [(".png", "PNG"), (".jpg", "JPEG"), (".JPEG", "JPEG"), (".webp", "WEBP"), (".tif", "TIFF")],
)
def test_format_follows_the_extension(tmp_path: Path, suffix: str, format_name: str) -> None:
    path = tmp_path / f"out{suffix}"
    write_image(np.zeros((8, 8), dtype=bool), path)
    with Image.open(path) as image:
        assert image.format == format_name
        assert image.size == (8, 8)


def test_unknown_extension_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"unknown image extension '\.bmp' \(use png, jpg"):
        write_image(np.zeros((2, 2)), tmp_path / "out.bmp")
    with pytest.raises(UsageError, match="unknown image extension none"):
        check_output_path(tmp_path / "noext")
    assert list(tmp_path.iterdir()) == []


def test_existing_output_is_kept_unless_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match=r"out\.png exists \(use overwrite=True"):
        write_image(np.zeros((2, 2)), path)
    assert path.read_bytes() == b"precious"
    write_image(np.zeros((2, 2)), path, overwrite=True)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_parent_folders_are_created_and_no_temporary_file_remains(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "out.png"
    write_image(np.ones((3, 3)), path)
    assert [p.name for p in path.parent.iterdir()] == ["out.png"]


def test_new_files_get_the_usual_permissions(tmp_path: Path) -> None:
    umask = os.umask(0o022)
    try:
        write_image(np.ones((3, 3)), tmp_path / "out.png")
    finally:
        os.umask(umask)
    assert (tmp_path / "out.png").stat().st_mode & 0o777 == 0o644


def test_a_failed_write_leaves_the_old_file_and_no_debris(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.png"
    path.write_bytes(b"old content")

    def failing_rename(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    # the temporary file is complete, but the final step fails
    monkeypatch.setattr(Path, "replace", failing_rename)
    with pytest.raises(OutputError, match=r"cannot write .*out\.png: No space left on device"):
        write_image(np.ones((4, 4)), path, overwrite=True)
    assert path.read_bytes() == b"old content"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_an_encoding_failure_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_save(self: Image.Image, *_: object, **__: object) -> None:
        raise OSError("encoder error -2")

    monkeypatch.setattr(Image.Image, "save", failing_save)
    with pytest.raises(OSError, match="encoder error"):
        write_image(np.ones((4, 4)), tmp_path / "out.jpg")
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_place_of_a_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "plain").write_text("x")
    with pytest.raises(OutputError, match=r"plain is a file, not a folder"):
        write_image(np.ones((2, 2)), tmp_path / "plain" / "out.png")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_folder_is_reported(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(OutputError, match="Permission denied"):
            write_image(np.ones((2, 2)), locked / "out.png")
    finally:
        locked.chmod(0o700)


def test_dash_writes_png_bytes_to_stdout(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(raw))
    write_image(np.eye(4, dtype=bool), "-")
    data = raw.getvalue()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(data))), np.eye(4, dtype=bool))


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((2, 2, 4)), r"\(H, W\) or \(H, W, 3\) array, got shape \(2, 2, 4\)"),
        (np.zeros((2, 2), dtype=np.int32), "got dtype int32"),
        (np.full((2, 2), np.inf), "NaN or infinite"),
    ],
)
def test_bad_arrays_are_refused(tmp_path: Path, image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        write_image(image, tmp_path / "out.png")
    assert list(tmp_path.iterdir()) == []


# --- resizing -----------------------------------------------------------------------------


def test_resize_keeps_flat_tones_and_channels() -> None:
    gray = resize_image(np.full((40, 60), 0.3, dtype=np.float32), 20, 30)
    assert gray.shape == (20, 30)
    np.testing.assert_allclose(gray, 0.3, atol=1e-5)
    rgb = resize_image(np.random.default_rng(0).random((10, 10, 3)).astype(np.float32), 25, 15)
    assert rgb.shape == (25, 15, 3)
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    with pytest.raises(ValueError, match="at least 1x1"):
        resize_image(gray, 0, 5)


def test_a_device_is_refused_without_reading_it() -> None:
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    with pytest.raises(InputError, match="/dev/zero is not a regular file"):
        read_image("/dev/zero")


def test_stdin_is_read_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    import halftint.io as halftint_io

    monkeypatch.setattr(halftint_io, "MAX_INPUT_BYTES", 100)
    stream = io.BytesIO(b"\0" * 100_000)
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(stream))
    with pytest.raises(InputError, match="<stdin> holds more than"):
        read_image("-")
    assert stream.tell() == 101  # one byte past the bound is read, not the whole stream


def test_a_very_large_image_gives_one_warning_of_our_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import warnings

    from halftint.io import LargeImageWarning

    path = tmp_path / "big.png"
    Image.new("L", (40, 30), 128).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # 1,200 pixels: over, but not 2x
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        read_image(path, "gray")
    assert [w.category for w in caught] == [LargeImageWarning]
    assert "big.png is a very large image (40×30" in str(caught[0].message)
