"""`dither` and `dither_color`: the halftoner's entry points on numpy arrays and torch tensors.

They turn the caller's array or tensor into a float32 `(N, H, W)` stack, look the method up in
`halftint.halftone.registry`, run it and give the result back in the caller's type. Torch is
never imported here: a tensor is recognised only if the caller has already imported torch.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from halftint.halftone.clustered import CMYK_ANGLE_OFFSETS
from halftint.halftone.registry import CLUSTERED, Options, resolve_options


def dither(
    gray: Any, method: str = "floyd-steinberg", *, seed: int | None = None, **options: Any
) -> Any:
    """Halftone gray images to pure black and white.

    Args:
        gray: a float numpy array `(H, W)` or `(..., H, W)`, or a float torch tensor
            `(B, 1, H, W)`, with values in [0, 1] (values outside are clipped); or a uint8 numpy
            array of 8-bit levels (level / 255: the same result as that float array, and for
            error diffusion without a float copy of the image).
        method: one of `METHODS`.
        seed: makes the result reproducible (see the package docstring).
        **options: the method's options by name, the rest at their defaults
            (`halftint.halftone.registry`; `halftint halftone --help` lists them): for example
            `serpentine` (error diffusion walks odd rows right to left), and `lpi`, `dpi`,
            `angle` and `spot` (a clustered screen's ruling, device resolution, angle in
            degrees and dot shape; the dot period is `dpi / lpi` pixels). Options of other
            methods are accepted and ignored, so one set of keywords can serve every method.

    Returns:
        The same type, shape, dtype (and device) as `gray`, with values exactly 0.0 (ink) or
        1.0 (paper); 0 and 255 for a uint8 array.

    Raises:
        ValueError: unknown method or spot, bad screen parameters, wrong shape or dtype, or
            non-finite values.
        TypeError: an option that no method takes.
    """
    entry, settings = resolve_options(method, options)
    stack, restore = _as_stack(gray, channels=1, name="dither")
    if stack.dtype == np.uint8 and not entry.takes_8bit:
        stack = to_unit(stack)
    rng = np.random.default_rng(seed)
    return restore(entry.run(stack, settings, rng, seed is not None))


def dither_color(
    rgb: Any,
    method: str = "floyd-steinberg",
    *,
    seed: int | None = None,
    cmyk: bool | None = None,
    channel_axis: int = -3,
    **options: Any,
) -> Any:
    """Halftone color images: every channel becomes 0/1, like a print from separate plates.

    With `cmyk=False` each RGB channel is halftoned on its own (the "color halftone" of the
    paper's reverse cascade). With `cmyk=True` the image is separated into cyan, magenta, yellow
    and black inks (full gray-component replacement), each ink is halftoned, for a screen with
    an angle (`clustered`) at its classic screen angle (black at `angle`, cyan at `angle` - 30°,
    magenta at `angle` + 30°, yellow at `angle` - 45°), and the inks are overprinted back into
    RGB.

    Args:
        rgb: a float numpy array with 3 channels on `channel_axis` (by default `(..., 3, H, W)`;
            pass `channel_axis=-1` for `(H, W, 3)`), or a float torch tensor `(B, 3, H, W)`;
            values in [0, 1]; or a uint8 numpy array of 8-bit levels.
        method: one of `METHODS`.
        seed: see `dither`.
        cmyk: separate into CMYK inks; None means True for clustered screens and False
            otherwise.
        channel_axis: the channel axis of a numpy input (torch tensors always use axis 1).
        **options: see `dither`; `angle` is the black screen's angle with `cmyk`.

    Returns:
        The same type, shape, dtype (and device) as `rgb`, every channel exactly 0.0 or 1.0
        (0 or 255 for uint8).

    Raises:
        ValueError: as `dither`, or the channel axis does not have 3 channels.
        TypeError: as `dither`.
    """
    entry, settings = resolve_options(method, options)
    if cmyk is None:
        cmyk = entry.kind == CLUSTERED
    planes, restore = _as_stack(rgb, channels=3, name="dither_color", channel_axis=channel_axis)
    rng = np.random.default_rng(seed)
    seeded = seed is not None

    def halftone(paper: np.ndarray, plate: Options) -> np.ndarray:
        return entry.run(paper, plate, rng, seeded)

    if not cmyk:
        return restore(halftone(planes, settings))
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
            np.ascontiguousarray(share, dtype=np.float32),
            settings.rotated(CMYK_ANGLE_OFFSETS[ink]),
        )
        for ink, share in paper.items()
    }
    # overprinting: a channel stays lit only where neither its ink nor black covers the paper
    result = np.empty_like(planes, dtype=np.uint8)
    result[0::3] = plates["cyan"] & plates["black"]
    result[1::3] = plates["magenta"] & plates["black"]
    result[2::3] = plates["yellow"] & plates["black"]
    return restore(result)


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
    eight_bit = images.dtype == np.uint8
    if not (eight_bit or np.issubdtype(images.dtype, np.floating)):
        raise ValueError(
            f"{name} expects a float array in [0, 1] or a uint8 one, got dtype {images.dtype}"
        )
    dtype = images.dtype
    if channels == 1:
        if images.ndim < 2:
            raise ValueError(
                f"{name} expects an (H, W) or (..., H, W) array, got shape {images.shape}"
            )
        shape = images.shape
        if eight_bit:
            if images.size == 0:
                raise ValueError(f"{name} got an empty image, shape {images.shape}")
            # levels stay 8-bit: methods that take them read level / 255 as they go, the rest
            # get that float32 copy (`registry.Method.takes_8bit`)
            levels = np.ascontiguousarray(images.reshape(-1, *shape[-2:]))
            return levels, lambda result: np.multiply(result, 255, out=result).reshape(shape)
        stack = _clean(images, name)
        return stack, lambda result: result.reshape(shape).astype(dtype)
    if eight_bit:
        images = to_unit(images)

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
        restored = np.moveaxis(result.reshape(moved_shape), -3, channel_axis)
        return restored * np.uint8(255) if dtype == np.uint8 else restored.astype(dtype)

    return stack, restore_array


def to_unit(levels: np.ndarray) -> np.ndarray:
    """uint8 levels -> float32 in [0, 1]: level / 255 in float32, as `halftint.io` reads files."""
    unit = levels.astype(np.float32)
    unit /= np.float32(255.0)
    return unit


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
