"""The halftoning settings an evaluation runs, and the `--methods` syntax that names them.

Syntax: comma-separated `NAME[:OPTION=VALUE]...` entries, NAME one of `halftone.METHODS`.
Options: `lpi`, `dpi`, `angle` (degrees) and `spot` (round, ellipse, square, line) for
`clustered`; `serpentine` (true/false) for error diffusion; `scan` (true/false) for any method:
the print then goes through a fixed simulated scan (`SCAN`: slight blur, a resampling, sensor
noise and JPEG at quality 75, as `halftint.data.scan_print` makes them). Example:
`floyd-steinberg,clustered:lpi=85:dpi=600:angle=30,atkinson:serpentine=false`.

A clustered screen's dot period in pixels is dpi / lpi: the default list holds two rulings
typical of newspaper scans at the working size, 4 px (150 lpi at 600 dpi) and 6 px (100 lpi),
and a scanned print (6 px at 30°).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from halftint.data import scan_print
from halftint.errors import UsageError
from halftint.halftone import ERROR_DIFFUSION_METHODS, METHODS, check_screen, dither

DEFAULT_METHODS = (
    "floyd-steinberg,jarvis,atkinson,clustered:lpi=150:dpi=600,clustered:lpi=100:dpi=600,"
    "clustered:lpi=100:dpi=600:angle=30:scan=true"
)
# the fixed scan of `scan=true`: blur σ (px), resampling factor, noise std, JPEG quality
SCAN = {"blur": 0.7, "resample": 0.8, "noise": 0.02, "quality": 75}
# dither's own defaults, used (and named in a clustered label) when an entry leaves them out
CLUSTERED_DEFAULT_LPI = 85.0
CLUSTERED_DEFAULT_DPI = 600.0
CLUSTERED_DEFAULT_ANGLE = 45.0
CLUSTERED_DEFAULT_SPOT = "round"

OptionValue = float | str | bool


@dataclass(frozen=True)
class HalftoneMethod:
    """One halftoning setting: a `halftint.halftone` method name and its options (sorted)."""

    method: str
    options: tuple[tuple[str, OptionValue], ...] = ()

    @property
    def label(self) -> str:
        """The method, plus the ruling of a clustered screen (`clustered-150lpi@600dpi`) and any
        other option that differs from the default (`-30deg`, `-ellipse`, `-raster`)."""
        options = dict(self.options)
        parts = [self.method]
        if self.is_clustered:
            lpi = options.get("lpi", CLUSTERED_DEFAULT_LPI)
            dpi = options.get("dpi", CLUSTERED_DEFAULT_DPI)
            parts.append(f"{lpi:g}lpi@{dpi:g}dpi")
        if "angle" in options:
            parts.append(f"{options['angle']:g}deg")
        if "spot" in options:
            parts.append(str(options["spot"]))
        if options.get("serpentine") is False:
            parts.append("raster")
        if options.get("scan") is True:
            parts.append("scanned")
        return "-".join(parts)

    @property
    def is_clustered(self) -> bool:
        return self.method == "clustered"

    def apply(self, gray: np.ndarray, seed: int) -> np.ndarray:
        """Halftone a gray `(H, W)` array in [0, 1]: 0/1 float32 of the same shape, 1 = paper."""
        options = dict(self.options)
        halftone = dither(
            gray,
            self.method,
            serpentine=bool(options.get("serpentine", True)),
            lpi=float(options.get("lpi", CLUSTERED_DEFAULT_LPI)),
            dpi=float(options.get("dpi", CLUSTERED_DEFAULT_DPI)),
            angle=float(options.get("angle", CLUSTERED_DEFAULT_ANGLE)),
            spot=str(options.get("spot", CLUSTERED_DEFAULT_SPOT)),
            seed=seed,
        )
        halftone = np.asarray(halftone, dtype=np.float32)
        if options.get("scan") is True:
            halftone = scan_print(halftone, **SCAN, rng=np.random.default_rng(seed))  # type: ignore[arg-type]
        return halftone


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def _boolean(text: str) -> bool:
    if text.lower() in {"true", "yes", "1"}:
        return True
    if text.lower() in {"false", "no", "0"}:
        return False
    raise ValueError(f"{text} is not true or false")


# option -> (the methods it applies to, the parser of its value)
_OPTIONS: dict[str, tuple[frozenset[str], Callable[[str], OptionValue]]] = {
    "lpi": (frozenset({"clustered"}), _number),
    "dpi": (frozenset({"clustered"}), _number),
    "angle": (frozenset({"clustered"}), _number),
    "spot": (frozenset({"clustered"}), str),
    "serpentine": (frozenset(ERROR_DIFFUSION_METHODS), _boolean),
    "scan": (frozenset(METHODS), _boolean),
}


def parse_methods(text: str) -> list[HalftoneMethod]:
    """Parse a `--methods` list (syntax in the module docstring), keeping its order.

    Raises:
        UsageError: an unknown method or option, a bad value, a repeated entry or an empty list.
    """
    methods: list[HalftoneMethod] = []
    for entry in (part.strip() for part in text.split(",")):
        if entry:
            method = _parse_entry(entry)
            if any(existing.label == method.label for existing in methods):
                raise UsageError(f"--methods lists {method.label} twice")
            methods.append(method)
    if not methods:
        raise UsageError(
            f"--methods is empty; give comma-separated names from: {', '.join(METHODS)}"
        )
    return methods


def _parse_entry(entry: str) -> HalftoneMethod:
    name, *option_texts = entry.split(":")
    if name not in METHODS:
        raise UsageError(
            f"unknown halftone method {name!r} in --methods; valid: {', '.join(METHODS)}"
        )
    options: dict[str, OptionValue] = {}
    for option_text in option_texts:
        key, separator, value = option_text.partition("=")
        if not separator or key not in _OPTIONS:
            raise UsageError(
                f"bad option {option_text!r} in --methods entry {entry!r}: "
                f"use OPTION=VALUE with OPTION one of {', '.join(_OPTIONS)}"
            )
        applies_to, parse = _OPTIONS[key]
        if name not in applies_to:
            raise UsageError(f"option {key} does not apply to {name} (--methods entry {entry!r})")
        try:
            options[key] = parse(value)
        except ValueError as error:
            raise UsageError(f"bad value for {key} in --methods entry {entry!r}: {error}") from None
    if name == "clustered":
        try:
            check_screen(
                float(options.get("lpi", CLUSTERED_DEFAULT_LPI)),
                float(options.get("dpi", CLUSTERED_DEFAULT_DPI)),
                float(options.get("angle", CLUSTERED_DEFAULT_ANGLE)),
                str(options.get("spot", CLUSTERED_DEFAULT_SPOT)),
            )
        except ValueError as error:
            raise UsageError(f"bad screen in --methods entry {entry!r}: {error}") from None
    return HalftoneMethod(name, tuple(sorted(options.items())))
