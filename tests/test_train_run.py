"""Training runs through the real command line: folders, resume, kill-and-resume, DDP, errors.

The runs use the tiny preset (see tests/tiny_cli.py) on four small generated photos.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from halftint.checkpoint import load_bundle
from halftint.data import chroma_spreads, load_photos, training_split
from halftint.errors import UsageError
from halftint.io import read_image, write_image
from halftint.train.config import TrainConfig, apply, resolve, to_toml
from halftint.train.export import export_run
from halftint.train.loop import SilentReporter
from halftint.train.registry import frozen_source
from halftint.train.run import load_training_photos, prepare
from halftint.train.state import save_state

TESTS = Path(__file__).resolve().parent
TINY_CLI = str(TESTS / "tiny_cli.py")
STAGES = ("ihn", "hist", "colorizer", "fusion")
# small, fast and quiet: no worker processes, a record every step
QUICK = [
    "--preset", "tiny", "--workers", "0",
    "--set", "log_every=1", "--set", "sample_every=2", "--set", "val_images=4",
]  # fmt: skip


def _environment() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(TESTS)}


def _halftint(*arguments: str, tiny: bool = True) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, TINY_CLI] if tiny else [sys.executable, "-m", "halftint"]
    return subprocess.run(
        [*command, *arguments],
        check=False,
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=300,
    )


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    for index in range(4):
        y, x = np.mgrid[0:48, 0:64] / 64.0
        phase = rng.uniform(0, 6, 3)
        image = np.stack(
            [np.sin(6 * x + phase[0]), np.cos(5 * y + phase[1]), np.sin(4 * (x - y) + index)], -1
        )
        write_image((0.5 + 0.45 * image).astype(np.float32), folder / f"photo{index}.png")
    return folder


@pytest.fixture(scope="module")
def finished_run(photos: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "all"
    result = _halftint(
        "train", "all", "--data", str(photos), "--out", str(run), "--steps", "2", *QUICK
    )
    assert result.returncode == 0, result.stderr
    return run


def _records(run: Path, stage: str) -> list[dict[str, Any]]:
    lines = (run / stage / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


def test_all_writes_every_part_of_a_run(finished_run: Path, photos: Path) -> None:
    assert (finished_run / "config.toml").is_file()
    for stage in STAGES:
        assert (finished_run / stage / "state.pt").is_file()
        status = json.loads((finished_run / stage / "status.json").read_text(encoding="utf-8"))
        assert status == {"step": 2, "total_steps": 2, "finished": True}
        steps = [record["step"] for record in _records(finished_run, stage) if "losses" in record]
        assert steps == [1, 2]
        record = _records(finished_run, stage)[0]
        assert {"step", "epoch", "lr", "images_per_s", "elapsed_s", "losses"} <= set(record)
        sheet = read_image(finished_run / stage / "samples" / "step_0000002.png")
        assert sheet.shape[0] > 32 * 4
    bundle = load_bundle(finished_run / "bundle")
    assert set(bundle.networks) == {"ihn", "encoder", "generator", "fusion"}
    assert bundle.working_size == 32 and bundle.preset == "tiny"
    assert bundle.meta["halftone_methods"][0] == "floyd-steinberg"
    assert bundle.meta["reverse_halftone"] == "floyd-steinberg"  # the mixture's most used
    assert set(bundle.meta["metrics"]) == set(STAGES)
    # the training photos' chroma spreads at the working size, one pair per photo
    train, _ = training_split(photos, None, TrainConfig().val_fraction)
    expected = chroma_spreads(load_photos(train, 128).images, 32)
    assert len(bundle.meta["photo_spreads"]) == len(train) >= 2
    assert bundle.meta["photo_spreads"] == [[round(x, 5) for x in pair] for pair in expected]
    assert all(0.01 < x < 0.5 for pair in expected for x in pair)


def test_colorize_loads_the_exported_bundle(finished_run: Path, tmp_path: Path) -> None:
    halftone = (np.random.default_rng(3).random((40, 48)) > 0.5).astype(np.float32)
    write_image(halftone, tmp_path / "print.png")
    result = _halftint(
        "colorize", str(tmp_path / "print.png"), "--weights", str(finished_run / "bundle"),
        "--random", "--seed", "1", "--device", "cpu", "-o", str(tmp_path / "color.png"),
        tiny=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert read_image(tmp_path / "color.png").shape == (40, 48, 3)


def test_a_finished_run_is_skipped_with_resume_and_refused_without(
    finished_run: Path, photos: Path
) -> None:
    before = (finished_run / "ihn" / "state.pt").stat().st_mtime_ns
    resumed = _halftint(
        "train", "all", "--data", str(photos), "--out", str(finished_run), "--resume", *QUICK
    )
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stderr.count("already finished") == 4
    assert (finished_run / "ihn" / "state.pt").stat().st_mtime_ns == before
    refused = _halftint("train", "ihn", "--out", str(finished_run), *QUICK)
    assert refused.returncode == 2
    assert "already has a ihn stage; pass --resume" in refused.stderr


def test_export_writes_a_bundle_elsewhere_and_keeps_existing_ones(
    finished_run: Path, tmp_path: Path
) -> None:
    target = tmp_path / "exported"
    first = _halftint(
        "train",
        "export",
        "--out",
        str(finished_run),
        "--to",
        str(target),
        "--include-training-networks",
    )
    assert first.returncode == 0, first.stderr
    assert set(load_bundle(target).networks) == {
        "ihn",
        "encoder",
        "generator",
        "discriminator",
        "histogram",
        "fusion",
    }
    with pytest.raises(UsageError, match=r"exists \(use overwrite=True"):
        export_run(finished_run, target)
    with pytest.raises(UsageError, match="not a training run folder"):
        export_run(tmp_path, tmp_path / "elsewhere")


def test_a_frozen_network_comes_from_the_run_first_then_the_parent(tmp_path: Path) -> None:
    where = {
        (in_run, in_parent): frozen_source(
            "fusion", "generator", in_run=in_run, in_parent=in_parent, run_root=tmp_path
        )
        for in_run in (True, False)
        for in_parent in (True, False)
        if in_run or in_parent
    }
    assert where == {(True, True): "run", (True, False): "run", (False, True): "parent"}
    with pytest.raises(UsageError) as missing:
        frozen_source("fusion", "generator", in_run=False, in_parent=False, run_root=tmp_path)
    assert str(missing.value) == (
        f"stage fusion needs the network generator from stage colorizer, which {tmp_path} does "
        f"not have yet: run 'halftint train colorizer --out {tmp_path}' first"
    )


def test_a_later_stage_uses_the_earlier_stages_and_a_time_budget_ends_it(
    finished_run: Path, photos: Path, tmp_path: Path
) -> None:
    run = tmp_path / "staged"
    missing = _halftint("train", "colorizer", "--data", str(photos), "--out", str(run), *QUICK)
    assert missing.returncode == 2
    assert "needs the network ihn from stage ihn" in missing.stderr
    assert not run.exists()
    # a run folder holding only the ihn and hist stages of another run
    run.mkdir()
    shutil.copy(finished_run / "config.toml", run / "config.toml")
    for stage in ("ihn", "hist"):
        shutil.copytree(finished_run / stage, run / stage)
    result = _halftint(
        "train", "colorizer", "--out", str(run), "--steps", "1000", "--time-budget", "0.0001",
        *QUICK,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "time limit reached at step 1 of 1000" in result.stderr
    status = json.loads((run / "colorizer" / "status.json").read_text(encoding="utf-8"))
    assert status == {"step": 1, "total_steps": 1000, "finished": True}
    assert not (run / "bundle").exists()


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("missing", "data folder not found"),
        ("empty", "holds no photos"),
        ("text", "holds no photos"),
    ],
)
def test_bad_data_folders_give_one_line_and_leave_no_run(
    tmp_path: Path, layout: str, message: str
) -> None:
    data = tmp_path / "data"
    if layout != "missing":
        data.mkdir()
    if layout == "text":
        (data / "readme.txt").write_text("no photos here")
    run = tmp_path / "run"
    result = _halftint("train", "ihn", "--data", str(data), "--out", str(run), tiny=False)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not run.exists()


def test_an_unknown_preset_is_one_line_naming_the_valid_ones(photos: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    for preset in (["--preset", "bogus"], ["--set", "preset=bogus"]):
        result = _halftint(
            "train", "ihn", "--data", str(photos), "--out", str(run), *preset, tiny=False
        )
        assert result.returncode == 2
        assert (
            result.stderr.strip() == "halftint: error: unknown preset 'bogus'; valid: paper, lite"
        )
        assert not run.exists()


def test_a_cuda_index_that_is_not_a_number_is_one_line(photos: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = _halftint(
        "train", "ihn", "--data", str(photos), "--out", str(run), "--device", "cuda:x", tiny=False
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "halftint: error: device 'cuda:x': the CUDA index must be a number, as in cuda:0"
    )
    assert not run.exists()


def test_exporting_a_run_of_an_unknown_preset_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(to_toml(TrainConfig(preset="bogus")), encoding="utf-8")
    with pytest.raises(UsageError, match=r"^unknown preset 'bogus'; valid: paper, lite$"):
        export_run(tmp_path, tmp_path / "bundle")
    assert not (tmp_path / "bundle").exists()


def _tensors(state: dict[str, Any]) -> dict[str, torch.Tensor]:
    flat: dict[str, torch.Tensor] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, torch.Tensor):
            flat[prefix] = value
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(f"{prefix}/{key}", item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(f"{prefix}/{index}", item)

    walk("", {"networks": state["networks"], "optimizers": state["optimizers"]})
    return flat


@pytest.mark.slow
def test_killing_and_resuming_gives_the_same_weights_as_an_uninterrupted_run(
    photos: Path, tmp_path: Path
) -> None:
    steps = "40"
    common = ["--data", str(photos), "--steps", steps, *QUICK, "--set", "sample_every=1000"]
    whole = _halftint("train", "ihn", "--out", str(tmp_path / "whole"), *common)
    assert whole.returncode == 0, whole.stderr

    interrupted = tmp_path / "interrupted"
    process = subprocess.Popen(
        [sys.executable, TINY_CLI, "train", "ihn", "--out", str(interrupted), *common],
        env=_environment(),
        stderr=subprocess.PIPE,
        text=True,
    )
    log = interrupted / "ihn" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if log.is_file() and len(log.read_text(encoding="utf-8").splitlines()) >= 3:
            process.send_signal(signal.SIGTERM)
            break
        time.sleep(0.01)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr  # 128 + SIGTERM
    status = json.loads((interrupted / "ihn" / "status.json").read_text(encoding="utf-8"))
    assert 3 <= status["step"] < int(steps) and not status["finished"]
    assert "continue with --resume" in stderr

    resumed = _halftint("train", "ihn", "--out", str(interrupted), "--resume", *common)
    assert resumed.returncode == 0, resumed.stderr
    expected = _tensors(torch.load(tmp_path / "whole" / "ihn" / "state.pt", weights_only=True))
    actual = _tensors(torch.load(interrupted / "ihn" / "state.pt", weights_only=True))
    assert expected.keys() == actual.keys()
    different = [key for key in expected if not torch.equal(expected[key], actual[key])]
    assert not different, different[:5]
    # the log of the resumed run has every step once, as the uninterrupted one
    steps_logged = [r["step"] for r in _records(interrupted, "ihn") if "losses" in r]
    assert steps_logged == list(range(1, int(steps) + 1))
    # the learning rate: 2e-4 for the first half, then linear to zero (step 40 ran at 39/40)
    rates = [r["lr"] for r in _records(interrupted, "ihn") if "losses" in r]
    assert rates[:20] == [2e-4] * 20
    assert rates[29] == pytest.approx(2e-4 * (1 - 29 / 40) / 0.5)
    assert rates[-1] == pytest.approx(2e-4 * (1 / 40) / 0.5)
    assert rates == [r["lr"] for r in _records(tmp_path / "whole", "ihn") if "losses" in r]


def test_sigterm_to_the_whole_process_group_saves_and_stops_cleanly(
    photos: Path, tmp_path: Path
) -> None:
    # `pkill -f`, a job scheduler or a terminal signal every process of the group, data loader
    # workers included; the run must still save and exit as when only the main process is told
    run = tmp_path / "group"
    arguments = ["--data", str(photos), "--steps", "400", *QUICK, "--workers", "1"]
    arguments += ["--set", "sample_every=1000"]
    process = subprocess.Popen(
        [sys.executable, TINY_CLI, "train", "ihn", "--out", str(run), *arguments],
        env=_environment(),
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    log = run / "ihn" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if log.is_file() and len(log.read_text(encoding="utf-8").splitlines()) >= 3:
            os.killpg(process.pid, signal.SIGTERM)
            break
        time.sleep(0.01)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr and "continue with --resume" in stderr
    status = json.loads((run / "ihn" / "status.json").read_text(encoding="utf-8"))
    assert 3 <= status["step"] < 400 and not status["finished"]


@pytest.mark.slow
def test_two_processes_with_gloo_finish_a_run_like_one_process(
    finished_run: Path, photos: Path, tmp_path: Path
) -> None:
    run = tmp_path / "ddp"
    result = subprocess.run(
        [
            sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
            TINY_CLI, "train", "all", "--data", str(photos), "--out", str(run), "--steps", "2",
            "--device", "cpu", *QUICK,
        ],
        check=False, capture_output=True, text=True, env=_environment(), timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    for stage in STAGES:
        single = _records(finished_run, stage)
        double = _records(run, stage)
        assert [(r["step"], sorted(r.get("losses", r.get("val", {})))) for r in double] == [
            (r["step"], sorted(r.get("losses", r.get("val", {})))) for r in single
        ]
    bundle = load_bundle(run / "bundle")
    assert set(bundle.networks) == {"ihn", "encoder", "generator", "fusion"}
    # the run goes on in a single process: the sample stream continues where two left it
    more = _halftint("train", "ihn", "--out", str(run), "--resume", "--steps", "3", *QUICK)
    assert more.returncode == 0, more.stderr
    assert json.loads((run / "ihn" / "status.json").read_text(encoding="utf-8"))["step"] == 3
    assert [r["step"] for r in _records(run, "ihn") if "losses" in r] == [1, 2, 3]


def test_prepare_lays_settings_over_the_runs_own_config(photos: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    saved = resolve(apply(TrainConfig(), {"data": str(photos), "seed": 5}, "test"), 128)
    (run / "config.toml").write_text(to_toml(saved), encoding="utf-8")
    config, preset, _ = prepare(run, ["ihn"], overrides=[({"ihn": {"steps": 3}}, "test")])
    assert (config.seed, config.ihn.steps, config.data, preset.name) == (5, 3, str(photos), "lite")
    # another preset before anything is trained: the old preset's resolved sizes are dropped
    config, preset, _ = prepare(run, ["ihn"], overrides=[({"preset": "paper", "data": "x"}, "t")])
    assert preset.name == "paper" and config.crop_size == 256 and config.seed == 0
    save_state(run / "ihn" / "state.pt", {"step": 1})
    with pytest.raises(UsageError, match="was trained with preset 'lite'"):
        prepare(run, ["hist"], overrides=[({"preset": "paper"}, "test")])
    with pytest.raises(
        UsageError, match=r"pass resume=True to continue it, or choose another out$"
    ):
        prepare(run, ["ihn"])


def test_a_separate_validation_folder_keeps_every_photo_for_training(
    photos: Path, tmp_path: Path
) -> None:
    val = tmp_path / "val"
    write_image(np.full((40, 40, 3), 0.3, dtype=np.float32), val / "one.png")
    config = resolve(apply(TrainConfig(), {"data": str(photos), "val_data": str(val)}, "t"), 32)
    loaded = load_training_photos(config, SilentReporter())
    assert len(loaded.train.images) == 4 and len(loaded.val.images) == 1
    # the folders are named by their last two parts, never by an absolute path
    photos_label = f"{photos.parent.name}/{photos.name}"
    val_label = f"{val.parent.name}/{val.name}"
    assert (
        loaded.description
        == f"4 photos from {photos_label}; 1 photo for validation from {val_label}"
    )


# --- starting from a bundle (--init-from) ----------------------------------------------------


def _weights(bundle: Path, key: str) -> dict[str, torch.Tensor]:
    return load_bundle(bundle, names=[key]).networks[key].state_dict()


def test_init_from_starts_the_stage_from_the_bundle_and_fills_in_the_rest(
    finished_run: Path, photos: Path, tmp_path: Path
) -> None:
    parent = finished_run / "bundle"
    run = tmp_path / "fine-tune"
    result = _halftint(
        "train", "ihn", "--data", str(photos), "--out", str(run), "--steps", "1",
        "--lr", "1e-12", "--init-from", str(parent), *QUICK,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "starting ihn from the bundle all" in result.stderr
    state = torch.load(run / "ihn" / "state.pt", weights_only=False)
    # parameters moved by at most the tiny learning rate (batch norm statistics do move)
    parameters = load_bundle(parent, names=["ihn"]).networks["ihn"].named_parameters()
    for name, tensor in parameters:
        torch.testing.assert_close(state["networks"]["ihn"][name], tensor, atol=1e-6, rtol=0)
    exported = run / "bundle"
    assert not exported.exists()  # the run trained one stage: nothing exported on its own
    result = _halftint("train", "export", "--out", str(run))
    assert result.returncode == 0, result.stderr
    meta = json.loads((exported / "bundle.json").read_text(encoding="utf-8"))
    parent_meta = (parent / "bundle.json").read_bytes()
    assert meta["parent"]["name"] == "all"
    assert meta["parent"]["sha256"] == __import__("hashlib").sha256(parent_meta).hexdigest()
    for key in ("encoder", "generator", "fusion"):
        for name, tensor in _weights(parent, key).items():
            torch.testing.assert_close(_weights(exported, key)[name], tensor)
    assert "from the bundle all" in meta["data"]


def test_init_fresh_retrains_networks_the_bundle_has_and_keeps_the_frozen_ones(
    finished_run: Path, photos: Path, tmp_path: Path
) -> None:
    parent = finished_run / "bundle"
    run = tmp_path / "fresh"
    result = _halftint(
        "train", "colorizer", "--data", str(photos), "--out", str(run), "--steps", "1",
        "--lr", "1e-12", "--seed", "1", "--init-from", str(parent), "--set", "losses.histogram=0",
        "--set", 'init_fresh=["encoder", "generator", "discriminator"]', *QUICK,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "starting" not in result.stderr.replace("starting, 1 steps", "")
    assert "using ihn from the bundle all" in result.stderr
    state = torch.load(run / "colorizer" / "state.pt", weights_only=False)["networks"]
    fresh = state["generator"]
    inherited = _weights(parent, "generator")
    # fresh weights of another seed, not the parent's (the learning rate is tiny)
    assert any(
        (fresh[name] - tensor).abs().max() > 1e-3
        for name, tensor in inherited.items()
        if name.endswith("weight")
    )
    bad = _halftint(
        "train", "colorizer", "--data", str(photos), "--out", str(tmp_path / "bad"),
        "--init-from", str(parent), "--set", 'init_fresh=["generater"]',
        "--set", "losses.histogram=0", *QUICK,
    )  # fmt: skip
    assert bad.returncode == 2
    assert "init_fresh" in bad.stderr and "one of ihn, encoder" in bad.stderr
    assert "Traceback" not in bad.stderr and not (tmp_path / "bad").exists()


def test_a_parent_whose_network_predates_the_preset_is_refused_with_the_way_out(
    photos: Path, tmp_path: Path
) -> None:
    # lite-photos-v3's E has no color statistics and its G takes its code at the input: the
    # first network found to differ from the lite preset's is named
    run = tmp_path / "refused"
    result = _halftint(
        "train", "colorizer", "--data", str(photos), "--out", str(run), "--preset", "lite",
        "--init-from", "lite-photos-v3", "--steps", "1", tiny=False,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    # both differ, and either may be checked first
    named = "encoder" if "its encoder network" in result.stderr else "generator"
    assert f"its {named} network has another config than preset lite's" in result.stderr
    assert f"""--set 'init_fresh=["{named}"]'""" in result.stderr
    assert f"""--set 'init_extend=["{named}"]'""" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not run.exists()


def test_export_with_training_networks_takes_d_and_h_from_where_they_are(
    finished_run: Path, photos: Path, tmp_path: Path
) -> None:
    # a run that trained H only, on a bundle without D or H: the bundle gets H, and no D
    source = tmp_path / "plain"
    assert (
        _halftint("train", "export", "--out", str(finished_run), "--to", str(source)).returncode
        == 0
    )
    run = tmp_path / "hist-only"
    result = _halftint(
        "train", "hist", "--data", str(photos), "--out", str(run), "--steps", "1",
        "--init-from", str(source), *QUICK,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    exported = tmp_path / "with-h"
    result = _halftint(
        "train", "export", "--out", str(run), "--include-training-networks", "--to", str(exported)
    )
    assert result.returncode == 0, result.stderr
    meta = json.loads((exported / "bundle.json").read_text(encoding="utf-8"))
    assert "histogram" in meta["networks"] and "discriminator" not in meta["networks"]


def test_a_bundle_records_no_absolute_paths(finished_run: Path, photos: Path) -> None:
    text = (finished_run / "bundle" / "bundle.json").read_text(encoding="utf-8")
    assert str(photos) not in text and str(photos.parent) not in text
    assert json.loads(text)["data"].startswith(f"4 photos from {photos.parent.name}/{photos.name}")


def _tampered(source: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "tampered"
    shutil.copytree(source, copy)
    weights = copy / "ihn" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    return copy


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("no-such-bundle", "--init-from no-such-bundle: "),
        ("lite-photos-v3", "the bundle is of preset 'lite', the run of 'tiny'"),
        ("tampered", "does not match its sha256"),
    ],
)
def test_bad_init_from_is_one_line_and_leaves_no_run_folder(
    finished_run: Path, photos: Path, tmp_path: Path, source: str, message: str
) -> None:
    given = str(_tampered(finished_run / "bundle", tmp_path)) if source == "tampered" else source
    run = tmp_path / "refused"
    result = _halftint(
        "train", "ihn", "--data", str(photos), "--out", str(run), "--steps", "1",
        "--init-from", given, *QUICK,
    )  # fmt: skip
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not run.exists()


def test_an_out_folder_that_cannot_be_made_is_one_line(photos: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x", encoding="utf-8")
    cases = [(blocker / "run", "is a file, not a folder")]
    if Path("/proc").is_dir():  # Linux: a folder nobody may make anything in, root included
        cases.append((Path("/proc/halftint-test-run"), "cannot write the run folder"))
    for out, message in cases:
        result = _halftint(
            "train", "ihn", "--data", str(photos), "--out", str(out), "--steps", "1", *QUICK
        )
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert message in result.stderr.strip().splitlines()[-1]


def test_a_one_off_time_limit_on_resume_is_not_kept(photos: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    base = ("train", "ihn", "--data", str(photos), "--out", str(run), *QUICK)
    assert _halftint(*base, "--steps", "1").returncode == 0
    # continue towards many steps, but only for a moment: stopped by the one-off limit
    short = _halftint(*base, "--resume", "--steps", "100000", "--time-budget", "0.02")
    assert short.returncode == 0, short.stderr
    assert "time limit reached" in short.stderr
    assert "minutes = 0.0" in (run / "config.toml").read_text(encoding="utf-8")
    # a plain --resume goes on (it used to call the stage finished); stopped here by SIGTERM
    process = subprocess.Popen(
        [sys.executable, TINY_CLI, *base, "--resume"],
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    )
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "resuming at step" in line:
            process.send_signal(signal.SIGTERM)
            break
    rest = process.communicate(timeout=120)[1]
    assert process.returncode == 143, "".join(lines) + rest
    assert "already finished" not in "".join(lines)


def test_resume_refuses_settings_that_change_the_results(photos: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    base = ("train", "ihn", "--data", str(photos), "--out", str(run), *QUICK)
    assert _halftint(*base, "--steps", "1").returncode == 0
    before = (run / "config.toml").read_text(encoding="utf-8")
    refused = _halftint(*base, "--resume", "--steps", "2", "--seed", "5")
    assert refused.returncode == 2
    assert "--resume would change the results" in refused.stderr
    assert "seed 0 -> 5" in refused.stderr and "--allow-changes" in refused.stderr
    assert (run / "config.toml").read_text(encoding="utf-8") == before
    # hardware and length may change; with --allow-changes the seed may too
    assert _halftint(*base, "--resume", "--steps", "2", "--workers", "0").returncode == 0
    allowed = _halftint(*base, "--resume", "--steps", "3", "--seed", "5", "--allow-changes")
    assert allowed.returncode == 0, allowed.stderr
    assert "seed = 5" in (run / "config.toml").read_text(encoding="utf-8")


def test_a_converted_bundle_keeps_its_parent_and_screen_periods(
    finished_run: Path, photos: Path, tmp_path: Path
) -> None:
    run = tmp_path / "child"
    trained = _halftint(
        "train", "ihn", "--data", str(photos), "--out", str(run), "--steps", "1",
        "--init-from", str(finished_run / "bundle"), *QUICK,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    exported = _halftint("train", "export", "--out", str(run), "--to", str(tmp_path / "named"))
    assert exported.returncode == 0, exported.stderr
    meta = json.loads((tmp_path / "named" / "bundle.json").read_text(encoding="utf-8"))
    assert meta["screen_periods"] == [3.0, 12.0]  # the training mixture's
    exported = _halftint(
        "train", "export", "--out", str(run), "--to", str(tmp_path / "named"),
        "--overwrite", "--screen-periods", "3,10",
    )  # fmt: skip
    assert exported.returncode == 0, exported.stderr
    converted = _halftint("weights", "convert", str(tmp_path / "named"), str(tmp_path / "half"))
    assert converted.returncode == 0, converted.stderr
    parent_meta = json.loads((finished_run / "bundle" / "bundle.json").read_text(encoding="utf-8"))
    for folder in ("named", "half"):
        meta = json.loads((tmp_path / folder / "bundle.json").read_text(encoding="utf-8"))
        assert meta["name"] == "named"  # a bundle exported elsewhere is named after its folder
        assert meta["parent"]["name"] == "all"
        assert meta["screen_periods"] == [3.0, 10.0]
        # G is the parent's: so are the photo spreads random colorings take
        assert meta["photo_spreads"] == parent_meta["photo_spreads"]


def _drop_a_saved_tensor(path: Path) -> str:
    """Remove one of the IHN's tensors from the stage state at `path`, as if the preset had
    gained a layer since the run was trained; the tensor's name."""
    state = torch.load(path, weights_only=True)
    dropped = sorted(state["networks"]["ihn"])[-1]
    del state["networks"]["ihn"][dropped]
    save_state(path, {key: value for key, value in state.items() if key != "format_version"})
    return dropped


def test_a_run_from_another_version_of_the_preset_is_refused_in_one_line(
    photos: Path, finished_run: Path, tmp_path: Path
) -> None:
    run = tmp_path / "run"
    base = ("train", "ihn", "--data", str(photos), "--out", str(run), *QUICK)
    assert _halftint(*base, "--steps", "1").returncode == 0
    finished = tmp_path / "finished"
    shutil.copytree(finished_run, finished)
    for folder, command in (
        (run, (*base, "--resume", "--steps", "2")),
        (finished, ("train", "export", "--out", str(finished), "--to", str(tmp_path / "bundle"))),
    ):
        path = folder / "ihn" / "state.pt"
        dropped = _drop_a_saved_tensor(path)
        before = path.read_bytes()
        result = _halftint(*command)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        last = result.stderr.strip().splitlines()[-1]
        assert "its ihn does not fit the preset" in last and f"missing keys: {dropped}" in last
        assert "--init-from" in last
        assert path.read_bytes() == before
    assert not (tmp_path / "bundle").exists()
