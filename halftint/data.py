"""Training samples made on the fly from a folder of color photos.

Photos are decoded once and kept in memory as uint8 arrays at (nearly) their native resolution:
a crop then costs a copy and a resize, and the halftone made from it (one numba-compiled pass) is
the only real work per sample. A stage sees the photos in one of two ways: `native`, crops at
every scale from the photo's own pixels down to the whole photo in one crop (what descreening
needs: real prints are scanned at every resolution), or through a view downscaled to a fixed
long side, then rescaled by a random factor (the colorizer's: whole-scene crops). Every sample
is a pure function of its *sample number* (and the run's seed), never of the worker that makes
it or of what came before, so resuming a run, or running it on another number of processes,
sees the same data.

One sample holds, as float tensors in [0, 1] of side `crop_size` (only the fields asked for):
- `color` (3, S, S): a random crop of the photo (random rescale, horizontal flip);
- `gray` (1, S, S): its ITU-R 601 luma;
- `halftone` (1, S, S): that gray image halftoned with a method drawn from the mixture, then
  possibly passed through a simulated scan;
- `target` (3, S, S): `color` after a random hue/saturation shift (or unchanged);
- `reference` (3, S, S): a re-cropped, flipped, rotated view of the photo with the same shift;
- `color_halftone` (3, S, S): each channel of `target` halftoned with the same screen;
- `smooth` (1, 1, 1): 1 for a smooth synthetic crop in one even color (`SampleMaker.smooth`),
  0 for a crop of a photo.

Crops, flips, rotation and the color shift are done with OpenCV and numpy on the cached arrays
rather than with torchvision transforms: a sample stays one array from crop to halftone (the
halftoner takes numpy), and becomes a tensor once, at the end.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from halftint.bt601 import CB_SCALE, CR_SCALE, LUMA_WEIGHTS
from halftint.errors import InputError, Setting, UsageError
from halftint.halftone import dither, dither_color
from halftint.io import read_image

PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"})
SAMPLE_FIELDS = ("color", "gray", "halftone", "target", "reference", "color_halftone", "smooth")
LUMA = np.array(LUMA_WEIGHTS, dtype=np.float32)

# photos are kept in memory downscaled to at most this long side (most photos: native size)
MAX_PHOTO_SIDE = 2048
# a clustered screen is drawn at this device resolution; its ruling follows from the period
SCREEN_DPI = 600.0
# RGB -> (Y, Cb, Cr) with centred chroma; the hue/saturation shift acts on (Cb, Cr) only, so it
# keeps each pixel's luma (and so the gray image and halftone) unchanged, up to clipping
_RGB_TO_YCC = np.stack(
    [
        np.array(LUMA_WEIGHTS),
        (np.array([0.0, 0.0, 1.0]) - LUMA_WEIGHTS) / CB_SCALE,
        (np.array([1.0, 0.0, 0.0]) - LUMA_WEIGHTS) / CR_SCALE,
    ]
)


@dataclass
class HalftoneSettings:
    """The training halftone mixture (README.md, "Training on your own photos").

    `mixture` maps method names to relative weights. Clustered screens draw their dot period
    (pixels per screen cell, i.e. dpi / lpi) from `clustered_period`, their angle uniformly from
    `clustered_angles` (degrees) and their spot from `clustered_spots`. With probability
    `scan_effects` a halftone then goes through a simulated scan (blur, resampling, noise, JPEG).
    """

    mixture: dict[str, float] = field(
        # mostly Floyd-Steinberg (the paper's data), a large share of clustered-dot screens (what
        # real prints are), and a little of every other family so that none is unseen
        default_factory=lambda: {
            "floyd-steinberg": 0.40,
            "clustered": 0.35,
            "jarvis": 0.04,
            "stucki": 0.04,
            "atkinson": 0.04,
            "sierra": 0.03,
            "bayer8": 0.04,
            "blue-noise": 0.06,
        }
    )
    clustered_period: tuple[float, float] = (3.0, 12.0)
    clustered_angles: tuple[float, float] = (0.0, 90.0)
    clustered_spots: tuple[str, ...] = ("round", "ellipse", "square")
    scan_effects: float = 0.3


@dataclass
class ReferenceSettings:
    """How the colorizer's reference is made from the photo (the paper's reference scheme).

    The reference is a re-cropped (a square of `crop_scale` times the photo's short side),
    flipped and rotated (up to `rotation` degrees) view; with probability `color_shift` both the
    reference and the target get the same hue rotation (up to `hue` turns either way) and
    saturation factor (drawn from `saturation`).
    """

    crop_scale: tuple[float, float] = (0.5, 1.0)
    rotation: float = 20.0
    color_shift: float = 0.7
    hue: float = 0.15
    saturation: tuple[float, float] = (0.6, 1.4)


# ---- the photo folder ----


def find_photos(folder: str | Path, *, setting: str = "data") -> list[Path]:
    """All photos below `folder` (recursive, hidden files skipped), sorted; `setting` is what
    messages call the folder (the setting it came from).

    Raises:
        UsageError: the folder is missing, is not a folder, or holds no photo.
    """
    root = Path(folder)
    if not root.exists():
        raise UsageError(f"data folder not found: {folder}")
    if not root.is_dir():
        raise UsageError(
            "{setting} must be a folder of photos, got the file {folder}",
            setting=Setting(setting),
            folder=folder,
        )
    photos = [
        path
        for path in sorted(root.rglob("*"))
        if path.is_file()
        and path.suffix.lower() in PHOTO_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(root).parts)
    ]
    if not photos:
        allowed = ", ".join(sorted(suffix.lstrip(".") for suffix in PHOTO_SUFFIXES))
        raise UsageError(f"data folder {folder} holds no photos ({allowed})")
    return photos


def data_label(folder: str | Path) -> str:
    """How a bundle names a photo folder: its last two path parts, never an absolute path."""
    parts = [part for part in Path(folder).resolve().parts if part not in ("/", "\\")]
    return "/".join(parts[-2:]) if parts else "."


def is_validation(relative: Path, val_fraction: float) -> bool:
    """Whether a photo belongs to the validation split: a hash of its relative path decides."""
    digest = hashlib.sha256(relative.as_posix().encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < val_fraction


def split_photos(
    photos: Sequence[Path], root: str | Path, val_fraction: float
) -> tuple[list[Path], list[Path]]:
    """(train, val) by `is_validation`; the same photos always land on the same side."""
    train: list[Path] = []
    val: list[Path] = []
    for path in photos:
        (val if is_validation(path.relative_to(root), val_fraction) else train).append(path)
    return train, val


def training_split(
    data: str | Path, val_data: str | Path | None, val_fraction: float
) -> tuple[list[Path], list[Path]]:
    """The (train, val) photos of a run: all of `data` and all of `val_data` when given, else
    `data` split by `split_photos` (all of it for training when every photo hashed into
    validation, as a tiny folder's may).

    Raises:
        UsageError: a folder is missing or holds no photo.
    """
    paths = find_photos(data)
    if val_data:
        return paths, find_photos(val_data, setting="val_data")
    train, val = split_photos(paths, data, val_fraction)
    return (train, val) if train else (val, [])


def chroma_spreads(images: Sequence[np.ndarray], working_size: int) -> list[tuple[float, float]]:
    """Each uint8 `(H, W, 3)` photo's chroma spread at the working size: the standard deviations
    of its Cb and Cr (`color.chroma_statistics`) once its short side is `working_size`."""
    from halftint.color import chroma_statistics

    spreads = []
    for image in images:
        height, width = image.shape[:2]
        small = _downscale(image, round(working_size * max(height, width) / min(height, width)))
        rgb = torch.from_numpy(small).permute(2, 0, 1)[None].float() / 255.0
        cb, cr = chroma_statistics(rgb)[0, 2:].tolist()
        spreads.append((cb, cr))
    return spreads


@dataclass
class PhotoCache:
    """Decoded photos as uint8 `(H, W, 3)` arrays; `skipped` lists (path, reason) of bad files."""

    images: list[np.ndarray]
    names: list[str]
    skipped: list[tuple[str, str]] = field(default_factory=list)


def load_photos(
    paths: Sequence[Path],
    long_side: int,
    progress: Callable[[int], None] | None = None,
) -> PhotoCache:
    """Decode `paths` once, downscaled (area filter) so the long side is at most `long_side`.

    Unreadable or broken files are skipped and listed in `skipped`, not raised.
    """
    cache = PhotoCache(images=[], names=[])
    for index, path in enumerate(paths):
        try:
            rgb = read_image(path, "rgb")
        except InputError as error:
            cache.skipped.append((str(path), str(error)))
        else:
            cache.images.append(_downscale(_to_uint8(rgb), long_side))
            cache.names.append(str(path))
        if progress is not None:
            progress(index + 1)
    return cache


def _to_uint8(image: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8))


def _downscale(image: np.ndarray, long_side: int) -> np.ndarray:
    height, width = image.shape[:2]
    scale = long_side / max(height, width)
    if scale >= 1.0:
        return image
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


# ---- halftones ----


@dataclass(frozen=True)
class Screen:
    """One drawn halftone method and its arguments for `halftint.halftone.dither`."""

    method: str
    options: dict[str, Any]

    def apply(self, gray: np.ndarray) -> np.ndarray:
        """Halftone a `(H, W)` float32 image in [0, 1]."""
        return dither(gray, self.method, **self.options).astype(np.float32, copy=False)

    def apply_color(self, rgb: np.ndarray) -> np.ndarray:
        """The color halftone of a `(H, W, 3)` image: each RGB channel screened on its own."""
        halftone = dither_color(rgb, self.method, cmyk=False, channel_axis=-1, **self.options)
        return halftone.astype(np.float32, copy=False)


def draw_screen(settings: HalftoneSettings, rng: np.random.Generator) -> Screen:
    """Draw a method from the mixture and, for clustered screens, a ruling, angle and spot."""
    methods = list(settings.mixture)
    weights = np.array([settings.mixture[name] for name in methods], dtype=np.float64)
    method = methods[int(rng.choice(len(methods), p=weights / weights.sum()))]
    options: dict[str, Any] = {"seed": int(rng.integers(2**31))}
    if method == "clustered":
        period = rng.uniform(*settings.clustered_period)
        options.update(
            lpi=SCREEN_DPI / period,
            dpi=SCREEN_DPI,
            angle=float(rng.uniform(*settings.clustered_angles)),
            spot=str(rng.choice(list(settings.clustered_spots))),
        )
    return Screen(method, options)


def simulate_scan(halftone: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a scanner does to a print: some of slight blur, resampling, noise and JPEG.

    Each of the four effects is drawn with probability 1/2 (at least one), with its strength
    drawn too, and applied by `scan_print`.

    Args:
        halftone: `(H, W)` float32 in [0, 1].

    Returns:
        `(H, W)` float32 in [0, 1], no longer binary.
    """
    effects = rng.random(4) < 0.5
    if not effects.any():
        effects[rng.integers(4)] = True
    blur = float(rng.uniform(0.3, 1.0)) if effects[0] else 0.0
    resample = float(rng.uniform(0.6, 0.95)) if effects[1] else 1.0
    noise = float(rng.uniform(0.01, 0.06)) if effects[2] else 0.0
    noise_rng = np.random.default_rng(int(rng.integers(2**31))) if effects[2] else None
    quality = int(rng.integers(60, 96)) if effects[3] else 0
    return scan_print(
        halftone, blur=blur, resample=resample, noise=noise, quality=quality, rng=noise_rng
    )


def scan_print(
    halftone: np.ndarray,
    *,
    blur: float = 0.0,
    resample: float = 1.0,
    noise: float = 0.0,
    quality: int = 0,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """A simulated scan of a print, in this order: each effect off at its default.

    Args:
        halftone: `(H, W)` float32 in [0, 1].
        blur: Gaussian blur σ in pixels (the scanner's optics).
        resample: shrink by this factor and enlarge back (a scan at a lower resolution).
        noise: standard deviation of added Gaussian noise (sensor noise), drawn from `rng`.
        quality: JPEG quality 1-100 of a compression round trip (0: none).
        rng: the noise's source (a fixed seed when None).

    Returns:
        `(H, W)` float32 in [0, 1].
    """
    image = np.asarray(halftone, dtype=np.float32)
    height, width = image.shape
    if blur > 0:
        image = np.asarray(cv2.GaussianBlur(image, (0, 0), sigmaX=blur))
    if resample < 1.0:
        small = (max(1, round(width * resample)), max(1, round(height * resample)))
        shrunk = cv2.resize(image, small, interpolation=cv2.INTER_AREA)
        image = np.asarray(cv2.resize(shrunk, (width, height), interpolation=cv2.INTER_LINEAR))
    if noise > 0:
        source = rng if rng is not None else np.random.default_rng(0)
        image = image + source.normal(0.0, noise, image.shape).astype(np.float32)
    if quality > 0:
        eight_bit = _to_uint8(np.clip(image, 0.0, 1.0))
        encoded = cv2.imencode(".jpg", eight_bit, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
        image = np.asarray(cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE), dtype=np.float32) / 255.0
    return np.clip(image, 0.0, 1.0).astype(np.float32)


# ---- color shift and crops ----


def color_shift_matrix(hue_turns: float, saturation: float) -> np.ndarray:
    """3×3 matrix M (apply as `rgb @ M.T`) rotating chroma by `hue_turns` and scaling it.

    Luma is left unchanged: the shift acts in the (Cb, Cr) plane of YCbCr.
    """
    angle = 2.0 * math.pi * hue_turns
    cos, sin = math.cos(angle), math.sin(angle)
    chroma = np.array([[1.0, 0.0, 0.0], [0.0, cos, -sin], [0.0, sin, cos]]) * np.array(
        [[1.0], [saturation], [saturation]]
    )
    return (np.linalg.inv(_RGB_TO_YCC) @ chroma @ _RGB_TO_YCC).astype(np.float32)


def apply_color_shift(rgb: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """`(H, W, 3)` float32 RGB through `color_shift_matrix`'s matrix, clipped to [0, 1]."""
    return np.clip(rgb @ matrix.T, 0.0, 1.0).astype(np.float32)


def smooth_gray(size: int, rng: np.random.Generator) -> np.ndarray:
    """A `(size, size)` float32 gray in [0, 1] with no detail: a tone drawn uniformly, a linear
    ramp in a random direction (half the time; up to half the tone range across the crop) and a
    gentle low-frequency undulation (a 4x4 grid of random offsets, up to 0.05, bicubically
    upsampled)."""
    rows, columns = np.mgrid[0:size, 0:size].astype(np.float32) / max(1, size - 1) - 0.5
    gray = np.full((size, size), rng.uniform(0.0, 1.0), dtype=np.float32)
    if rng.random() < 0.5:
        angle = rng.uniform(0.0, 2.0 * math.pi)
        ramp = math.cos(angle) * columns + math.sin(angle) * rows
        gray += np.float32(rng.uniform(0.0, 0.5)) * ramp
    grid = rng.normal(0.0, 1.0, (4, 4)).astype(np.float32) * np.float32(rng.uniform(0.0, 0.05))
    gray += cv2.resize(grid, (size, size), interpolation=cv2.INTER_CUBIC)
    return np.clip(gray, 0.0, 1.0, out=gray)


def smooth_color(gray: np.ndarray, rng: np.random.Generator, strength: float = 0.2) -> np.ndarray:
    """`gray` given one even color: `(H, W, 3)` float32 whose luma is `gray` exactly.

    A chroma direction is drawn uniformly in the plane of colors with no luma and a magnitude
    uniformly up to `strength` (RGB units; 0.2 is a clearly colored but not vivid tone); where
    a channel would leave [0, 1] the offset is shortened for that pixel, so light and dark ends
    fade to neutral, as even areas of photos do. With the smooth gray (`smooth_gray`) this is a
    sample with no content whose only right answer is one color everywhere.
    """
    luma = LUMA.astype(np.float64)
    first = np.cross(luma, (1.0, 0.0, 0.0))
    second = np.cross(luma, first)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    direction = math.cos(angle) * first / np.linalg.norm(first)
    direction += math.sin(angle) * second / np.linalg.norm(second)
    offset = (rng.uniform(0.0, strength) * direction).astype(np.float32)
    tone = gray[..., None]
    with np.errstate(divide="ignore"):  # a zero channel of the offset allows any length
        room_up = np.where(offset > 0, (1.0 - tone) / offset, np.inf)
        room_down = np.where(offset < 0, -tone / offset, np.inf)
    scale = np.minimum(1.0, np.minimum(room_up, room_down).min(axis=-1, keepdims=True))
    return np.clip(tone + scale * offset, 0.0, 1.0).astype(np.float32)


def _square_crop(photo: np.ndarray, side: int, size: int, rng: np.random.Generator) -> np.ndarray:
    """A random `side`² window of `photo`, resized to `size`² (float32 in [0, 1])."""
    height, width = photo.shape[:2]
    top = int(rng.integers(height - side + 1))
    left = int(rng.integers(width - side + 1))
    window = photo[top : top + side, left : left + side]
    # area averaging when shrinking (no aliasing), bilinear when enlarging a small photo
    interpolation = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    resized = cv2.resize(window, (size, size), interpolation=interpolation)
    return resized.astype(np.float32) / 255.0


class SampleMaker:
    """Makes one training sample from one cached photo and a random generator.

    Args:
        crop_size: side S of every output.
        rescale: range of the random scale factor (output pixels per pixel of the view); below
            1 a crop shows more of the photo at less detail.
        halftone: the halftone mixture.
        reference: the reference augmentation.
        fields: the sample fields to make (a subset of `SAMPLE_FIELDS`).
        view_side: each photo is seen downscaled to this long side before `rescale` applies;
            0 means native crops: the scale is drawn log-uniformly from the photo's own pixels
            (1 output pixel per photo pixel) down to the whole short side in one crop, and
            `rescale` is unused.
        smooth: the share of samples whose crop is a smooth synthetic gray (`smooth_gray`)
            in one even color (`smooth_color`, also its reference) instead of a photo: large
            even areas of every tone, which photos have few of and where error diffusion makes
            its most regular, screen-like patterns, and where a colorizer has nothing to
            paint but one color.
    """

    def __init__(
        self,
        crop_size: int,
        rescale: tuple[float, float],
        halftone: HalftoneSettings,
        reference: ReferenceSettings,
        fields: Sequence[str] = SAMPLE_FIELDS,
        *,
        view_side: int = 0,
        smooth: float = 0.0,
    ) -> None:
        unknown = sorted(set(fields) - set(SAMPLE_FIELDS))
        if unknown:
            raise ValueError(f"unknown sample fields {unknown}; valid: {', '.join(SAMPLE_FIELDS)}")
        self.crop_size = crop_size
        self.rescale = rescale
        self.halftone = halftone
        self.reference = reference
        self.fields = tuple(fields)
        self.view_side = view_side
        self.smooth = smooth

    def scale(self, photo: np.ndarray, rng: np.random.Generator) -> float:
        """A crop's scale: output pixels per photo pixel (see `view_side`)."""
        height, width = photo.shape[:2]
        if self.view_side > 0:
            view = min(1.0, self.view_side / max(height, width))
            return float(rng.uniform(*self.rescale)) * view
        smallest = min(1.0, self.crop_size / min(height, width))
        return math.exp(rng.uniform(math.log(smallest), 0.0))

    def __call__(self, photo: np.ndarray, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        """The sample's fields as float32 tensors in [0, 1] (see the module docstring)."""
        size = self.crop_size
        smooth = self.smooth > 0 and rng.random() < self.smooth
        if smooth:
            gray = smooth_gray(size, rng)
            color = smooth_color(gray, rng)
        else:
            short = min(photo.shape[:2])
            side = min(short, max(1, round(size / self.scale(photo, rng))))
            color = _square_crop(photo, side, size, rng)
            if rng.random() < 0.5:
                color = color[:, ::-1]
            gray = color @ LUMA
        sample: dict[str, np.ndarray] = {"color": color, "gray": gray}
        sample["smooth"] = np.full((1, 1), float(smooth), dtype=np.float32)
        screen = draw_screen(self.halftone, rng)
        scanned = rng.random() < self.halftone.scan_effects
        if "halftone" in self.fields:
            halftone = screen.apply(gray)
            sample["halftone"] = simulate_scan(halftone, rng) if scanned else halftone
        if {"target", "reference", "color_halftone"} & set(self.fields):
            matrix = self._draw_shift(rng)
            target = color if matrix is None else apply_color_shift(color, matrix)
            sample["target"] = target
            if "reference" in self.fields:
                # a smooth crop's reference is its own even color: nothing else describes it
                view = color if smooth else self._reference_view(photo, rng)
                sample["reference"] = view if matrix is None else apply_color_shift(view, matrix)
            if "color_halftone" in self.fields:
                sample["color_halftone"] = screen.apply_color(np.ascontiguousarray(target))
        return {name: _to_tensor(sample[name]) for name in self.fields}

    def _draw_shift(self, rng: np.random.Generator) -> np.ndarray | None:
        settings = self.reference
        if rng.random() >= settings.color_shift:
            return None
        hue = rng.uniform(-settings.hue, settings.hue)
        return color_shift_matrix(hue, rng.uniform(*settings.saturation))

    def _reference_view(self, photo: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        settings = self.reference
        short = min(photo.shape[:2])
        side = max(1, round(short * rng.uniform(*settings.crop_scale)))
        view = _square_crop(photo, side, self.crop_size, rng)
        if rng.random() < 0.5:
            view = np.ascontiguousarray(view[:, ::-1])
        degrees = rng.uniform(-settings.rotation, settings.rotation)
        # rotate about the centre, then zoom in just enough that no corner outside the view shows
        radians = math.radians(abs(degrees))
        zoom = math.cos(radians) + math.sin(radians)
        centre = ((self.crop_size - 1) / 2.0, (self.crop_size - 1) / 2.0)
        rotation = cv2.getRotationMatrix2D(centre, degrees, zoom)
        return cv2.warpAffine(
            view,
            rotation,
            (self.crop_size, self.crop_size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REFLECT,
        )


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    array = image[None] if image.ndim == 2 else image.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


# ---- dataset and sampler ----


class PhotoSamples(Dataset[dict[str, torch.Tensor]]):
    """Map-style dataset indexed by sample number (0, 1, 2, ... without end).

    Sample `n` comes from photo `order_e[n mod N]` of epoch `e = n // N`, where `order_e` is a
    seeded permutation of the N photos, and is made with a generator seeded by (seed, stream,
    n): a pure function of `n`.
    """

    def __init__(
        self, photos: Sequence[np.ndarray], maker: SampleMaker, seed: int, stream: int
    ) -> None:
        if not photos:
            raise ValueError("PhotoSamples needs at least one photo")
        self.photos = list(photos)
        self.maker = maker
        self.seed = seed
        self.stream = stream
        self._order_epoch = -1
        self._order = np.arange(len(self.photos))

    def __len__(self) -> int:
        return len(self.photos)

    def photo_index(self, number: int) -> int:
        """Which photo sample `number` is cut from."""
        epoch, position = divmod(number, len(self.photos))
        if epoch != self._order_epoch:
            order_rng = np.random.default_rng([self.seed, self.stream, epoch, 1])
            self._order = order_rng.permutation(len(self.photos))
            self._order_epoch = epoch
        return int(self._order[position])

    def __getitem__(self, number: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.stream, number])
        return self.maker(self.photos[self.photo_index(number)], rng)


class StreamBatchSampler(Sampler[list[int]]):
    """Batches of sample numbers for one process of a (possibly distributed) run.

    Global batch `k` covers samples `start + k * batch_size` onwards; process `rank` of
    `world_size` takes its contiguous share. The stream depends only on the global batch size,
    so a run resumed with another number of processes continues it where it stopped.
    """

    def __init__(
        self, start: int, batches: int, batch_size: int, rank: int = 0, world_size: int = 1
    ) -> None:
        if batch_size % world_size:
            raise ValueError(
                f"batch size {batch_size} does not split evenly over {world_size} processes"
            )
        self.start = start
        self.batches = batches
        self.batch_size = batch_size
        self.share = batch_size // world_size
        self.rank = rank

    def __len__(self) -> int:
        return self.batches

    def __iter__(self) -> Iterator[list[int]]:
        for batch in range(self.batches):
            first = self.start + batch * self.batch_size + self.rank * self.share
            yield list(range(first, first + self.share))
