"""halftint.bundle: the manifest read once, every file verified once, paths kept inside."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hubserver import LocalHub, folder_files
from huggingface_hub import constants

import halftint
from halftint import bundle
from halftint.bundle import (
    MANIFEST,
    Verified,
    is_inside,
    read_manifest,
    sha256_file,
    verified,
    verify,
)
from halftint.checkpoint import load_bundle
from halftint.cli.common import find_weights
from halftint.errors import WeightsError


@pytest.fixture
def bundle_copy(tiny_bundle: Path, tmp_path: Path) -> Path:
    """A private copy of the session bundle, free to tamper with."""
    return Path(shutil.copytree(tiny_bundle, tmp_path / "copy"))


def _list_extra(folder: Path, relative: str) -> None:
    meta = json.loads((folder / MANIFEST).read_text())
    meta["files"][relative] = "0" * 64
    (folder / MANIFEST).write_text(json.dumps(meta))


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Counter[str]:
    """Counts of files hashed ("sha256") and of bundle.json reads ("manifest") from now on,
    with no verified-file stamps yet (a cache folder of its own)."""
    monkeypatch.setenv("HALFTINT_CACHE_DIR", str(tmp_path / "halftint-cache"))
    counts: Counter[str] = Counter()
    real_hash, real_read = bundle.sha256_file, Path.read_bytes

    def hash_file(path: Path) -> str:
        counts["sha256"] += 1
        return real_hash(path)

    def read_bytes(path: Path) -> bytes:
        if path.name == MANIFEST:
            counts["manifest"] += 1
        return real_read(path)

    monkeypatch.setattr(bundle, "sha256_file", hash_file)
    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    return counts


def test_a_local_load_reads_the_manifest_once_and_hashes_each_file_once(
    tiny_bundle: Path, counted: Counter[str]
) -> None:
    files = len(read_manifest(tiny_bundle).files)
    counted.clear()

    loaded = load_bundle(find_weights(str(tiny_bundle)))

    assert counted == {"manifest": 1, "sha256": files}
    assert loaded.path == tiny_bundle


@pytest.fixture
def local_hub(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_bundle: Path
) -> Iterator[tuple[str, str]]:
    """tiny_bundle published as owner/tiny on a local Hub; yields (source, cache folder)."""
    with LocalHub() as hub:
        hub.publish("owner/tiny", folder_files(tiny_bundle))
        template = constants.HUGGINGFACE_CO_URL_TEMPLATE.replace(constants.ENDPOINT, hub.url, 1)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        yield "hf://owner/tiny", str(tmp_path / "hf-cache")


def test_a_hub_load_verifies_once_whether_fetched_or_cached(
    local_hub: tuple[str, str], tiny_bundle: Path, counted: Counter[str]
) -> None:
    source, cache = local_hub
    files = len(read_manifest(tiny_bundle).files)
    for _ in ("fetched", "cached"):
        counted.clear()
        manifest = find_weights(source, cache_dir=cache)
        assert isinstance(manifest, Verified)  # the fetch verified it: loading hashes nothing
        load_bundle(manifest)
        assert counted == {"manifest": 1, "sha256": files}


def test_a_verified_manifest_is_not_hashed_again(tiny_bundle: Path, counted: Counter[str]) -> None:
    checked = verified(tiny_bundle)
    counted.clear()
    assert verified(checked) is checked
    load_bundle(checked, names=["ihn"])
    assert counted["sha256"] == 0
    assert checked.sha256 == sha256_file(tiny_bundle / MANIFEST)
    assert checked.size == sum(p.stat().st_size for p in tiny_bundle.rglob("*") if p.is_file())


def _age(folder: Path, seconds: float) -> None:
    """Set every file's modification time `seconds` into the past (its change time is now)."""
    for path in folder.rglob("*"):
        if path.is_file():
            stamp = path.stat().st_mtime - seconds
            os.utime(path, (stamp, stamp))


def test_an_unchanged_local_bundle_is_not_hashed_again_on_the_next_load(
    bundle_copy: Path, counted: Counter[str]
) -> None:
    files = len(read_manifest(bundle_copy).files)
    _age(bundle_copy, 60)
    for expected in (files, 0, 0):
        counted.clear()
        load_bundle(bundle_copy, names=["ihn"])
        assert counted["sha256"] == expected
    # the explicit check always hashes everything
    counted.clear()
    assert not verify(bundle_copy).problems
    assert counted["sha256"] == files


def test_a_file_changed_after_its_stamp_is_hashed_and_refused(
    bundle_copy: Path, counted: Counter[str]
) -> None:
    _age(bundle_copy, 60)
    load_bundle(bundle_copy, names=["ihn"])  # stamps every file
    weights = bundle_copy / "ihn" / "model.safetensors"
    before = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    # same size, and the modification time put back: only the change time tells
    os.utime(weights, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(WeightsError, match=r"ihn/model\.safetensors"):
        load_bundle(bundle_copy, names=["ihn"])


def test_a_freshly_written_file_is_not_stamped(bundle_copy: Path, counted: Counter[str]) -> None:
    files = len(read_manifest(bundle_copy).files)
    for path in bundle_copy.rglob("*"):
        os.utime(path)  # written just now (copytree keeps the originals' times)
    for _ in range(2):  # within RACY_SECONDS: hashed both times
        counted.clear()
        load_bundle(bundle_copy, names=["ihn"])
        assert counted["sha256"] == files


def test_damaged_stamps_only_cost_a_rehash(bundle_copy: Path, counted: Counter[str]) -> None:
    _age(bundle_copy, 60)
    load_bundle(bundle_copy, names=["ihn"])
    stamps = Path(os.environ["HALFTINT_CACHE_DIR"]) / bundle.STAMPS_FILE
    assert stamps.is_file()
    stamps.write_text("{not json")
    counted.clear()
    load_bundle(bundle_copy, names=["ihn"])
    assert counted["sha256"] == len(read_manifest(bundle_copy).files)


@pytest.mark.parametrize(
    "relative", ["../outside.txt", "ihn/../../outside.txt", "/etc/passwd", "", "."]
)
def test_a_path_outside_the_bundle_is_refused_when_the_manifest_is_read(
    bundle_copy: Path, relative: str
) -> None:
    outside = bundle_copy.parent / "outside.txt"
    outside.write_text("not part of any bundle")
    _list_extra(bundle_copy, relative)
    assert not is_inside(relative)

    for check in (read_manifest, verify, verified, load_bundle):
        with pytest.raises(WeightsError, match="lists a path outside the bundle"):
            check(bundle_copy)
    assert outside.read_text() == "not part of any bundle"


def test_paths_inside_the_bundle_are_accepted() -> None:
    assert all(is_inside(p) for p in ("README.md", "ihn/model.safetensors", "a/./b", "x..y"))


def test_verify_hashes_every_file_and_discards_only_mismatches(
    bundle_copy: Path,
) -> None:
    (bundle_copy / "fusion" / "config.json").unlink()
    weights = bundle_copy / "ihn" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1])
    discarded: list[Path] = []

    result = verify(bundle_copy, discard=discarded.append)

    assert [(p.relative, p.actual is None) for p in result.problems] == [
        ("fusion/config.json", True),
        ("ihn/model.safetensors", False),
    ]
    assert discarded == [weights]
    with pytest.raises(WeightsError, match=r"incomplete: fusion/config\.json is missing"):
        result.verified()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"files": {}}, "lists no files"),
        ({"format_version": 2}, r"newer halftint \(format 2 > 1\); upgrade halftint"),
        ({"networks": {"ihn": {}}}, "lacks the networks encoder, generator, fusion"),
        ({"reverse_halftone": ["clustered"]}, "'reverse_halftone' is not a method name"),
        ({"photo_spreads": [[0.1, 0.2, 0.3]]}, "'photo_spreads' is not a list of"),
        ({"photo_spreads": [[0.1, -0.2]]}, "'photo_spreads' is not a list of"),
        ({"photo_spreads": []}, "'photo_spreads' is not a list of"),
    ],
)
def test_a_malformed_manifest_is_refused_by_its_one_reader(
    bundle_copy: Path, change: dict[str, object], message: str
) -> None:
    meta = json.loads((bundle_copy / MANIFEST).read_text())
    (bundle_copy / MANIFEST).write_text(json.dumps({**meta, **change}))
    with pytest.raises(WeightsError, match=message):
        read_manifest(bundle_copy)


def test_an_unlisted_network_file_is_refused(bundle_copy: Path) -> None:
    meta = json.loads((bundle_copy / MANIFEST).read_text())
    del meta["files"]["histogram/config.json"]
    (bundle_copy / MANIFEST).write_text(json.dumps(meta))
    with pytest.raises(WeightsError, match=r"does not list histogram/config\.json"):
        read_manifest(bundle_copy)


def test_the_manifest_is_named_in_one_place() -> None:
    """No module but halftint.bundle spells out "bundle.json" as a name (messages may say it)."""
    package = Path(halftint.__file__).parent
    spelled = [
        f"{path.relative_to(package)}:{node.lineno}"
        for path in sorted(package.rglob("*.py"))
        if path.name != "bundle.py" or path.parent != package
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and node.value == MANIFEST
    ]
    assert spelled == []


def test_the_bundle_format_loads_no_heavy_module() -> None:
    probe = (
        "import sys, halftint.bundle; "
        "print([m for m in ('torch', 'safetensors', 'huggingface_hub') if m in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_hub_fetch_whose_first_answer_names_no_commit_still_pins_one(
    local_hub: tuple[str, str], tiny_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from halftint import hub

    source, cache = local_hub
    monkeypatch.setattr(hub, "_check_reachable", lambda source: None)  # an HTTP error, say
    manifest = hub.resolve_bundle(source, cache_dir=cache)
    assert isinstance(manifest, Verified)
    assert manifest.files == read_manifest(tiny_bundle).files
    cached = hub.cached_bundle(hub.parse_hub_source(source), cache)
    assert cached is not None and cached.folder == manifest.folder
