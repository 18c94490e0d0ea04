"""`halftint info --preset / --weights`, run as a real subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_nets import LITE_COUNTS, PAPER_COUNTS

from halftint.bundle import read_manifest


def run_info(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"}
    env.pop("HALFTINT_WEIGHTS", None)
    return subprocess.run(
        [sys.executable, "-m", "halftint", "info", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_preset_and_weights_json(tiny_bundle: Path) -> None:
    result = run_info("--preset", "paper", "--weights", str(tiny_bundle), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"preset", "weights"}

    preset = data["preset"]
    assert (preset["name"], preset["working_size"]) == ("paper", 256)
    assert {key: row["parameters"] for key, row in preset["networks"].items()} == PAPER_COUNTS
    assert preset["total_parameters"] == sum(PAPER_COUNTS.values())
    assert preset["networks"]["generator"]["class"] == "ColorizationNet"
    assert preset["networks"]["histogram"]["config"]["channels"] == [32, 64, 64]

    weights = data["weights"]
    meta = read_manifest(tiny_bundle).meta
    assert weights["verified"] is True
    assert weights["path"] == str(tiny_bundle)
    assert (weights["preset"], weights["working_size"]) == ("tiny", 32)
    assert weights["halftone_methods"] == ["floyd-steinberg"]
    assert weights["reverse_halftone"] == "floyd-steinberg"
    assert weights["files"] == meta["files"]
    counted = {key: row["parameters"] for key, row in weights["networks"].items()}
    assert counted == {key: row["parameters"] for key, row in meta["networks"].items()}
    assert len(counted) == 6
    assert weights["total_parameters"] == sum(counted.values())


def test_lite_preset_table_is_readable() -> None:
    result = run_info("--preset", "lite")
    assert result.returncode == 0, result.stderr
    for key, count in LITE_COUNTS.items():
        assert f"{key}" in result.stderr and f"{count:,}" in result.stderr
    assert f"{sum(LITE_COUNTS.values()):,}" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--preset", "huge"], 2, "unknown preset 'huge'; valid: paper, lite"),
        (["--weights", "{tampered}"], 1, "ihn/model.safetensors does not match its sha256"),
    ],
)
def test_bad_preset_or_weights_is_one_line(
    tiny_bundle: Path, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    tampered = Path(shutil.copytree(tiny_bundle, tmp_path / "tampered"))
    weights = tampered / "ihn" / "model.safetensors"
    content = bytearray(weights.read_bytes())
    content[-1] ^= 0xFF
    weights.write_bytes(bytes(content))
    args = [arg.format(tampered=tampered) for arg in args]

    result = run_info(*args, "--json")
    assert result.returncode == code
    assert result.stdout == ""
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_plain_info_names_the_default_weights() -> None:
    from halftint.hub import DEFAULT_BUNDLE

    result = run_info()
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stderr.splitlines() if "default_weights" in line)
    assert f"{DEFAULT_BUNDLE} (shipped; preset lite, " in line and "parameters)" in line
    data = json.loads(run_info("--json").stdout)
    assert data["default_weights"].startswith(DEFAULT_BUNDLE)


def test_bundle_metrics_print_as_a_table(tiny_bundle: Path, tmp_path: Path) -> None:
    from halftint.checkpoint import record_metrics

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    record_metrics(bundle, {"eval": {"descreen": {"floyd-steinberg": {"psnr": 30.123456}}}})
    result = run_info("--weights", str(bundle))
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stderr.splitlines() if "floyd-steinberg.psnr" in line)
    assert "eval.descreen.floyd-steinberg.psnr" in row and "30.12" in row
    assert '{"eval"' not in result.stderr  # no longer one long JSON line
