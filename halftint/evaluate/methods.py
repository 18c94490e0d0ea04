"""The halftoning settings an evaluation runs, and the `--methods` syntax that names them.

Syntax: comma-separated `NAME[:OPTION=VALUE]...` entries, NAME one of `halftone.METHODS`.
Options: those of the method in `halftint.halftone.registry`, at its defaults when left out
(today `lpi`, `dpi`, `angle` (degrees) and `spot` (round, ellipse, square, line) for
`clustered`; `serpentine` (true/false) for error diffusion), and `scan` (true/false) for any
method: the print then goes through a fixed simulated scan (`SCAN`: slight blur, a resampling,
sensor noise and JPEG at quality 75, as `halftint.data.scan_print` makes them). Example:
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
from halftint.errors import Setting, UsageError
from halftint.halftone import METHODS, dither
from halftint.halftone.registry import CLUSTERED, Options, get_method, option_infos, options_summary

DEFAULT_METHODS = (
    "floyd-steinberg,jarvis,atkinson,clustered:lpi=150:dpi=600,clustered:lpi=100:dpi=600,"
    "clustered:lpi=100:dpi=600:angle=30:scan=true"
)
# the fixed scan of `scan=true`: blur σ (px), resampling factor, noise std, JPEG quality
SCAN = {"blur": 0.7, "resample": 0.8, "noise": 0.02, "quality": 75}
# the option every method takes here (not a halftone option: it acts on the print)
SCAN_OPTION = "scan"

OptionValue = float | str | bool | int


@dataclass(frozen=True)
class HalftoneMethod:
    """One halftoning setting: a `halftint.halftone` method name and its options (sorted)."""

    method: str
    options: tuple[tuple[str, OptionValue], ...] = ()

    @property
    def label(self) -> str:
        """The method, plus the words its options add (the ruling of a clustered screen,
        `clustered-150lpi@600dpi`, and options that are given and change the look: `-30deg`,
        `-ellipse`, `-raster`), and `-scanned`."""
        options = dict(self.options)
        parts = [self.method, *self.halftone_options.label_parts(options)]
        if options.get(SCAN_OPTION) is True:
            parts.append("scanned")
        return "-".join(parts)

    @property
    def spec(self) -> str:
        """The `--methods` entry that names this setting (`parse_methods` reads it back)."""
        return "".join([self.method, *(f":{key}={_format(value)}" for key, value in self.options)])

    @property
    def is_clustered(self) -> bool:
        return get_method(self.method).kind == CLUSTERED

    @property
    def halftone_options(self) -> Options:
        """The method's options (`halftint.halftone.registry`), defaults filled in."""
        return get_method(self.method).make_options(self._dither_options())

    def _dither_options(self) -> dict[str, OptionValue]:
        return {key: value for key, value in self.options if key != SCAN_OPTION}

    def apply(self, gray: np.ndarray, seed: int) -> np.ndarray:
        """Halftone a gray `(H, W)` array in [0, 1]: 0/1 float32 of the same shape, 1 = paper."""
        halftone = dither(gray, self.method, seed=seed, **self._dither_options())
        halftone = np.asarray(halftone, dtype=np.float32)
        if dict(self.options).get(SCAN_OPTION) is True:
            halftone = scan_print(halftone, **SCAN, rng=np.random.default_rng(seed))  # type: ignore[arg-type]
        return halftone


def _format(value: OptionValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    # repr keeps every digit of a float, so that parsing gives the same number back
    return repr(value) if isinstance(value, float) else str(value)


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


# an option's type (that of its default) -> the parser of its value
_PARSERS: dict[type, Callable[[str], OptionValue]] = {
    float: _number,
    bool: _boolean,
    int: int,
    str: str,
}
# option -> (the methods it applies to, the parser of its value): the registry's, and scan
_OPTIONS: dict[str, tuple[frozenset[str], Callable[[str], OptionValue]]] = {
    **{
        info.name: (frozenset(info.methods), _PARSERS[info.type])
        for info in option_infos().values()
    },
    SCAN_OPTION: (frozenset(METHODS), _boolean),
}
_OPTIONS_HELP = f"{options_summary()}, {SCAN_OPTION} (any)"
# the setting these messages name: `--methods` on the command line
_SETTING = Setting("methods")


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
                raise UsageError(
                    "{methods} lists {label} twice", methods=_SETTING, label=method.label
                )
            methods.append(method)
    if not methods:
        raise UsageError(
            "{methods} is empty; give comma-separated names from: {names}",
            methods=_SETTING,
            names=", ".join(METHODS),
        )
    return methods


def _parse_entry(entry: str) -> HalftoneMethod:
    name, *option_texts = entry.split(":")
    if name not in METHODS:
        raise UsageError(
            "unknown halftone method {name!r} in {methods}; valid: {names}",
            name=name,
            methods=_SETTING,
            names=", ".join(METHODS),
        )
    options: dict[str, OptionValue] = {}
    for option_text in option_texts:
        key, separator, value = option_text.partition("=")
        if not separator or key not in _OPTIONS:
            raise UsageError(
                "bad option {option!r} in {methods} entry {entry!r}: use OPTION=VALUE with "
                "OPTION one of {options}",
                option=option_text,
                methods=_SETTING,
                entry=entry,
                options=_OPTIONS_HELP,
            )
        applies_to, parse = _OPTIONS[key]
        if name not in applies_to:
            raise UsageError(
                "option {key} does not apply to {name} ({methods} entry {entry!r})",
                key=key,
                name=name,
                methods=_SETTING,
                entry=entry,
            )
        try:
            options[key] = parse(value)
        except ValueError as error:
            raise UsageError(
                "bad value for {key} in {methods} entry {entry!r}: {error}",
                key=key,
                methods=_SETTING,
                entry=entry,
                error=str(error),
            ) from None
    method = HalftoneMethod(name, tuple(sorted(options.items())))
    try:
        method.halftone_options.check()
    except ValueError as error:
        raise UsageError(
            "bad value in {methods} entry {entry!r}: {error}",
            methods=_SETTING,
            entry=entry,
            error=str(error),
        ) from None
    return method
