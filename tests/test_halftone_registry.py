"""The halftone registry: every entry is valid, and the CLI, eval and training derive from it."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest
import typer.main

from halftint.cli.app import app
from halftint.cli.halftone_cmd import METHODS_HELP
from halftint.errors import UsageError
from halftint.evaluate.methods import HalftoneMethod, parse_methods
from halftint.halftone import dither
from halftint.halftone.kernels import KERNELS
from halftint.halftone.registry import (
    CLUSTERED,
    ERROR_DIFFUSION,
    METHODS,
    REGISTRY,
    Options,
    ScreenOptions,
    check_option_values,
    get_method,
    option_infos,
    resolve_options,
)

KINDS = {"error diffusion", "ordered", "clustered", "blue noise", "white noise"}


def _noise(height: int = 48, width: int = 48) -> np.ndarray:
    return np.random.default_rng(3).random((height, width)).astype(np.float32)


# --- the entries --------------------------------------------------------------------------


def test_the_methods_and_their_order_are_those_the_command_line_always_had() -> None:
    expected = [*KERNELS, "bayer2", "bayer4", "bayer8", "bayer16", "clustered", "blue-noise"]
    assert list(METHODS) == [*expected, "random"]
    assert [name for name, method in REGISTRY.items() if method.kind == ERROR_DIFFUSION] == list(
        KERNELS
    )


@pytest.mark.parametrize("name", METHODS)
def test_every_entry_is_complete_and_its_defaults_are_valid(name: str) -> None:
    method = REGISTRY[name]
    assert method.name == name
    assert method.kind in KINDS
    assert method.help and "\n" not in method.help
    assert method.seed in {"ignored", "shift", "noise"}
    assert issubclass(method.options, Options) and dataclasses.is_dataclass(method.options)
    defaults = method.options()
    defaults.check()
    with pytest.raises(dataclasses.FrozenInstanceError):
        defaults.__setattr__("x", 1)
    for spec in dataclasses.fields(method.options):
        assert type(spec.default) in {bool, int, float, str}, spec.name
        assert spec.metadata["help"], spec.name
    # the runner takes the stack dither makes and gives 0/1 uint8 of the same shape
    stack = _noise()[None]
    result = method.run(stack, defaults, np.random.default_rng(0), True)
    assert result.shape == stack.shape and result.dtype == np.uint8
    assert set(np.unique(result).tolist()) == {0, 1}


def test_a_shared_option_means_the_same_everywhere() -> None:
    infos = option_infos()  # raises TypeError when two methods disagree on a default
    assert list(infos) == ["serpentine", "lpi", "dpi", "angle", "spot"]
    assert infos["serpentine"].scope == ERROR_DIFFUSION
    assert infos["lpi"].scope == CLUSTERED
    assert infos["lpi"].default == ScreenOptions.lpi == 85.0


@pytest.mark.parametrize("name", METHODS)
def test_the_seed_is_used_as_the_entry_says(name: str) -> None:
    method, image = REGISTRY[name], _noise()
    first = dither(image, name, seed=11)
    assert np.array_equal(first, dither(image, name, seed=11))
    assert np.array_equal(first, dither(image, name, seed=12)) == (not method.uses_seed)
    unseeded = [dither(image, name) for _ in range(2)]
    assert np.array_equal(*unseeded) == (not method.stochastic)


# --- errors: one line, naming what is valid -------------------------------------------------


def test_an_unknown_method_is_one_line_listing_every_valid_name() -> None:
    with pytest.raises(ValueError, match="unknown halftone method 'nope'; valid: ") as caught:
        get_method("nope")
    message = str(caught.value)
    assert "\n" not in message
    assert message.split("valid: ")[1].split(", ") == list(METHODS)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lpi": 0.0}, r"^lpi must be > 0 and at most dpi/2 = 300 \(a dot needs"),
        ({"dpi": -5.0}, "^dpi must be a positive number, got -5.0$"),
        ({"angle": 400.0}, "^angle must be between -360 and 360 degrees, got 400.0$"),
        ({"spot": "star"}, "^unknown spot shape 'star'; valid: round, ellipse, square, line$"),
    ],
)
def test_a_bad_option_value_is_one_line_naming_the_allowed_range(
    options: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_options("clustered", options)
    # the command line checks every given value, whichever method runs
    with pytest.raises(ValueError, match=message):
        check_option_values(options)
    # and eval --methods says which entry
    entry = "clustered:" + ":".join(f"{key}={value}" for key, value in options.items())
    with pytest.raises(UsageError, match=f"^bad value in methods entry '{entry}': "):
        parse_methods(entry)


def test_options_of_other_methods_are_ignored_and_unknown_ones_refused() -> None:
    _, options = resolve_options("floyd-steinberg", {"lpi": 0.0, "serpentine": False})
    assert options == REGISTRY["floyd-steinberg"].options(serpentine=False)
    with pytest.raises(TypeError, match="unknown halftone option 'dots'; valid: serpentine, lpi"):
        dither(_noise(), "clustered", dots=3)


# --- what derives from the registry ---------------------------------------------------------


def test_the_command_line_takes_its_method_list_and_option_flags_from_the_registry() -> None:
    command = typer.main.get_command(app).commands["halftone"]  # type: ignore[attr-defined]
    params = {param.name: param for param in command.params}
    method_help = params["method"].help
    assert method_help == METHODS_HELP
    named = {word.strip(",;.()") for word in method_help.split()}
    assert set(METHODS) <= named
    infos = option_infos()
    names = [param.name for param in command.params]
    start = names.index("method") + 1
    assert names[start : start + len(infos)] == list(infos)
    for info in infos.values():
        param = params[info.name]
        assert param.default == info.default
        assert info.help in param.help
        if info.allowed:
            assert f"({info.allowed})" in param.help
    assert params["serpentine"].opts == ["--serpentine"]
    assert params["serpentine"].secondary_opts == ["--no-serpentine"]
    assert params["spot"].help.startswith("Clustered: dot shape (round, ellipse, square or line)")


def test_eval_methods_take_every_registry_option() -> None:
    for info in option_infos().values():
        for name in info.methods:
            entry = f"{name}:{info.name}={'false' if info.type is bool else info.default}"
            (method,) = parse_methods(entry)
            assert dict(method.options)[info.name] == (False if info.type is bool else info.default)
    with pytest.raises(UsageError, match="option lpi does not apply to bayer8"):
        parse_methods("bayer8:lpi=85")


@pytest.mark.parametrize(
    "text",
    [
        "floyd-steinberg",
        "atkinson:serpentine=false",
        "clustered:angle=30.5:lpi=133.33333333333334:spot=ellipse",
        "clustered:dpi=1200.0:scan=true",
        "random:scan=false",
        "bayer16",
    ],
)
def test_eval_methods_round_trip(text: str) -> None:
    (method,) = parse_methods(text)
    assert parse_methods(method.spec) == [method]
    assert method.spec == text  # options sorted, floats at full precision
    image = _noise(24, 31)
    options = {key: value for key, value in method.options if key != "scan"}
    if not dict(method.options).get("scan"):
        np.testing.assert_array_equal(
            method.apply(image, seed=4), dither(image, method.method, seed=4, **options)
        )


def test_eval_labels_come_from_the_options() -> None:
    assert HalftoneMethod("clustered").label == "clustered-85lpi@600dpi"
    assert HalftoneMethod("clustered", (("angle", 45.0),)).label == "clustered-85lpi@600dpi-45deg"
    assert HalftoneMethod("jarvis", (("serpentine", False),)).label == "jarvis-raster"
    assert HalftoneMethod("bayer2", (("scan", True),)).label == "bayer2-scanned"
    assert HalftoneMethod("clustered").is_clustered
    assert not HalftoneMethod("random").is_clustered


def test_options_without_their_own_labels_name_each_given_option() -> None:
    @dataclasses.dataclass(frozen=True)
    class Made(Options):
        level: float = 0.5
        shape: str = "dot"
        inverted: bool = False

    made = Made(level=0.25, shape="ring", inverted=True)
    assert made.label_parts({"level", "shape", "inverted"}) == ("level0.25", "ring", "inverted")
    assert Made(inverted=False).label_parts({"inverted"}) == ("noinverted",)
    assert made.label_parts(()) == ()


def test_the_training_mixture_accepts_exactly_the_registry_names() -> None:
    from halftint.train.config import TrainConfig, apply, resolve

    every = apply(TrainConfig(), {"halftone": {"mixture": dict.fromkeys(METHODS, 1.0)}}, "test")
    resolve(every, working_size=128)
    unknown = apply(TrainConfig(), {"halftone": {"mixture": {"halftoning": 1.0}}}, "test")
    with pytest.raises(UsageError, match=f"one of {', '.join(METHODS)}$"):
        resolve(unknown, working_size=128)


def test_the_registry_loads_neither_numpy_nor_numba() -> None:
    code = (
        "import sys, halftint.halftone.registry, halftint.cli.halftone_cmd; "
        "print(sorted({'numpy', 'numba', 'torch'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
