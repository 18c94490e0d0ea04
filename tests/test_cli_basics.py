"""The front door: help and version stay light and fast, `info --json` is complete."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from halftint import __version__

# modules that --help and --version must never load: they take seconds to import
HEAVY_MODULES = ("torch", "numba", "cv2", "huggingface_hub", "safetensors", "scipy")

# runs the CLI in a fresh interpreter and reports, on stderr, how long it took and which heavy
# modules it loaded (stdout stays the command's own)
_PROBE = textwrap.dedent(
    """
    import json, sys, time
    start = time.perf_counter()
    from halftint.cli import main
    try:
        main(sys.argv[1:])
    except SystemExit as exit:
        code = exit.code
    heavy = [name for name in {heavy!r} if name in sys.modules]
    print(json.dumps({{"code": code, "seconds": time.perf_counter() - start, "heavy": heavy}}),
          file=sys.stderr)
    """
).format(heavy=HEAVY_MODULES)


def _probe(*args: str) -> tuple[str, dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    report = json.loads(result.stderr.strip().splitlines()[-1])
    return result.stdout, report


@pytest.mark.parametrize(
    "args",
    [("--help",), ("--version",), ("halftone", "--help")],
    ids=["help", "version", "halftone-help"],
)
def test_help_and_version_load_nothing_heavy_and_answer_fast(args: tuple[str, ...]) -> None:
    stdout, report = _probe(*args)
    assert report["code"] in (0, None)
    assert report["heavy"] == []
    # the target is 0.5 s (benchmarks/halftone.py measures it); here only a loose bound, since
    # tests share a busy machine
    assert isinstance(report["seconds"], float)
    assert report["seconds"] < 3.0
    assert stdout.strip()


def test_help_lists_the_commands() -> None:
    stdout, _ = _probe("--help")
    for command in ("halftone", "info", "weights", "train"):
        assert command in stdout


def test_version_prints_the_package_version() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "halftint", "--version"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert result.stdout == f"halftint {__version__}\n"
    assert result.stderr == ""


def test_unknown_command_is_a_one_line_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "halftint", "dither-all"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("halftint: error: No such command 'dither-all'")


def test_library_messages_name_settings_and_the_cli_names_its_options() -> None:
    from halftint.cli.common import error_text
    from halftint.errors import Setting, UsageError, WeightsError

    inner = WeightsError("offline ({offline})", offline=Setting("offline", True))
    error = UsageError(
        "{given} {source!r}: {inner}; pass {resume} or {device}, or {fresh} (literal {{x}})",
        given=Setting("init_from"),
        source="a{b}",
        inner=inner,
        resume=Setting("resume", True),
        device=Setting("device", "cpu"),
        fresh=Setting("init_fresh", ["generator"]),
    )
    assert str(error) == (
        "init_from 'a{b}': offline (offline=True); pass resume=True or device='cpu', or "
        "init_fresh=['generator'] (literal {x})"
    )
    assert error_text(error) == (
        "--init-from 'a{b}': offline (--offline); pass --resume or --device cpu, or "
        "--set 'init_fresh=[\"generator\"]' (literal {x})"
    )
    assert error.exit_code == 2
    # hub's `source` is the --weights option; a message without fields is kept as it is
    assert error_text(WeightsError("{source}", source=Setting("source", "x"))) == "--weights x"
    assert error_text(UsageError("plain {braces}")) == "plain {braces}"


@pytest.mark.slow
def test_info_json_has_the_expected_keys() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "halftint", "info", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    expected = {
        "halftint",
        "python",
        "platform",
        "torch",
        "cuda_available",
        "cuda_version",
        "devices",
        "cpu_threads",
        "cache_folder",
    }
    assert expected <= set(info)
    assert info["halftint"] == __version__
    assert info["python"] == ".".join(map(str, sys.version_info[:3]))
    assert isinstance(info["cuda_available"], bool)
    assert info["devices"][0] == "cpu"
    assert isinstance(info["cpu_threads"], int)
    assert info["cpu_threads"] >= 1


HELP_COMMANDS = {
    ("halftone",): "Usage: halftint halftone [OPTIONS] INPUT...",
    ("colorize",): "Usage: halftint colorize [OPTIONS] INPUT...",
    ("descreen",): "Usage: halftint descreen [OPTIONS] INPUT...",
    ("eval",): "Usage: halftint eval [OPTIONS]",
    ("info",): "Usage: halftint info [OPTIONS]",
    ("weights", "download"): "Usage: halftint weights download [OPTIONS] SOURCE",
    ("weights", "convert"): "Usage: halftint weights convert [OPTIONS] SOURCE OUT",
    ("weights", "push"): "Usage: halftint weights push [OPTIONS] BUNDLE",
    ("train", "ihn"): "Usage: halftint train ihn [OPTIONS]",
    ("train", "export"): "Usage: halftint train export [OPTIONS]",
}


@pytest.mark.parametrize("command", list(HELP_COMMANDS), ids=" ".join)
def test_help_shows_plain_metavars(command: tuple[str, ...]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "halftint", *command, "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == HELP_COMMANDS[command]
    # no Typer type hints such as "<str>", "<list[str]>", "<int range>", nor "{INPUT...}"
    assert "<str>" not in result.stdout and "<list" not in result.stdout
    assert "<int" not in result.stdout and "<path>" not in result.stdout
    assert "{" not in result.stdout.splitlines()[0]


def test_colorize_help_names_the_files_it_writes() -> None:
    stdout, _ = _probe("colorize", "--help")
    for name in ("NAME.color.png", "NAME.random-1.png", "NAME.interp.png", "NAME.grid.png"):
        assert name in stdout


@pytest.mark.parametrize("command", ["colorize", "descreen"])
def test_a_bad_input_is_refused_before_any_model_loads(command: str, tmp_path: Path) -> None:
    damaged = tmp_path / "scan.png"
    damaged.write_bytes(b"not a png at all")
    extra = ["--random"] if command == "colorize" else []
    _, report = _probe(command, str(damaged), *extra, "-o", str(tmp_path / "out.png"))
    assert report["code"] == 1
    # refused from its header, before torch (seconds) is even imported
    assert report["heavy"] == []
    assert not (tmp_path / "out.png").exists()


def test_outputs_are_announced(tmp_path: Path) -> None:
    from halftint.io import write_image

    folder = tmp_path / "photos"
    for name in ("a.png", "sub/b.png"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        write_image(np.full((8, 8), 0.5, np.float32), folder / name)
    one = subprocess.run(
        [sys.executable, "-m", "halftint", "halftone", str(folder / "a.png"), "-o",
         str(tmp_path / "one.png")],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert one.returncode == 0 and one.stderr.strip().splitlines()[-1] == (
        f"wrote {tmp_path / 'one.png'}"
    )
    many = subprocess.run(
        [sys.executable, "-m", "halftint", "halftone", str(folder), "-o", str(tmp_path / "out")],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert many.returncode == 0
    assert many.stderr.strip().splitlines()[-1] == f"wrote 2 files to {tmp_path / 'out'}"
