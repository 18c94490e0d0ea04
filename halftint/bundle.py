"""The weights bundle format on disk, without torch: its manifest, hashing and verification.

A bundle is a folder:

    bundle.json              the manifest: format version, preset, working size, training facts,
                             metrics, per-network class/parameters/config, and the sha256 of
                             every other file
    README.md                a model card rendered from bundle.json
    <network>/config.json    format version, network key, class and config of one network
    <network>/model.safetensors

with one subfolder per network: "ihn", "encoder", "generator", "fusion" always, "discriminator"
and "histogram" optionally.

This module is the one place that reads a manifest (`read_manifest`: parsed once, checked once,
every listed path kept inside the bundle) and the one place that verifies a bundle (`verify`:
every listed file's sha256, once). A `Verified` manifest says a bundle was checked; whoever holds
one (`checkpoint.load_bundle`, `hub`, the CLI) does not check it again. Loading (`verified`)
re-hashes a file only when it may have changed since halftint last found it good: a stamp of
its size, modification and change times, inode and sha256 is kept in the user cache
(`STAMPS_FILE`), written only for files older than `RACY_SECONDS` (a file changed within the
same clock tick as its check would otherwise look unchanged); `halftint weights verify` always
hashes everything. Writing and loading
networks (torch, safetensors) is `halftint.checkpoint`'s; fetching from the Hub is
`halftint.hub`'s.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from halftint.errors import WeightsError
from halftint.files import atomic_replace, halftint_cache

MANIFEST = "bundle.json"
FORMAT_VERSION = 1
REQUIRED_NETWORKS = ("ihn", "encoder", "generator", "fusion")
OPTIONAL_NETWORKS = ("discriminator", "histogram")
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MODEL_CARD_FILE = "README.md"
# the halftone method re-made halftones use when a bundle records none (see reverse_halftone_method)
DEFAULT_REVERSE_HALFTONE = "floyd-steinberg"

_HASH_CHUNK = 1 << 20
# verified-file stamps, in halftint's user cache folder
STAMPS_FILE = "verified-files.json"
# a file modified this recently is hashed every time until it is older (see the module docs)
RACY_SECONDS = 2.0
# the stamps kept, most recent last (a few bundles' worth)
MAX_STAMPS = 512


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_files(folder: Path) -> dict[str, str]:
    """{relative POSIX path: sha256} of every file below `folder` but its manifest, sorted."""
    return {
        path.relative_to(folder).as_posix(): sha256_file(path)
        for path in sorted(folder.rglob("*"))
        if path.is_file() and path != folder / MANIFEST
    }


def write_manifest(folder: Path, meta: dict[str, Any]) -> None:
    """Write `meta` as `folder`'s bundle.json (into a staging folder: callers rename it in)."""
    (folder / MANIFEST).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def is_inside(relative: str) -> bool:
    """Whether a path listed in a manifest stays inside the bundle folder."""
    parts = PurePosixPath(relative).parts
    return bool(parts) and not PurePosixPath(relative).is_absolute() and ".." not in parts


@dataclass(frozen=True)
class Manifest:
    """A bundle's bundle.json, read and checked once: its folder, its content, its bytes.

    Attributes:
        folder: the bundle folder.
        meta: the parsed bundle.json.
        raw: bundle.json's bytes as read (its sha256 is `sha256`).
    """

    folder: Path
    meta: dict[str, Any]
    raw: bytes = field(repr=False)

    @property
    def files(self) -> dict[str, str]:
        """{relative path: sha256} of every file the bundle holds but bundle.json."""
        files: dict[str, str] = self.meta["files"]
        return files

    @property
    def sha256(self) -> str:
        """sha256 of bundle.json (which lists the sha256 of every other file)."""
        return hashlib.sha256(self.raw).hexdigest()

    @property
    def path(self) -> Path:
        """The bundle.json file."""
        return self.folder / MANIFEST


@dataclass(frozen=True)
class Verified(Manifest):
    """A manifest every listed file of which was present and matched its sha256.

    Only `Verification.verified` makes one; `size` is the bytes of the files, bundle.json
    included.
    """

    size: int = 0


def read_manifest(folder: str | os.PathLike[str]) -> Manifest:
    """Read and check a bundle's bundle.json (without hashing its files).

    Checked: it is a JSON object of a format this halftint reads, with the fields every bundle
    has, the required networks, a non-empty file list whose paths all stay inside the bundle,
    and each network's config and weights among them.

    Raises:
        WeightsError: the folder is missing or no bundle, bundle.json is unreadable or
            malformed, it lists a path outside the bundle, or it was written by a newer halftint.
    """
    root = Path(folder)
    if not root.is_dir():
        raise WeightsError(f"weights folder not found: {root}")
    path = root / MANIFEST
    if not path.is_file():
        raise WeightsError(f"{root} is not a halftint weights bundle (no {MANIFEST})")
    try:
        raw = path.read_bytes()
        meta = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WeightsError(f"{path} is unreadable: {error}") from error
    if not isinstance(meta, dict):
        raise WeightsError(f"{path} is not a JSON object")
    version = meta.get("format_version")
    if not isinstance(version, int):
        raise WeightsError(f"{path} has no integer format_version")
    if version > FORMAT_VERSION:
        raise WeightsError(
            f"{root} was written by a newer halftint (format {version} > "
            f"{FORMAT_VERSION}); upgrade halftint"
        )
    for name in ("preset", "working_size", "files", "networks"):
        if name not in meta:
            raise WeightsError(f"{path} lacks the field {name!r}")
    networks, files = meta["networks"], meta["files"]
    if not isinstance(networks, dict):
        raise WeightsError(f"{path}: 'networks' is not a JSON object")
    missing = [key for key in REQUIRED_NETWORKS if key not in networks]
    if missing:
        raise WeightsError(f"{root} lacks the networks {', '.join(missing)}")
    if not isinstance(files, dict) or not files:
        raise WeightsError(f"{path} lists no files")
    for relative, digest in files.items():
        # bundle.json may come from elsewhere: a listed path must never reach out of the folder
        if not is_inside(relative):
            raise WeightsError(f"{path} lists a path outside the bundle: {relative}")
        if not isinstance(digest, str):
            raise WeightsError(f"{path} lists no sha256 for {relative}")
    for key in networks:
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            if f"{key}/{name}" not in files:
                raise WeightsError(f"{path} does not list {key}/{name}")
    reverse = meta.get("reverse_halftone")
    if reverse is not None and not (isinstance(reverse, str) and reverse):
        raise WeightsError(f"{path}: 'reverse_halftone' is not a method name")
    spreads = meta.get("photo_spreads")
    if spreads is not None and not _is_spread_list(spreads):
        raise WeightsError(
            f"{path}: 'photo_spreads' is not a list of [Cb, Cr] standard deviations in [0, 1]"
        )
    return Manifest(folder=root, meta=meta, raw=raw)


def _is_spread_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(
            isinstance(pair, list)
            and len(pair) == 2
            and all(isinstance(x, (int, float)) and 0.0 <= x <= 1.0 for x in pair)
            for pair in value
        )
    )


def photo_spreads(meta: dict[str, Any]) -> list[tuple[float, float]]:
    """The chroma spreads of the bundle's training photos: one (Cb, Cr) standard deviation
    pair per photo, at the working size, as `color.chroma_statistics` measures them.

    Random colorings take theirs from one of these (`coloring.RandomColors`). Bundles written
    before the field (lite-photos-v4 and older) have none: an empty list.
    """
    return [(float(cb), float(cr)) for cb, cr in meta.get("photo_spreads") or []]


def reverse_halftone_method(meta: dict[str, Any]) -> str:
    """The halftone method the colorizer re-makes halftones with (its reverse cascade).

    A bundle names it in `reverse_halftone`. Bundles written before that field (such as the
    shipped lite-photos-v3) mean the first of their `halftone_methods`, which export listed most
    used first; a bundle with neither means DEFAULT_REVERSE_HALFTONE.
    """
    reverse = meta.get("reverse_halftone")
    if reverse:
        return str(reverse)
    methods = meta.get("halftone_methods") or [DEFAULT_REVERSE_HALFTONE]
    return str(methods[0])


@dataclass(frozen=True)
class FileProblem:
    """A file of a bundle that is missing or whose sha256 differs from bundle.json's."""

    relative: str
    expected: str
    actual: str | None  # None when the file is missing

    def describe(self) -> str:
        """The problem in a few words, for a list of problems."""
        if self.actual is None:
            return f"{self.relative} is missing"
        return (
            f"sha256 mismatch for {self.relative}: {MANIFEST} lists {self.expected[:12]}…, "
            f"the file has {self.actual[:12]}…"
        )

    def error(self, folder: Path) -> WeightsError:
        """The problem as the one-line error that refuses the bundle."""
        if self.actual is None:
            return WeightsError(f"{folder} is incomplete: {self.relative} is missing")
        return WeightsError(
            f"{folder / self.relative} does not match its sha256 in {MANIFEST}: the file is "
            "corrupt or was changed; download or copy the bundle again"
        )


@dataclass(frozen=True)
class Verification:
    """The outcome of hashing every file a manifest lists."""

    manifest: Manifest
    size: int  # bytes of the files that are present, bundle.json included
    problems: list[FileProblem]

    @property
    def folder(self) -> Path:
        return self.manifest.folder

    @property
    def files(self) -> int:
        """How many files the manifest lists (bundle.json not counted)."""
        return len(self.manifest.files)

    def verified(self) -> Verified:
        """The manifest, marked verified.

        Raises:
            WeightsError: naming the first missing or mismatching file.
        """
        if self.problems:
            raise self.problems[0].error(self.folder)
        manifest = self.manifest
        return Verified(
            folder=manifest.folder, meta=manifest.meta, raw=manifest.raw, size=self.size
        )


def verify(
    bundle: Manifest | str | os.PathLike[str],
    *,
    discard: Callable[[Path], None] | None = None,
    stamps: bool = False,
) -> Verification:
    """Hash every file the manifest lists (each once) and compare with the listed sha256.

    Args:
        bundle: a manifest from `read_manifest`, or a bundle folder (its manifest is read).
        discard: called with each file that fails (a Hub cache deletes it, so that it is
            downloaded again); a user's own folder is never changed.
        stamps: skip a file whose stamp (see the module docs) shows it unchanged since it was
            last found good with this sha256, and stamp the files found good now.

    Raises:
        WeightsError: a folder given is no readable bundle (see `read_manifest`).
    """
    manifest = bundle if isinstance(bundle, Manifest) else read_manifest(bundle)
    known = _read_stamps() if stamps else {}
    fresh: dict[str, list[Any]] = {}
    problems: list[FileProblem] = []
    size = len(manifest.raw)
    for relative, expected in manifest.files.items():
        path = manifest.folder / relative
        if not path.is_file():
            problems.append(FileProblem(relative, expected, None))
            continue
        status = path.stat()
        size += status.st_size
        key, stamp = str(path.resolve()), [*_file_state(status), expected]
        if known.get(key) == stamp:
            continue
        actual = sha256_file(path)
        if actual != expected:
            problems.append(FileProblem(relative, expected, actual))
            if discard is not None:
                discard(path)
        elif stamps and time.time() - status.st_mtime > RACY_SECONDS:
            fresh[key] = stamp
    if fresh:
        _write_stamps(known, fresh)
    return Verification(manifest=manifest, size=size, problems=problems)


def verified(bundle: Manifest | str | os.PathLike[str]) -> Verified:
    """`bundle` verified: as it is when it already is, else after `verify` (with stamps).

    Raises:
        WeightsError: not a bundle, or naming the first missing or mismatching file.
    """
    if isinstance(bundle, Verified):
        return bundle
    return verify(bundle, stamps=True).verified()


def _file_state(status: os.stat_result) -> list[int]:
    # the change time moves with any write and cannot be set back by the file's owner
    return [status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, status.st_dev]


def _read_stamps() -> dict[str, list[Any]]:
    try:
        stamps = json.loads((halftint_cache() / STAMPS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, unreadable or damaged: everything is hashed
    return stamps if isinstance(stamps, dict) else {}


def _write_stamps(known: dict[str, list[Any]], fresh: dict[str, list[Any]]) -> None:
    """Add `fresh` to the stamps on disk, keeping the newest `MAX_STAMPS`; best effort."""
    merged = {key: value for key, value in known.items() if key not in fresh} | fresh
    kept = dict(list(merged.items())[-MAX_STAMPS:])
    path = halftint_cache() / STAMPS_FILE
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_replace(path) as temporary:
            temporary.write_text(json.dumps(kept), encoding="utf-8")


def render_model_card(meta: dict[str, Any]) -> str:
    """The README.md of a bundle: what it is, how it was trained, how well it does."""
    lines = [
        f"# {meta['name']}",
        "",
        "Weights for halftint, which turns black-and-white halftone prints into color photos "
        "(inverse halftone colorization).",
        "",
        f"- preset: `{meta['preset']}`, working size {meta['working_size']} px",
        f"- trained on: {meta['data']}",
        f"- halftone methods: {', '.join(meta['halftone_methods']) or 'none recorded'}",
        f"- the reverse cascade re-halftones with: {reverse_halftone_method(meta)}",
        f"- random colorings take their color spread from: {_spread_source(meta)}",
        f"- stored as: {meta.get('dtype', 'float32')}",
        f"- written by halftint {meta['halftint_version']} on {meta['created']}",
        "",
        "| network | class | parameters |",
        "|---|---|---:|",
    ]
    for key, info in meta["networks"].items():
        lines.append(f"| {key} | {info['class']} | {info['parameters']:,} |")
    lines.append("")
    if meta.get("metrics"):
        lines += ["## Metrics", "", "| metric | value |", "|---|---:|"]
        metrics = sorted(flatten_metrics(meta["metrics"]))
        lines += [f"| {name} | {value} |" for name, value in metrics]
        lines.append("")
    lines += [
        "## Use",
        "",
        "```sh",
        "halftint colorize scan.png --weights PATH_OR_HF_SOURCE --random -n 3",
        "```",
        "",
    ]
    return "\n".join(lines)


def _spread_source(meta: dict[str, Any]) -> str:
    count = len(photo_spreads(meta))
    return f"{count} training photos" if count else "none recorded (the networks' colors)"


def flatten_metrics(metrics: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted name, value) of every leaf of a nested metrics dict, in order."""
    for key, value in metrics.items():
        if isinstance(value, dict):
            yield from flatten_metrics(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value
