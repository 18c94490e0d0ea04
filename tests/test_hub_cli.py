"""Hub bundles end to end: the real CLI, in subprocesses, against the local Hub-protocol server.

huggingface_hub reads HF_ENDPOINT when it is imported, so every run is a fresh process with the
endpoint pointed at `tests/hubserver.py`'s server, telemetry off and its own cache folder. The
server counts requests, which is how "a cached bundle needs no network" is asserted.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from hubserver import LocalHub, folder_files
from safetensors import safe_open

from halftint.bundle import sha256_file
from halftint.checkpoint import load_bundle, save_bundle
from halftint.hub import list_bundles
from halftint.io import read_image, write_image

REPO = "owner/tiny"
SOURCE = f"hf://{REPO}"
# the subprocess replaces time.sleep before running the CLI: huggingface_hub's retry back-off
# would otherwise wait 23 s before giving up on a server that is down
NO_BACKOFF_PRELUDE = "import time; time.sleep = lambda seconds: None; "


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        """stderr's lines but the note that a fetch starts."""
        return [
            line
            for line in self.stderr.splitlines()
            if line.strip() and not line.startswith("fetching hf://")
        ]


@dataclass
class HubWorld:
    hub: LocalHub
    cache: Path
    bundle: Path
    commit: str

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("HF_", "HALFTINT_")) and "proxy" not in key.lower()
        }
        env.update(
            HF_ENDPOINT=self.hub.url,
            HF_HUB_CACHE=str(self.cache),
            HF_HOME=str(self.cache.parent / "hf-home"),
            HF_HUB_DISABLE_TELEMETRY="1",
            HF_HUB_DISABLE_PROGRESS_BARS="1",
            NO_PROXY="127.0.0.1",
            OMP_NUM_THREADS="1",
        )
        env.update(extra)
        return env

    def run(self, *args: str, no_backoff: bool = False, **env: str) -> Run:
        code = "from halftint.cli import main; main()"
        command = [sys.executable, "-c", (NO_BACKOFF_PRELUDE if no_backoff else "") + code, *args]
        result = subprocess.run(
            command, env=self.env(**env), capture_output=True, text=True, timeout=120, check=False
        )
        return Run(result.returncode, result.stdout, result.stderr)

    def snapshot(self, commit: str, repo: str = REPO) -> Path:
        return self.cache / f"models--{repo.replace('/', '--')}" / "snapshots" / commit


@pytest.fixture
def world(tmp_path: Path, tiny_bundle: Path) -> Iterator[HubWorld]:
    with LocalHub() as hub:
        commit = hub.publish(REPO, folder_files(tiny_bundle))
        yield HubWorld(hub=hub, cache=tmp_path / "hf-cache", bundle=tiny_bundle, commit=commit)


def listed_files(bundle: Path) -> dict[str, str]:
    files: dict[str, str] = json.loads((bundle / "bundle.json").read_text())["files"]
    return files


def assert_one_line_error(run: Run, *fragments: str) -> None:
    assert run.code == 1, run.stderr
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    assert len(run.error_lines) == 1, run.stderr
    assert run.error_lines[0].startswith("halftint: error: ")
    for fragment in fragments:
        assert fragment in run.error_lines[0]


def assert_nothing_half_written(cache: Path) -> None:
    leftovers = [p for p in cache.rglob("*") if p.name.endswith(".incomplete")]
    assert leftovers == []
    broken_links = [p for p in cache.rglob("*") if p.is_symlink() and not p.exists()]
    assert broken_links == []


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_colorize_downloads_once_then_runs_without_requests_and_offline(
    world: HubWorld, tmp_path: Path
) -> None:
    scan = tmp_path / "scan.png"
    write_image(np.random.default_rng(0).random((40, 56)) > 0.5, scan)
    colorize = ("colorize", str(scan), "--random", "--seed", "3", "--weights", SOURCE, "-o")

    first = world.run(*colorize, str(tmp_path / "first.png"))

    assert first.code == 0, first.stderr
    folder = world.snapshot(world.commit).resolve()
    files = listed_files(world.bundle)
    assert {relative: sha256_file(folder / relative) for relative in files} == files
    # one metadata HEAD and one GET (hub or CDN) per file, bundle.json included, and the HEAD
    # that checks the Hub answers at all (within seconds)
    methods = [method for method, _ in world.hub.requests]
    assert methods.count("GET") == len(files) + 1
    assert methods.count("HEAD") == len(files) + 2
    assert any("/blobs/" in path for _, path in world.hub.requests)  # large files via the CDN

    colored = read_image(tmp_path / "first.png")
    assert colored.shape == (40, 56, 3)

    world.hub.reset_requests()
    second = world.run(*colorize, str(tmp_path / "second.png"))
    assert second.code == 0, second.stderr
    assert world.hub.requests == []  # the cached commit is used without asking the server
    assert np.array_equal(read_image(tmp_path / "second.png"), colored)

    offline = world.run(
        *colorize, str(tmp_path / "offline.png"),
        HF_HUB_OFFLINE="1", HF_ENDPOINT=f"http://127.0.0.1:{free_port()}",
    )  # fmt: skip
    assert offline.code == 0, offline.stderr
    assert np.array_equal(read_image(tmp_path / "offline.png"), colored)

    info = world.run("info", "--weights", SOURCE, "--json")
    assert info.code == 0, info.stderr
    assert world.hub.requests == []  # the cached commit is used without asking the server
    shown = json.loads(info.stdout)["weights"]
    assert (Path(shown["path"]), shown["verified"], shown["preset"]) == (folder, True, "tiny")

    half = tmp_path / "half"
    converted = world.run(
        "weights", "convert", SOURCE, str(half), "--dtype", "float16", "--offline",
        HF_ENDPOINT=f"http://127.0.0.1:{free_port()}",
    )  # fmt: skip
    assert converted.code == 0, converted.stderr
    assert_converted_to_float16(converted, half, world.bundle)

    listing = world.run("weights", "list", "--json")
    assert listing.code == 0, listing.stderr
    # the bundles shipped inside the package are listed too; this test is about the cache
    entries = [e for e in json.loads(listing.stdout) if e["origin"] == "cache"]
    assert [
        (e["source"], e["origin"], e["preset"], e["complete"], e["commit"]) for e in entries
    ] == [(f"{SOURCE}@main", "cache", "tiny", True, world.commit)]
    assert entries[0]["size"] == sum((folder / r).stat().st_size for r in [*files, "bundle.json"])
    assert world.hub.requests == []


def assert_converted_to_float16(run: Run, out: Path, original: Path) -> None:
    assert run.stdout.strip() == str(out)
    change = float(run.stderr.rsplit("largest weight change ", 1)[1])
    assert 0 < change < 1e-3
    weights = "generator/model.safetensors"
    with safe_open(str(out / weights), framework="pt") as handle:
        dtypes = {handle.get_tensor(key).dtype for key in handle.keys()}  # noqa: SIM118
    assert torch.float16 in dtypes
    assert torch.float32 not in dtypes
    assert (out / weights).stat().st_size < 0.6 * (original / weights).stat().st_size
    assert json.loads((out / "bundle.json").read_text())["dtype"] == "float16"


@pytest.mark.slow
def test_subfolder_moving_branch_tag_and_commit(world: HubWorld, tmp_path: Path) -> None:
    repo, subfolder = "owner/collection", "lite/photos"
    source = f"hf://{repo}/{subfolder}"
    first = world.hub.publish(repo, folder_files(world.bundle, subfolder), tags=("v1",))
    fetched = world.run("weights", "download", source)
    assert fetched.code == 0, fetched.stderr
    first_folder = (world.snapshot(first, repo) / subfolder).resolve()
    assert Path(fetched.stdout.strip()) == first_folder

    # main moves on to a float16 copy of the bundle
    second_bundle = save_bundle(
        tmp_path / "second", load_bundle(world.bundle).networks, preset="tiny", working_size=32,
        halftone_methods=["clustered"], data="second", name="second", dtype="float16",
    )  # fmt: skip
    second = world.hub.publish(repo, folder_files(second_bundle, subfolder))

    # the cached main is used as it is, without a request, until asked to refresh
    world.hub.reset_requests()
    cached = world.run("weights", "verify", source)
    assert cached.code == 0, cached.stderr
    assert cached.stderr.strip().endswith(f"in {first_folder}")
    assert world.hub.requests == []
    refreshed = world.run("weights", "download", source)
    assert Path(refreshed.stdout.strip()) == (world.snapshot(second, repo) / subfolder).resolve()

    # a tag not seen before costs one HEAD to resolve (and one to check the Hub answers); its
    # files are already cached
    world.hub.reset_requests()
    tagged = world.run("weights", "download", f"{source}@v1")
    assert Path(tagged.stdout.strip()) == first_folder
    assert [method for method, _ in world.hub.requests] == ["HEAD", "HEAD"]
    entries = [e for e in list_bundles(str(world.cache)) if e.origin == "cache"]
    assert {(e.name, e.commit, e.refs) for e in entries} == {
        ("tiny-bundle", first, ("v1",)),
        ("second", second, ("main",)),
    }
    assert all(e.source.startswith(f"{source}@") and e.complete for e in entries)


@pytest.mark.slow
def test_a_flipped_byte_is_refused_and_removed_from_the_cache(world: HubWorld) -> None:
    files = folder_files(world.bundle)
    damaged = bytearray(files["generator/model.safetensors"])
    damaged[len(damaged) // 2] ^= 0x01
    bad_commit = world.hub.publish(REPO, {**files, "generator/model.safetensors": bytes(damaged)})

    run = world.run("weights", "download", SOURCE)

    assert_one_line_error(
        run, "sha256 mismatch for generator/model.safetensors", "removed from the cache"
    )
    snapshot = world.snapshot(bad_commit)
    assert not (snapshot / "generator" / "model.safetensors").exists()
    assert (snapshot / "ihn" / "model.safetensors").is_file()  # the good files stay cached
    blobs = [p.read_bytes() for p in (snapshot.parent.parent / "blobs").iterdir()]
    assert bytes(damaged) not in blobs
    assert_nothing_half_written(world.cache)

    # the repository is fixed: the next run fetches the file again and succeeds
    good_commit = world.hub.publish(REPO, files)
    fixed = world.run("weights", "download", SOURCE)
    assert fixed.code == 0, fixed.stderr
    assert Path(fixed.stdout.strip()) == world.snapshot(good_commit).resolve()


def publish_variant(world: HubWorld, case: str) -> None:
    """Put into the local Hub the repository that the error `case` needs."""
    files = folder_files(world.bundle)
    meta = json.loads(files["bundle.json"])
    if case == "no-bundle":
        world.hub.publish("owner/not-a-bundle", {"README.md": b"# just a readme\n"})
    elif case == "file-missing":
        del files["fusion/model.safetensors"]
        world.hub.publish("owner/incomplete", files)
    elif case == "newer-format":
        files["bundle.json"] = json.dumps({**meta, "format_version": 2}).encode()
        world.hub.publish("owner/future", files)
    elif case == "outside-path":
        meta["files"]["../../escape.txt"] = "0" * 64
        world.hub.publish("owner/escape", {**files, "bundle.json": json.dumps(meta).encode()})


@pytest.mark.parametrize(
    ("case", "source", "env", "fragments"),
    [
        ("repo", "hf://nobody/nothing", {}, ["repository nobody/nothing not found"]),
        ("revision", f"{SOURCE}@no-such-branch", {}, ["revision 'no-such-branch' not found"]),
        (
            "no-bundle",
            "hf://owner/not-a-bundle",
            {},
            ["is not a halftint weights bundle: bundle.json is missing"],
        ),
        (
            "file-missing",
            "hf://owner/incomplete",
            {},
            ["fusion/model.safetensors, listed in bundle.json, is missing from owner/incomplete@"],
        ),
        ("newer-format", "hf://owner/future", {}, ["newer halftint (format 2 > 1); upgrade"]),
        ("outside-path", "hf://owner/escape", {}, ["lists a path outside the bundle"]),
        (
            "offline",
            SOURCE,
            {"HF_HUB_OFFLINE": "1"},
            ["not (completely) in the cache", "offline mode is on", "halftint weights download"],
        ),
        (
            "network-down",
            SOURCE,
            {"HF_ENDPOINT": "dead"},
            # `weights download` itself failing must not advise running `weights download`
            ["cannot reach the Hub at", "check the network", "a copy of a cache folder"],
        ),
    ],
)
def test_each_hub_failure_is_one_clear_line(
    world: HubWorld, case: str, source: str, env: dict[str, str], fragments: list[str]
) -> None:
    publish_variant(world, case)
    if env.get("HF_ENDPOINT") == "dead":
        env = {"HF_ENDPOINT": f"http://127.0.0.1:{free_port()}"}

    run = world.run("weights", "download", source, no_backoff=case == "network-down", **env)

    assert_one_line_error(run, *fragments)
    if case == "network-down":
        assert "weights download" not in run.stderr
    assert_nothing_half_written(world.cache)
    assert not (world.cache / "escape.txt").exists()


def test_offline_flag_never_asks_the_server(world: HubWorld) -> None:
    run = world.run("weights", "download", SOURCE, "--offline")
    assert_one_line_error(run, "offline mode is on")
    assert world.hub.requests == []


def test_colorize_and_descreen_take_cache_dir_and_offline(world: HubWorld, tmp_path: Path) -> None:
    scan = tmp_path / "scan.png"
    write_image(np.random.default_rng(1).random((24, 32)) > 0.5, scan)
    own_cache = tmp_path / "own-cache"
    hub_options = ("--weights", SOURCE, "--cache-dir", str(own_cache))

    refused = world.run("colorize", str(scan), "--random", "--offline", *hub_options)
    assert_one_line_error(refused, "offline mode is on", str(own_cache))
    assert world.hub.requests == [] and not (tmp_path / "scan.random-1.png").exists()

    fetched = world.run("descreen", str(scan), *hub_options)
    assert fetched.code == 0, fetched.stderr
    assert world.hub.requests != []
    assert (own_cache / f"models--{REPO.replace('/', '--')}").is_dir()
    assert not world.cache.exists()  # the standard cache was left alone

    world.hub.reset_requests()
    offline = world.run("colorize", str(scan), "--random", "--seed", "1", "--offline", *hub_options)
    assert offline.code == 0, offline.stderr
    assert world.hub.requests == []
    assert read_image(tmp_path / "scan.random-1.png").shape == (24, 32, 3)


def test_verify_a_local_copy_with_a_flipped_byte(world: HubWorld, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    for relative, content in folder_files(world.bundle).items():
        (copy / relative).parent.mkdir(parents=True, exist_ok=True)
        (copy / relative).write_bytes(content)
    damaged = bytearray((copy / "ihn" / "config.json").read_bytes())
    damaged[5] ^= 0x01
    (copy / "ihn" / "config.json").write_bytes(bytes(damaged))

    run = world.run("weights", "verify", str(copy))

    assert run.code == 1
    assert "Traceback" not in run.stderr
    expected = listed_files(world.bundle)["ihn/config.json"][:12]
    actual = sha256_file(copy / "ihn" / "config.json")[:12]
    assert run.error_lines[0] == (
        f"halftint: error: {copy}: sha256 mismatch for ihn/config.json: bundle.json lists "
        f"{expected}…, the file has {actual}…"
    )
    assert run.error_lines[-1] == "halftint: error: 1 of 13 files failed"
    assert (copy / "ihn" / "config.json").read_bytes() == bytes(damaged)  # a user's file stays


def test_convert_refuses_an_existing_output_and_an_unknown_dtype(
    world: HubWorld, tmp_path: Path
) -> None:
    out = tmp_path / "exists"
    out.mkdir()
    again = world.run("weights", "convert", str(world.bundle), str(out))
    assert again.code == 2
    assert again.error_lines == [f"halftint: error: {out} exists; pass --overwrite to replace it"]
    assert list(out.iterdir()) == []
    bad = world.run("weights", "convert", str(world.bundle), str(tmp_path / "x"), "--dtype", "int8")
    assert bad.code == 2
    assert bad.error_lines == [
        "halftint: error: --dtype 'int8' is not supported; choose float16, bfloat16, float32"
    ]
    assert not (tmp_path / "x").exists()


def test_a_hub_that_never_answers_is_given_up_within_seconds(world: HubWorld) -> None:
    # accepts connections, never answers: huggingface_hub alone retried for over six minutes
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)
        endpoint = f"http://127.0.0.1:{server.getsockname()[1]}"
        start = time.monotonic()
        run = world.run("weights", "download", SOURCE, HF_ENDPOINT=endpoint)
        seconds = time.monotonic() - start
    assert_one_line_error(
        run, f"cannot reach the Hub at {endpoint} within 8 s", "check the network"
    )
    assert f"fetching {SOURCE}" in run.stderr and f"from {endpoint}" in run.stderr
    assert seconds < 30
    assert_nothing_half_written(world.cache)
