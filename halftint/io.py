"""Image files in and out: the only module that touches PIL.

Reading gives float32 arrays in [0, 1] whatever the file holds (1-bit, 8- or 16-bit gray,
palette, RGB, CMYK, with or without alpha), upright according to EXIF. Writing is atomic: the
image goes to a temporary file in the destination folder, which is then renamed over the
target, so an interrupted run never leaves a half-written image behind (`atomic_replace`, which
training's state and run-folder files go through too).
"""

from __future__ import annotations

import io
import os
import struct
import sys
import warnings
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from halftint.bt601 import LUMA_WEIGHTS
from halftint.errors import HalftintError, InputError, Setting, UsageError
from halftint.files import atomic_replace

STDIO = "-"
# an image read as gray is its BT.601 luma, the gray of the paper's data
_LUMA = np.array(LUMA_WEIGHTS, dtype=np.float32)

WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
# formats that cannot hold 1-bit images: bilevel output is stored as 8-bit gray
_NO_BILEVEL = frozenset({"JPEG", "WEBP"})
_SAVE_OPTIONS: dict[str, dict[str, object]] = {
    "PNG": {"compress_level": 6},
    "JPEG": {"quality": 95},
    "WEBP": {"quality": 95},
    "TIFF": {},
}
# zlib's fastest level: halftones from error diffusion are noise to it, so higher levels save
# under 1 % (about 15 % on regular screens) at three times the time
BILEVEL_ZLIB_LEVEL = 1
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SIXTEEN_BIT_GRAY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


class LargeImageWarning(UserWarning):
    """An image large enough that reading and processing it takes much memory."""


class OutputError(HalftintError):
    """An output image could not be written."""


class OutputExistsError(OutputError):
    """The output exists and overwriting was not asked for."""


def read_image(
    source: str | os.PathLike[str],
    mode: Literal["gray", "rgb", "native"] = "rgb",
    *,
    eight_bit: bool = False,
) -> np.ndarray:
    """Read an image file (or stdin for `"-"`) as float32 in [0, 1].

    Args:
        source: a path, or `"-"` to read the image's bytes from stdin.
        mode: `"gray"` for `(H, W)` BT.601 luma, `"rgb"` for `(H, W, 3)` (a gray image gives
            three equal channels), `"native"` for `(H, W)` from a gray file and `(H, W, 3)` from
            any other (a gray scan is not tripled in memory). Transparent parts are composited
            over white paper.
        eight_bit: with `"gray"`, an 8-bit gray file comes back as its uint8 levels instead
            (level / 255 is the float it would give), which saves a float copy four times its
            size; any other file still comes back as float32.

    Returns:
        A C-contiguous float32 array in [0, 1] (or uint8 levels, see `eight_bit`).

    Raises:
        InputError: the file is missing, empty, not an image, truncated, or so large that it
            may be a decompression bomb.
        ValueError: `mode` is not "gray", "rgb" or "native".
    """
    if mode not in ("gray", "rgb", "native"):
        raise ValueError(f"mode must be 'gray', 'rgb' or 'native', got {mode!r}")
    label = "<stdin>" if str(source) == STDIO else str(source)
    data = _read_bytes(source, label)
    if not data:
        raise InputError(f"{label} is empty (0 bytes), not an image")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", Image.DecompressionBombWarning)
            # a file already in memory: nothing to close, and no copy for the EXIF turn
            image = Image.open(io.BytesIO(data))
            image.load()
            ImageOps.exif_transpose(image, in_place=True)
        if any(issubclass(w.category, Image.DecompressionBombWarning) for w in caught):
            warnings.warn(
                LargeImageWarning(
                    f"{label} is a very large image ({image.width}×{image.height}, "
                    f"{image.width * image.height / 1e6:.0f} MP): it needs several GB of memory"
                ),
                stacklevel=2,
            )
    except Image.DecompressionBombError:
        raise InputError(
            f"{label} is too large to read safely (over {2 * _pixel_limit()} pixels, "
            "possibly a decompression bomb)"
        ) from None
    except UnidentifiedImageError:
        raise InputError(f"{label} is not an image file halftint can read") from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InputError(f"{label} is truncated or corrupt ({_reason(error)})") from None
    if image.width == 0 or image.height == 0:
        raise InputError(f"{label} has zero size ({image.width}x{image.height} pixels)")
    if eight_bit and mode == "gray" and image.mode == "L":
        return np.array(image)
    pixels = _to_float(image)
    if pixels.ndim == 2:
        return pixels if mode != "rgb" else np.repeat(pixels[:, :, None], 3, axis=2)
    if mode in ("rgb", "native"):
        return pixels
    # float rounding may put pure white a hair above 1
    return np.clip(pixels @ _LUMA, 0.0, 1.0, dtype=np.float32)


def probe_image(path: str | os.PathLike[str]) -> None:
    """Check cheaply, from its header alone, that `path` is an image file `read_image` can
    open: a regular file, not empty, not over `MAX_INPUT_BYTES`, of a format Pillow knows, of
    non-zero size. A file that passes may still be truncated further on.

    Raises:
        InputError: as `read_image` would, for the problems a header shows.
    """
    label = str(path)
    target = Path(path)
    if _checked_file(target, label) == 0:
        raise InputError(f"{label} is empty (0 bytes), not an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(target) as image:
                width, height = image.size
    except UnidentifiedImageError:
        raise InputError(f"{label} is not an image file halftint can read") from None
    except Image.DecompressionBombError:
        raise InputError(
            f"{label} is too large to read safely (over {2 * _pixel_limit()} pixels, "
            "possibly a decompression bomb)"
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise InputError(f"{label} is truncated or corrupt ({_reason(error)})") from None
    if width == 0 or height == 0:
        raise InputError(f"{label} has zero size ({width}x{height} pixels)")


def _pixel_limit() -> int:
    return int(Image.MAX_IMAGE_PIXELS or 0)


def _reason(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


# the most bytes one input may hold (an uncompressed 16-bit RGB scan of 144 MP is 0.9 GB)
MAX_INPUT_BYTES = 2 * 2**30


def _read_bytes(source: str | os.PathLike[str], label: str) -> bytes:
    limit = f"{MAX_INPUT_BYTES // 2**30} GiB"
    if str(source) == STDIO:
        data = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
        if len(data) > MAX_INPUT_BYTES:
            raise InputError(f"{label} holds more than {limit}: not an image halftint reads")
        return data
    path = Path(source)
    _checked_file(path, label)
    try:
        return path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read {label}: {error.strerror or error}") from None


def _checked_file(path: Path, label: str) -> int:
    """The size of `path` once it is known to be a regular file of at most `MAX_INPUT_BYTES`;
    InputError otherwise (what `read_image` and `probe_image` both refuse)."""
    if not path.exists():
        raise InputError(f"input not found: {label}")
    if path.is_dir():
        raise InputError(f"{label} is a folder, not an image file")
    if not path.is_file():
        raise InputError(
            f"{label} is not a regular file (a device, pipe or socket); give an image file, "
            "or - to read one from stdin"
        )
    try:
        size = path.stat().st_size
    except OSError as error:
        raise InputError(f"cannot read {label}: {error.strerror or error}") from None
    if size > MAX_INPUT_BYTES:
        limit = f"{MAX_INPUT_BYTES // 2**30} GiB"
        raise InputError(f"{label} is larger than {limit}: not an image halftint reads")
    return size


def _to_float(image: Image.Image) -> np.ndarray:
    """A PIL image -> C-contiguous float32 `(H, W)` gray or `(H, W, 3)` RGB in [0, 1].

    Transparent parts are composited over white.
    """
    if image.mode == "1":
        return np.asarray(image, dtype=np.float32)
    if image.mode == "L":
        return _scaled(np.asarray(image, dtype=np.float32), 255.0)
    if image.mode in _SIXTEEN_BIT_GRAY_MODES:
        return _scaled(np.asarray(image, dtype=np.float32), 65535.0)
    if image.mode == "I":
        # 32-bit integer gray: in practice 16-bit data (PNG and TIFF readers give "I" for it)
        return np.clip(_scaled(np.asarray(image, dtype=np.float32), 65535.0), 0.0, 1.0)
    has_alpha = image.mode in ("LA", "La", "PA", "RGBA", "RGBa") or (
        image.mode == "P" and "transparency" in image.info
    )
    if has_alpha:
        rgba = _scaled(np.asarray(image.convert("RGBA"), dtype=np.float32), 255.0)
        alpha = rgba[:, :, 3:4]
        # composite over white paper: transparent areas print as nothing
        return np.ascontiguousarray(rgba[:, :, :3] * alpha + (1.0 - alpha))
    # RGB, P, CMYK, YCbCr, LAB, HSV, F ...: Pillow's own conversion
    return _scaled(np.asarray(image.convert("RGB"), dtype=np.float32), 255.0)


def _scaled(pixels: np.ndarray, full_scale: float) -> np.ndarray:
    # in place: a 16-megapixel scan should not be copied once more
    pixels /= np.float32(full_scale)
    return pixels


def resize_image(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resample an `(H, W)` or `(H, W, 3)` float image to `height` x `width` (Lanczos).

    Returns:
        float32 in [0, 1] (Lanczos ringing is clipped).

    Raises:
        ValueError: a target side is below 1.
    """
    if height < 1 or width < 1:
        raise ValueError(f"target size must be at least 1x1, got {width}x{height}")
    planes = image[:, :, None] if image.ndim == 2 else image
    resized = []
    for channel in range(planes.shape[2]):
        plane = Image.fromarray(np.ascontiguousarray(planes[:, :, channel], dtype=np.float32))
        resized.append(np.asarray(plane.resize((width, height), Image.Resampling.LANCZOS)))
    stacked = np.stack(resized, axis=2) if image.ndim == 3 else resized[0]
    return np.ascontiguousarray(np.clip(stacked, 0.0, 1.0), dtype=np.float32)


def write_image(
    image: np.ndarray, dest: str | os.PathLike[str], *, overwrite: bool = False
) -> None:
    """Write an image atomically; the format follows the extension.

    Args:
        image: `(H, W)` or `(H, W, 3)`; bool (1-bit; RGB bool becomes 0/255 channels), float in
            [0, 1] (scaled to 0..255 and rounded), or uint8.
        dest: a path ending in .png, .jpg, .jpeg, .webp, .tif or .tiff, or `"-"` for PNG bytes
            on stdout. Missing parent folders are created.
        overwrite: replace an existing file.

    Raises:
        OutputExistsError: `dest` exists and `overwrite` is False.
        OutputError: the file could not be written (the target is left as it was).
        UsageError: the extension is not one of the supported ones.
        ValueError: unsupported shape or dtype.
    """
    target = str(dest)
    format_name = "PNG" if target == STDIO else _format_for(Path(target))
    data = _encode(image, format_name)
    if target == STDIO:
        _write_stdout(data)
        return
    path = Path(target)
    if path.exists() and not overwrite:
        raise OutputExistsError(
            "{path} exists (use {overwrite} to replace it)",
            path=path,
            overwrite=Setting("overwrite", True),
        )
    blocking_file = next((p for p in path.parents if p.exists() and not p.is_dir()), None)
    if blocking_file is not None:
        raise OutputError(f"cannot write {path}: {blocking_file} is a file, not a folder")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_replace(path) as temporary:
            temporary.write_bytes(data)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or _reason(error)}") from None


def _write_stdout(data: bytes) -> None:
    """The bytes of one image on stdout; a closed stdout is an OutputError, not a crash."""
    stream = sys.stdout
    if stream is None or getattr(stream, "closed", False):
        raise OutputError("stdout is closed: cannot write the image there (give -o FILE)")
    try:
        stream.buffer.write(data)
        stream.buffer.flush()
    except BrokenPipeError:
        raise  # the reader went away: the CLI ends quietly
    except (OSError, ValueError) as error:
        reason = getattr(error, "strerror", None) or error
        raise OutputError(f"cannot write the image to stdout: {reason}") from None


def check_output_path(dest: str | os.PathLike[str]) -> None:
    """Raise UsageError unless `dest` is `"-"` or has an extension `write_image` can write."""
    if str(dest) != STDIO:
        _format_for(Path(dest))


def _format_for(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in WRITE_FORMATS:
        allowed = ", ".join(s.lstrip(".") for s in WRITE_FORMATS)
        shown = f"'{suffix}'" if suffix else "none"
        raise UsageError(f"cannot write {path}: unknown image extension {shown} (use {allowed})")
    return WRITE_FORMATS[suffix]


def _to_pil(image: np.ndarray) -> Image.Image:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"write_image expects a numpy array, got {type(image).__name__}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3)):
        raise ValueError(
            f"write_image expects an (H, W) or (H, W, 3) array, got shape {image.shape}"
        )
    if image.dtype == np.bool_:
        if image.ndim == 2:
            return Image.fromarray(np.ascontiguousarray(image))
        pixels = image.astype(np.uint8) * 255
    elif image.dtype == np.uint8:
        pixels = image
    elif np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all():
            raise ValueError("write_image got NaN or infinite values")
        pixels = np.rint(np.clip(image, 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise ValueError(
            f"write_image expects bool, uint8 or float values, got dtype {image.dtype}"
        )
    # uint8 (H, W) becomes mode L, (H, W, 3) mode RGB
    return Image.fromarray(np.ascontiguousarray(pixels))


def _encode(image: np.ndarray, format_name: str) -> bytes:
    """The file's bytes: bilevel PNGs by the fast path below, everything else by Pillow."""
    if format_name == "PNG" and image.ndim == 2 and image.dtype == np.bool_:
        return _bilevel_png(image)
    pil_image = _to_pil(image)
    if format_name in _NO_BILEVEL and pil_image.mode == "1":
        pil_image = pil_image.convert("L")
    buffer = io.BytesIO()
    pil_image.save(buffer, format=format_name, **_SAVE_OPTIONS[format_name])
    return buffer.getvalue()


def _bilevel_png(bits: np.ndarray) -> bytes:
    """`(H, W)` bool (True = white) -> a 1-bit grayscale PNG.

    Written directly rather than through Pillow, which spends more time packing bits than
    compressing them: this is 3x faster on a 16-megapixel halftone.
    """
    height, width = bits.shape
    # every row: filter type 0 (none), then 8 pixels per byte, most significant bit first
    rows = np.zeros((height, (width + 7) // 8 + 1), dtype=np.uint8)
    rows[:, 1:] = np.packbits(bits, axis=1)
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    compressed = zlib.compress(rows.tobytes(), BILEVEL_ZLIB_LEVEL)
    return b"".join(
        (_PNG_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", compressed), _chunk(b"IEND", b""))
    )


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(kind))
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)
