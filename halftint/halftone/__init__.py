"""Halftoning: turn continuous-tone gray or color images into black-and-white dot patterns.

Pure functions on numpy arrays and torch tensors (torch is never imported here: a tensor is
recognised only if the caller has already imported torch). Convention: 1 is white paper, 0 is
ink.

Methods (`METHODS`):
- error diffusion: floyd-steinberg, jarvis, stucki, burkes, sierra, sierra-lite, atkinson;
- ordered (dispersed dot): bayer2, bayer4, bayer8, bayer16;
- clustered: an AM screen with a ruling (lpi), a device resolution (dpi), an angle and a spot
  shape, like newspaper photos;
- blue-noise: a void-and-cluster threshold mask;
- random: white-noise thresholds.

The `seed` makes stochastic choices reproducible: the noise of `random`, and a random shift of
the screen for the mask methods (bayer*, clustered, blue-noise) so that training data does not
always see the grid at the same phase. Without a seed, mask methods are not shifted and
`random` draws fresh noise. Error diffusion is deterministic and ignores the seed.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np

from halftint.halftone import cachedir  # noqa: F401  (before numba: where its cache goes)
from halftint.halftone.bluenoise import blue_noise_thresholds
from halftint.halftone.clustered import CMYK_ANGLE_OFFSETS, SPOTS, check_screen, screen_thresholds
from halftint.halftone.kernels import KERNELS
from halftint.halftone.ordered import bayer_thresholds
from halftint.halftone.threshold import apply_thresholds, tile

ERROR_DIFFUSION_METHODS = tuple(KERNELS)
ORDERED_METHODS = ("bayer2", "bayer4", "bayer8", "bayer16")
METHODS: tuple[str, ...] = (
    *ERROR_DIFFUSION_METHODS,
    *ORDERED_METHODS,
    "clustered",
    "blue-noise",
    "random",
)

__all__ = ["METHODS", "SPOTS", "check_method", "check_screen", "dither", "dither_color"]


def check_method(method: str) -> None:
    """Raise ValueError naming the valid methods when `method` is not one of them."""
    if method not in METHODS:
        raise ValueError(f"unknown halftone method {method!r}; valid: {', '.join(METHODS)}")


def dither(
    gray: Any,
    method: str = "floyd-steinberg",
    *,
    serpentine: bool = True,
    lpi: float = 85.0,
    dpi: float = 600.0,
    angle: float = 45.0,
    spot: str = "round",
    seed: int | None = None,
) -> Any:
    """Halftone gray images to pure black and white.

    Args:
        gray: a float numpy array `(H, W)` or `(..., H, W)`, or a float torch tensor
            `(B, 1, H, W)`; values in [0, 1] (values outside are clipped).
        method: one of `METHODS`.
        serpentine: error diffusion walks odd rows right to left.
        lpi: clustered screen ruling, dots per inch.
        dpi: clustered screen device resolution; the dot period is `dpi / lpi` pixels.
        angle: clustered screen angle in degrees.
        spot: clustered dot shape, one of `SPOTS`.
        seed: makes the result reproducible (see the module docstring).

    Returns:
        The same type, shape, dtype (and device) as `gray`, with values exactly 0.0 (ink) or
        1.0 (paper).

    Raises:
        ValueError: unknown method or spot, bad screen parameters, wrong shape or dtype, or
            non-finite values.
    """
    _check_options(method, lpi, dpi, angle, spot)
    stack, restore = _as_stack(gray, channels=1, name="dither")
    rng = np.random.default_rng(seed)
    screen = _Screen(lpi=lpi, dpi=dpi, angle=angle, spot=spot)
    return restore(_dither_stack(stack, method, serpentine, screen, rng, seeded=seed is not None))


def dither_color(
    rgb: Any,
    method: str = "floyd-steinberg",
    *,
    serpentine: bool = True,
    lpi: float = 85.0,
    dpi: float = 600.0,
    angle: float = 45.0,
    spot: str = "round",
    seed: int | None = None,
    cmyk: bool | None = None,
    channel_axis: int = -3,
) -> Any:
    """Halftone color images: every channel becomes 0/1, like a print from separate plates.

    With `cmyk=False` each RGB channel is halftoned on its own (the "color halftone" of the
    paper's reverse cascade). With `cmyk=True` the image is separated into cyan, magenta, yellow
    and black inks (full gray-component replacement), each ink is halftoned, for `clustered` at
    its classic screen angle (black at `angle`, cyan at `angle` - 30°, magenta at `angle` + 30°,
    yellow at `angle` - 45°), and the inks are overprinted back into RGB.

    Args:
        rgb: a float numpy array with 3 channels on `channel_axis` (by default `(..., 3, H, W)`;
            pass `channel_axis=-1` for `(H, W, 3)`), or a float torch tensor `(B, 3, H, W)`;
            values in [0, 1].
        method: one of `METHODS`.
        serpentine: see `dither`.
        lpi: see `dither`.
        dpi: see `dither`.
        angle: see `dither`; the black screen's angle with `cmyk`.
        spot: see `dither`.
        seed: see `dither`.
        cmyk: separate into CMYK inks; None means True for `clustered` and False otherwise.
        channel_axis: the channel axis of a numpy input (torch tensors always use axis 1).

    Returns:
        The same type, shape, dtype (and device) as `rgb`, every channel exactly 0.0 or 1.0.

    Raises:
        ValueError: as `dither`, or the channel axis does not have 3 channels.
    """
    _check_options(method, lpi, dpi, angle, spot)
    if cmyk is None:
        cmyk = method == "clustered"
    planes, restore = _as_stack(rgb, channels=3, name="dither_color", channel_axis=channel_axis)
    rng = np.random.default_rng(seed)
    seeded = seed is not None

    def halftone(paper: np.ndarray, plate_angle: float) -> np.ndarray:
        screen = _Screen(lpi=lpi, dpi=dpi, angle=plate_angle, spot=spot)
        return _dither_stack(paper, method, serpentine, screen, rng, seeded=seeded)

    if not cmyk:
        return restore(halftone(planes, angle))
    # planes are (N * 3, H, W): R, G, B of each image in turn
    red, green, blue = planes[0::3], planes[1::3], planes[2::3]
    brightest = np.maximum(np.maximum(red, green), blue)
    safe = np.where(brightest > 0, brightest, 1.0)
    # black covers 1 - max(R, G, B); a color ink covers (max - channel) / max of the rest, so
    # the paper each plate leaves is max for black and channel / max for the color inks
    paper = {
        "cyan": np.where(brightest > 0, red / safe, 1.0),
        "magenta": np.where(brightest > 0, green / safe, 1.0),
        "yellow": np.where(brightest > 0, blue / safe, 1.0),
        "black": brightest,
    }
    plates = {
        ink: halftone(
            np.ascontiguousarray(share, dtype=np.float32), angle + CMYK_ANGLE_OFFSETS[ink]
        )
        for ink, share in paper.items()
    }
    # overprinting: a channel stays lit only where neither its ink nor black covers the paper
    result = np.empty_like(planes, dtype=np.uint8)
    result[0::3] = plates["cyan"] & plates["black"]
    result[1::3] = plates["magenta"] & plates["black"]
    result[2::3] = plates["yellow"] & plates["black"]
    return restore(result)


def _check_options(method: str, lpi: float, dpi: float, angle: float, spot: str) -> None:
    check_method(method)
    if method == "clustered":
        check_screen(lpi, dpi, angle, spot)


@dataclass(frozen=True)
class _Screen:
    """The clustered-dot screen parameters, passed through as one value."""

    lpi: float
    dpi: float
    angle: float
    spot: str


def _dither_stack(
    images: np.ndarray,
    method: str,
    serpentine: bool,
    screen: _Screen,
    rng: np.random.Generator,
    *,
    seeded: bool,
) -> np.ndarray:
    """`(N, H, W)` float32 in [0, 1] -> `(N, H, W)` uint8, 1 white and 0 ink."""
    count, height, width = images.shape
    if method in KERNELS:
        # imported on first use: numba takes a noticeable time to import, which the mask
        # methods and option checks need not pay
        from halftint.halftone.errordiffusion import error_diffusion

        return error_diffusion(images, KERNELS[method], serpentine=serpentine)
    if method == "random":
        return apply_thresholds(images, rng.random(images.shape, dtype=np.float32))
    if method == "clustered":
        # unseeded, every image gets the same screen: compute it once
        phases = rng.random((count, 2)) if seeded else np.zeros((1, 2))
        thresholds = np.stack(
            [
                screen_thresholds(
                    height,
                    width,
                    lpi=screen.lpi,
                    dpi=screen.dpi,
                    angle=screen.angle,
                    spot=screen.spot,
                    phase=(float(phase_along), float(phase_across)),
                )
                for phase_along, phase_across in phases
            ]
        )
        return apply_thresholds(images, thresholds)
    if method == "blue-noise":
        mask = blue_noise_thresholds()
    else:
        mask = bayer_thresholds(int(method.removeprefix("bayer")))
    if not seeded:
        return apply_thresholds(images, tile(mask, height, width))
    offsets = rng.integers(0, mask.shape[0], size=(count, 2))
    return np.stack(
        [
            apply_thresholds(images[n], tile(mask, height, width, (int(row), int(column))))
            for n, (row, column) in enumerate(offsets)
        ]
    )


def _torch_module() -> Any:
    return sys.modules.get("torch")


def _as_stack(
    images: Any, *, channels: int, name: str, channel_axis: int = -3
) -> tuple[np.ndarray, Any]:
    """Flatten the input to a C-contiguous float32 `(N, H, W)` stack in [0, 1].

    Returns the stack and a function that turns a uint8 `(N, H, W)` result back into the
    caller's type, shape, dtype and device.
    """
    torch = _torch_module()
    if torch is not None and isinstance(images, torch.Tensor):
        if images.dim() != 4 or images.shape[1] != channels:
            raise ValueError(
                f"{name} expects a (B, {channels}, H, W) tensor, got shape {tuple(images.shape)}"
            )
        if not images.is_floating_point():
            raise ValueError(f"{name} expects a float tensor, got {images.dtype}")
        like = images
        array = images.detach().to(device="cpu", dtype=torch.float32).numpy()
        stack = _clean(array, name)

        def restore_tensor(result: np.ndarray) -> Any:
            tensor = torch.from_numpy(result.reshape(like.shape))
            return tensor.to(device=like.device, dtype=like.dtype)

        return stack, restore_tensor

    if not isinstance(images, np.ndarray):
        raise ValueError(
            f"{name} expects a numpy array or a torch tensor, got {type(images).__name__}"
        )
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"{name} expects a float array in [0, 1], got dtype {images.dtype}")
    dtype = images.dtype
    if channels == 1:
        if images.ndim < 2:
            raise ValueError(
                f"{name} expects an (H, W) or (..., H, W) array, got shape {images.shape}"
            )
        shape = images.shape
        stack = _clean(images, name)
        return stack, lambda result: result.reshape(shape).astype(dtype)

    if images.ndim < 3 or images.shape[channel_axis] != channels:
        raise ValueError(
            f"{name} expects {channels} channels on axis {channel_axis}, got shape {images.shape}"
            + (" (pass channel_axis=-1 for (H, W, 3) arrays)" if channel_axis != -1 else "")
        )
    # bring channels to axis -3 so that the stack is (..., 3, H, W) flattened
    moved = np.moveaxis(images, channel_axis, -3)
    moved_shape = moved.shape
    stack = _clean(moved, name)

    def restore_array(result: np.ndarray) -> np.ndarray:
        return np.moveaxis(result.reshape(moved_shape), -3, channel_axis).astype(dtype)

    return stack, restore_array


def _clean(images: np.ndarray, name: str) -> np.ndarray:
    """`(..., H, W)` -> checked, clipped, C-contiguous float32 `(N, H, W)`."""
    if images.size == 0:
        raise ValueError(f"{name} got an empty image, shape {images.shape}")
    # min and max propagate NaN and show infinities: two quick passes, no temporary arrays
    low, high = float(images.min()), float(images.max())
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{name} got NaN or infinite values; expected gray levels in [0, 1]")
    stack = images.reshape(-1, *images.shape[-2:])
    if low < 0.0 or high > 1.0:
        stack = np.clip(stack, 0.0, 1.0)
    return np.ascontiguousarray(stack, dtype=np.float32)
