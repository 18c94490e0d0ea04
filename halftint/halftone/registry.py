"""The halftone methods, one entry each: everything that lists, checks or describes them reads here.

An entry (`Method`) holds the method's name, its kind (error diffusion, ordered, clustered, ...),
a one-line help, how it uses a seed, its options and the function that runs it. The options are
a small frozen dataclass (`Options`): each field's default is the method's default, and its
metadata holds a help line and the allowed range that `Options.check` enforces. From
`REGISTRY` follow `METHODS`, the `halftint halftone` choices and its option flags (one per
option field), the `eval --methods` options and their defaults, the training mixture's valid
names, and the help texts.

Adding a method: write its runner here (or in a new module it imports on first use), add one
`Method` to `_ENTRIES` (with a new `Options` subclass if it takes options), and test it in
tests/test_halftone_registry.py. An error-diffusion kernel is one row of
`halftint.halftone.kernels.KERNELS` instead. An option that several methods share must mean the
same thing (same name, type and default) in all of them: the command line has one flag for it.

This module is light on purpose (no numpy, no numba at import time): `halftint --help` reads
it. The kernels are imported when a method first runs.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from halftint.halftone.kernels import KERNELS

if TYPE_CHECKING:
    import numpy as np

# kinds of methods, in the order help texts list them
ERROR_DIFFUSION = "error diffusion"
ORDERED = "ordered"
CLUSTERED = "clustered"
BLUE_NOISE = "blue noise"
WHITE_NOISE = "white noise"

SPOTS = ("round", "ellipse", "square", "line")
BAYER_SIZES = (2, 4, 8, 16)
# a screen period below two pixels cannot form dots (Nyquist)
MIN_PERIOD = 2.0
MAX_ABS_ANGLE = 360.0

_T = TypeVar("_T")
_OptionsT = TypeVar("_OptionsT", bound="Options")


def option(default: _T, description: str, allowed: str | None = None) -> _T:
    """A field of an `Options` dataclass: its default, a help line and, for help texts, the
    allowed range in words (which `Options.check` enforces)."""
    return dataclasses.field(default=default, metadata={"help": description, "allowed": allowed})


@dataclass(frozen=True)
class Options:
    """A method's options; subclasses add fields made with `option`. This one has none."""

    def check(self) -> None:
        """Raise ValueError naming the bad value and its allowed range."""

    def rotated(self: _OptionsT, degrees: float) -> _OptionsT:
        """The options of a plate screened `degrees` further round (the CMYK plates of
        `dither_color`); options without a screen angle stay as they are."""
        return self

    def label_parts(self, given: Collection[str]) -> tuple[str, ...]:
        """Words that tell this setting apart in a short label (`eval`'s method labels);
        `given` names the options that were set explicitly. By default one word per option
        given: `level0.3` for a number, the value of a string, `name` or `noname` for a bool."""
        parts = []
        for spec in dataclasses.fields(self):
            if spec.name not in given:
                continue
            value = getattr(self, spec.name)
            if isinstance(value, bool):
                parts.append(spec.name if value else f"no{spec.name}")
            elif isinstance(value, int | float):
                parts.append(f"{spec.name}{value:g}")
            else:
                parts.append(str(value))
        return tuple(parts)


@dataclass(frozen=True)
class DiffusionOptions(Options):
    """Error diffusion."""

    serpentine: bool = option(True, "walk every other row right to left")

    def label_parts(self, given: Collection[str]) -> tuple[str, ...]:
        return () if self.serpentine else ("raster",)


@dataclass(frozen=True)
class ScreenOptions(Options):
    """A clustered-dot (AM) screen; its dot period is `dpi / lpi` pixels."""

    lpi: float = option(
        85.0, "screen ruling, dots per inch", f"positive, at most dpi/{MIN_PERIOD:g}"
    )
    dpi: float = option(
        600.0, "pixels per inch of the image; dots are dpi/lpi px apart", "positive"
    )
    angle: float = option(
        45.0, "screen angle in degrees", f"{-MAX_ABS_ANGLE:g} to {MAX_ABS_ANGLE:g}"
    )
    spot: str = option("round", "dot shape", f"{', '.join(SPOTS[:-1])} or {SPOTS[-1]}")

    def check(self) -> None:
        lpi, dpi, angle = self.lpi, self.dpi, self.angle
        if not (math.isfinite(dpi) and dpi > 0):
            raise ValueError(f"dpi must be a positive number, got {dpi}")
        if not (math.isfinite(lpi) and 0 < lpi <= dpi / MIN_PERIOD):
            raise ValueError(
                f"lpi must be > 0 and at most dpi/{MIN_PERIOD:g} = {dpi / MIN_PERIOD:g} "
                f"(a dot needs at least {MIN_PERIOD:g} pixels), got {lpi}"
            )
        if not (math.isfinite(angle) and -MAX_ABS_ANGLE <= angle <= MAX_ABS_ANGLE):
            raise ValueError(
                f"angle must be between {-MAX_ABS_ANGLE:g} and {MAX_ABS_ANGLE:g} degrees, "
                f"got {angle}"
            )
        if self.spot not in SPOTS:
            raise ValueError(f"unknown spot shape {self.spot!r}; valid: {', '.join(SPOTS)}")

    def rotated(self, degrees: float) -> ScreenOptions:
        return dataclasses.replace(self, angle=self.angle + degrees)

    def label_parts(self, given: Collection[str]) -> tuple[str, ...]:
        parts = [f"{self.lpi:g}lpi@{self.dpi:g}dpi"]
        if "angle" in given:
            parts.append(f"{self.angle:g}deg")
        if "spot" in given:
            parts.append(self.spot)
        return tuple(parts)


def check_screen(lpi: float, dpi: float, angle: float, spot: str) -> None:
    """Validate clustered screen parameters (`ScreenOptions.check`).

    Raises:
        ValueError: naming the bad value and the allowed range.
    """
    ScreenOptions(lpi=lpi, dpi=dpi, angle=angle, spot=spot).check()


# runs a method: a C-contiguous float32 `(N, H, W)` stack in [0, 1] (or of uint8 levels, for a
# method that `takes_8bit`), the method's options, the random generator and whether a seed was
# given -> uint8 `(N, H, W)`, 1 white paper, 0 ink
Runner = Callable[["np.ndarray", Any, "np.random.Generator", bool], "np.ndarray"]
SeedUse = Literal["ignored", "shift", "noise"]


@dataclass(frozen=True, kw_only=True)
class Method:
    """One halftone method.

    Attributes:
        name: what the command line, `dither` and the training mixture call it.
        kind: one of the kinds above (ERROR_DIFFUSION, ORDERED, CLUSTERED, ...).
        help: one line for help texts.
        run: the function that halftones (see `Runner`).
        options: its options dataclass (`Options` when it takes none).
        seed: how it uses a seed: "ignored" (deterministic), "shift" (a seed shifts the
            screen to a random phase; without one the screen is not shifted) or "noise" (it
            draws random numbers: without a seed every run differs).
        takes_8bit: `run` also takes a uint8 stack of 8-bit levels (read as level / 255 in
            float32), so an 8-bit image needs no float copy; other methods get that copy.
    """

    name: str
    kind: str
    help: str
    run: Runner
    options: type[Options] = Options
    seed: SeedUse = "shift"
    takes_8bit: bool = False

    def make_options(self, given: Mapping[str, Any]) -> Options:
        """Its options from keyword values: its own fields taken from `given` (other keys are
        ignored), the rest at their defaults; not checked (see `Options.check`)."""
        names = {spec.name for spec in dataclasses.fields(self.options)}
        return self.options(**{key: value for key, value in given.items() if key in names})

    @property
    def uses_seed(self) -> bool:
        """Whether a seed changes the result."""
        return self.seed != "ignored"

    @property
    def stochastic(self) -> bool:
        """Whether runs without a seed differ (a seed is needed to repeat one)."""
        return self.seed == "noise"


# ---- the runners: each imports its kernel on first use ----


def _error_diffusion(kernel: str) -> Runner:
    def run(
        images: np.ndarray, options: DiffusionOptions, rng: np.random.Generator, seeded: bool
    ) -> np.ndarray:
        # numba-compiled: importing it takes a noticeable time, which nothing else need pay
        from halftint.halftone.errordiffusion import error_diffusion

        return error_diffusion(images, KERNELS[kernel], serpentine=options.serpentine)

    return run


def _bayer(size: int) -> Runner:
    def run(
        images: np.ndarray, options: Options, rng: np.random.Generator, seeded: bool
    ) -> np.ndarray:
        from halftint.halftone.ordered import bayer_thresholds
        from halftint.halftone.threshold import apply_mask

        return apply_mask(images, bayer_thresholds(size), rng, seeded=seeded)

    return run


def _clustered(
    images: np.ndarray, options: ScreenOptions, rng: np.random.Generator, seeded: bool
) -> np.ndarray:
    from halftint.halftone.clustered import apply_screen

    return apply_screen(images, options, rng, seeded=seeded)


def _blue_noise(
    images: np.ndarray, options: Options, rng: np.random.Generator, seeded: bool
) -> np.ndarray:
    from halftint.halftone.bluenoise import blue_noise_thresholds
    from halftint.halftone.threshold import apply_mask

    return apply_mask(images, blue_noise_thresholds(), rng, seeded=seeded)


def _white_noise(
    images: np.ndarray, options: Options, rng: np.random.Generator, seeded: bool
) -> np.ndarray:
    from halftint.halftone.threshold import apply_white_noise

    return apply_white_noise(images, rng)


# ---- the registry ----

_ENTRIES = (
    *(
        Method(
            name=name,
            kind=ERROR_DIFFUSION,
            help=f"error diffusion, {kernel.origin}",
            run=_error_diffusion(name),
            options=DiffusionOptions,
            seed="ignored",
            takes_8bit=True,
        )
        for name, kernel in KERNELS.items()
    ),
    *(
        Method(
            name=f"bayer{size}",
            kind=ORDERED,
            help=f"ordered dither, Bayer's {size}x{size} matrix",
            run=_bayer(size),
        )
        for size in BAYER_SIZES
    ),
    Method(
        name="clustered",
        kind=CLUSTERED,
        help="AM screen, like newspaper photos",
        run=_clustered,
        options=ScreenOptions,
    ),
    Method(
        name="blue-noise",
        kind=BLUE_NOISE,
        help="void-and-cluster threshold mask",
        run=_blue_noise,
    ),
    Method(
        name="random",
        kind=WHITE_NOISE,
        help="white-noise thresholds",
        run=_white_noise,
        seed="noise",
    ),
)
REGISTRY: dict[str, Method] = {method.name: method for method in _ENTRIES}

METHODS: tuple[str, ...] = tuple(REGISTRY)
ERROR_DIFFUSION_METHODS = tuple(name for name, m in REGISTRY.items() if m.kind == ERROR_DIFFUSION)
ORDERED_METHODS = tuple(name for name, m in REGISTRY.items() if m.kind == ORDERED)


def get_method(name: str) -> Method:
    """The registry entry of `name`.

    Raises:
        ValueError: one line naming the valid methods.
    """
    method = REGISTRY.get(name)
    if method is None:
        raise ValueError(f"unknown halftone method {name!r}; valid: {', '.join(METHODS)}")
    return method


def check_method(method: str) -> None:
    """Raise ValueError naming the valid methods when `method` is not one of them."""
    get_method(method)


# ---- options across methods ----


@dataclass(frozen=True)
class OptionInfo:
    """One option name as the command line and `eval --methods` see it, over all methods."""

    name: str
    type: type
    default: Any
    help: str
    allowed: str | None
    methods: tuple[str, ...]

    @property
    def flag(self) -> str:
        """The command-line flag's name, without the dashes (`dot_gain` -> `dot-gain`)."""
        return self.name.replace("_", "-")

    @property
    def scope(self) -> str:
        """Which methods take it: a kind when it is exactly that kind's methods, else names."""
        for kind in dict.fromkeys(REGISTRY[name].kind for name in self.methods):
            if self.methods == tuple(n for n, m in REGISTRY.items() if m.kind == kind):
                return kind
        return ", ".join(self.methods)


def option_infos() -> dict[str, OptionInfo]:
    """Every option of every method, by name, in registry order.

    Raises:
        TypeError: two methods give one option name different types or defaults.
    """
    infos: dict[str, OptionInfo] = {}
    for method in REGISTRY.values():
        for spec in dataclasses.fields(method.options):
            info = infos.get(spec.name)
            if info is None:
                infos[spec.name] = OptionInfo(
                    name=spec.name,
                    type=type(spec.default),
                    default=spec.default,
                    help=spec.metadata["help"],
                    allowed=spec.metadata["allowed"],
                    methods=(method.name,),
                )
                continue
            if (info.type, info.default) != (type(spec.default), spec.default):
                raise TypeError(
                    f"halftone option {spec.name!r} of {method.name} has default "
                    f"{spec.default!r}, but {info.methods[0]}'s is {info.default!r}"
                )
            infos[spec.name] = dataclasses.replace(info, methods=(*info.methods, method.name))
    return infos


def resolve_options(method: str, given: Mapping[str, Any]) -> tuple[Method, Options]:
    """The entry of `method` and its options: its own fields taken from `given`, the rest at
    their defaults, checked. Options of other methods in `given` are ignored: one set of
    keywords serves every method.

    Raises:
        ValueError: an unknown method or a value out of range (one line each).
        TypeError: a keyword that no method takes.
    """
    entry = get_method(method)
    known = option_infos()
    unknown = [key for key in given if key not in known]
    if unknown:
        raise TypeError(
            f"unknown halftone option {unknown[0]!r}; valid: {', '.join(known)} and seed"
        )
    options = entry.make_options(given)
    options.check()
    return entry, options


def check_option_values(values: Mapping[str, Any]) -> None:
    """Check the values of every method's options, whichever method runs (a command line has
    one flag per option and checks each given value).

    Raises:
        ValueError: the first value out of range, naming the allowed range.
    """
    for options in dict.fromkeys(method.options for method in REGISTRY.values()):
        names = {spec.name for spec in dataclasses.fields(options)}
        options(**{key: value for key, value in values.items() if key in names}).check()


# ---- help texts ----


def methods_summary() -> str:
    """The methods by kind, in one line: `error diffusion: floyd-steinberg, ...; ...`."""
    groups: dict[str, list[Method]] = {}
    for method in REGISTRY.values():
        groups.setdefault(method.kind, []).append(method)
    parts = []
    for kind, members in groups.items():
        if len(members) > 1:
            parts.append(f"{kind}: {', '.join(method.name for method in members)}")
            continue
        (method,) = members
        flags = " ".join(
            f"--{spec.name.replace('_', '-')}" for spec in dataclasses.fields(method.options)
        )
        parts.append(f"{method.name} ({method.help}{'; see ' + flags if flags else ''})")
    return "; ".join(parts) + "."


def options_summary() -> str:
    """The option names by the methods that take them: `serpentine (error diffusion), ...`."""
    groups: dict[str, list[str]] = {}
    for info in option_infos().values():
        groups.setdefault(info.scope, []).append(info.flag)
    return ", ".join(f"{', '.join(names)} ({scope})" for scope, names in groups.items())
