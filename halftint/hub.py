"""Where weights bundles come from: folders, the Hugging Face Hub, and the package itself.

This is the only module that imports `huggingface_hub`, and only where a call needs it: a
bundle folder or a shipped bundle resolves without loading it. What a bundle is, and how one
is read and verified, is `halftint.bundle`'s. A weights source (weights.md, "Sources") is one of:

- a bundle folder path (what `save_bundle` and training write);
- `hf://OWNER/REPO[/SUBDIR][@REVISION]`: a bundle on the Hugging Face Hub, at a branch, tag or
  commit (default `main`), optionally in a subfolder of the repository;
- the name of a bundle shipped inside the package, under `halftint/weights/NAME/`.

With no source given, `HALFTINT_WEIGHTS` is used, then the embedded default `DEFAULT_BUNDLE`.

Hub files are fetched one by one with `hf_hub_download` into the standard Hugging Face cache
(`HF_HOME` / `HF_HUB_CACHE`, or `cache_dir`): `bundle.json` first, at the asked revision, then
every file it lists, pinned to the commit that revision resolved to (the commit the Hub named
when it was first asked), so that a branch moving during the download cannot mix two versions.
huggingface_hub only checks sizes; every file is then checked, once, against the sha256 that
`bundle.json` lists, and a file that fails is deleted from the cache (snapshot link and blob:
the one place this module relies on the cache's layout, as huggingface_hub has no call that
deletes one cached file), so the cache never keeps a file that would be refused.

A bundle already complete in the cache for the asked revision is used without asking the
server at all (huggingface_hub records each branch or tag's commit under `refs/`): once fetched,
a bundle needs no network, and runs are reproducible. A moving branch is followed only when
asked, with `refresh=True` (`halftint weights download SRC`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from halftint._version import __version__
from halftint.bundle import MANIFEST, Manifest, Verification, Verified, read_manifest, verify
from halftint.errors import Setting, UsageError, WeightsError

DEFAULT_BUNDLE = "lite-photos-v8"
ENVIRONMENT_VARIABLE = "HALFTINT_WEIGHTS"
HUB_SCHEME = "hf://"
DEFAULT_REVISION = "main"
EMBEDDED_FOLDER = Path(__file__).parent / "weights"

# Hub naming rules for a namespace or a repository name (letters, digits, '-', '_', '.')
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}")
_SOURCE_FORM = "hf://OWNER/REPO[/SUBDIR][@REVISION]"
_NO_WEIGHTS_MESSAGE = (
    "no weights given and none shipped with this halftint; pass {source} (or set "
    f"{ENVIRONMENT_VARIABLE}), or train: `halftint train all --data PHOTOS --preset lite --out "
    "runs/NAME` then `{trained}`"
)


# seconds the Hub has to answer the first request of a fetch before it is called unreachable
REACH_TIMEOUT = 8.0


@dataclass(frozen=True)
class HubSource:
    """A bundle on the Hub: repository, optional subfolder, and revision (branch, tag, commit)."""

    repo_id: str
    subfolder: str | None = None
    revision: str = DEFAULT_REVISION

    def repo_path(self, relative: str) -> str:
        """The path in the repository of a file given relative to the bundle folder."""
        return f"{self.subfolder}/{relative}" if self.subfolder else relative

    def __str__(self) -> str:
        folder = f"/{self.subfolder}" if self.subfolder else ""
        return f"{HUB_SCHEME}{self.repo_id}{folder}@{self.revision}"


def is_hub_source(source: str) -> bool:
    return source.startswith(HUB_SCHEME)


def parse_hub_source(source: str) -> HubSource:
    """Split `hf://OWNER/REPO[/SUBDIR][@REVISION]` into its parts.

    Raises:
        UsageError: the text does not have that form.
    """
    if not is_hub_source(source):
        raise UsageError(f"not a Hub source: {source!r} (expected {_SOURCE_FORM})")
    location, _, revision = source[len(HUB_SCHEME) :].partition("@")
    parts = location.strip("/").split("/")
    bad_part = any(part in ("", ".", "..") for part in parts)
    if len(parts) < 2 or bad_part or not all(_NAME_PATTERN.fullmatch(p) for p in parts[:2]):
        raise UsageError(f"bad Hub source {source!r}: expected {_SOURCE_FORM}")
    if "@" in source and not revision:
        raise UsageError(f"bad Hub source {source!r}: empty revision after '@'")
    return HubSource(
        repo_id="/".join(parts[:2]),
        subfolder="/".join(parts[2:]) or None,
        revision=revision or DEFAULT_REVISION,
    )


def cache_folder(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The Hugging Face cache folder in use (`cache_dir`, else HF_HUB_CACHE / HF_HOME's hub/)."""
    from huggingface_hub import constants

    return Path(cache_dir if cache_dir is not None else constants.HF_HUB_CACHE).expanduser()


def embedded_bundles() -> dict[str, Path]:
    """The bundles shipped inside the package, by name (empty until one is released)."""
    if not EMBEDDED_FOLDER.is_dir():
        return {}
    return {
        folder.name: folder
        for folder in sorted(EMBEDDED_FOLDER.iterdir())
        if (folder / MANIFEST).is_file()
    }


def resolve_bundle(
    source: str | None = None,
    *,
    cache_dir: str | None = None,
    offline: bool = False,
    refresh: bool = False,
    on_fetch: Callable[[HubSource, str], None] | None = None,
) -> Manifest:
    """The manifest of the local bundle folder for `source`, read once.

    A Hub bundle is fetched and sha256-verified (it comes back `bundle.Verified`, so loading it
    hashes nothing again); a local folder or a shipped bundle is only read here, and verified
    when it is loaded (`checkpoint.load_bundle`) or checked (`bundle.verify`).

    Args:
        source: a folder, `hf://OWNER/REPO[/SUBDIR][@REVISION]`, or an embedded bundle name;
            None means `HALFTINT_WEIGHTS`, then the embedded default.
        cache_dir: the Hugging Face cache to use instead of the standard one.
        offline: never contact the Hub (also on when `HF_HUB_OFFLINE=1`).
        refresh: ask the Hub what the revision points to now, even when a bundle for it is
            cached (follows a moving branch); ignored offline.
        on_fetch: called with the Hub source and the Hub's address just before the Hub is
            contacted (a first fetch, or `refresh`), so a slow network can be announced.

    Returns:
        The bundle's manifest (for the Hub, of a snapshot folder inside the cache).

    Raises:
        WeightsError: nothing to load, a folder that is not a bundle (or of a newer format), and
            every Hub failure (repository, revision or file not found, network down, offline
            with the bundle not cached, sha256 mismatch), each with a one-line explanation.
        UsageError: a malformed `hf://` source.
    """
    if source is None:
        source = os.environ.get(ENVIRONMENT_VARIABLE) or None
    if source is None:
        default = embedded_bundles().get(DEFAULT_BUNDLE)
        if default is None:
            raise WeightsError(
                _NO_WEIGHTS_MESSAGE,
                source=Setting("source", "PATH|hf://OWNER/REPO"),
                trained=Setting("source", "runs/NAME/bundle"),
            )
        return read_manifest(default)
    if is_hub_source(source):
        return fetch_hub_bundle(
            parse_hub_source(source),
            cache_dir=cache_dir,
            offline=offline,
            refresh=refresh,
            on_fetch=on_fetch,
        )
    folder = Path(source).expanduser()
    if folder.exists():
        return read_manifest(folder)  # not a bundle, or of a newer format: say so now
    embedded = embedded_bundles()
    if source in embedded:
        return read_manifest(embedded[source])
    shipped = ", ".join(embedded) or "none"
    raise WeightsError(
        f"weights not found: {source!r} is neither a folder, nor {_SOURCE_FORM}, "
        f"nor a bundle shipped with halftint (shipped: {shipped})"
    )


def resolve_weights(
    source: str | None = None,
    *,
    cache_dir: str | None = None,
    offline: bool = False,
    refresh: bool = False,
) -> Path:
    """The local bundle folder for `source`: `resolve_bundle`'s folder (see it for the rest)."""
    manifest = resolve_bundle(source, cache_dir=cache_dir, offline=offline, refresh=refresh)
    return manifest.folder


def cached_bundle(source: HubSource, cache_dir: str | None = None) -> Manifest | None:
    """The manifest of `source`'s cached snapshot if every file it lists is present, else None.

    Makes no request: a branch or tag is looked up in the cache's `refs/`. Nothing is hashed.
    """
    from huggingface_hub import try_to_load_from_cache

    manifest = try_to_load_from_cache(
        source.repo_id,
        source.repo_path(MANIFEST),
        cache_dir=str(cache_folder(cache_dir)),
        revision=source.revision,
    )
    if not isinstance(manifest, str):
        return None
    cached = read_manifest(Path(manifest).parent)
    complete = all((cached.folder / relative).is_file() for relative in cached.files)
    return cached if complete else None


def fetch_hub_bundle(
    source: HubSource,
    *,
    cache_dir: str | None = None,
    offline: bool = False,
    refresh: bool = False,
    on_fetch: Callable[[HubSource, str], None] | None = None,
) -> Verified:
    """Fetch a Hub bundle into the cache (or find it there) and verify every file's sha256.

    See `resolve_bundle` for the arguments and errors.
    """
    from huggingface_hub import constants

    offline = offline or constants.HF_HUB_OFFLINE
    if offline or not refresh:
        cached = cached_bundle(source, cache_dir)
        if cached is not None:
            return _verify_or_evict(cached, source)
    if offline:
        raise WeightsError(
            "{source} is not (completely) in the cache {cache} and offline mode is on ({offline} "
            "or HF_HUB_OFFLINE=1); prefetch it where there is a network with `halftint weights "
            "download {source}` and copy the cache folder here",
            source=source,
            cache=cache_folder(cache_dir),
            offline=Setting("offline", True),
        )
    if on_fetch is not None:
        on_fetch(source, constants.ENDPOINT)
    commit = _check_reachable(source)
    manifest_path = _download(source, MANIFEST, source.revision, cache_dir)
    if commit is None or not _cached_at(source, commit, manifest_path, cache_dir):
        # the Hub failed the first request but not this one, or the revision moved on in
        # between: take bundle.json from the one commit the Hub names now
        commit = _current_commit(source, cache_dir)
        manifest_path = _download(source, MANIFEST, commit, cache_dir)
    # a newer format, or a path outside the bundle, is refused here, before the large files
    # are downloaded
    manifest = read_manifest(manifest_path.parent)
    for relative in manifest.files:
        _download(source, relative, commit, cache_dir)
    return _verify_or_evict(manifest, source)


def verify_cached(manifest: Manifest, *, stamps: bool = False) -> Verification:
    """`bundle.verify` for a snapshot in the Hub cache: each failing file is deleted from the
    cache (its link and its blob), so that it is downloaded again next time. `stamps` as for
    `bundle.verify` (resolving a source uses them; `halftint weights verify` does not)."""
    return verify(manifest, discard=_evict, stamps=stamps)


def _verify_or_evict(manifest: Manifest, source: HubSource) -> Verified:
    verification = verify_cached(manifest, stamps=True)
    problems = verification.problems
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise WeightsError(
            f"{source}: {problems[0].describe()}{more}; the file is not used and was removed from "
            "the cache (it will be downloaded again next time)"
        )
    return verification.verified()


def _evict(path: Path) -> None:
    # huggingface_hub has no call that deletes one cached file (only whole revisions); a
    # snapshot entry is a link to a blob named by its ETag, without symlink support a copy
    if path.is_symlink():
        blob = path.resolve()
        path.unlink()
        blob.unlink(missing_ok=True)
    else:
        path.unlink(missing_ok=True)


def _cached_at(source: HubSource, commit: str, manifest: Path, cache_dir: str | None) -> bool:
    """Whether `manifest`, just downloaded, is the cache's bundle.json of `commit`."""
    from huggingface_hub import try_to_load_from_cache

    at_commit = try_to_load_from_cache(
        source.repo_id,
        source.repo_path(MANIFEST),
        cache_dir=str(cache_folder(cache_dir)),
        revision=commit,
    )
    return isinstance(at_commit, str) and Path(at_commit) == manifest


@contextmanager
def _quiet_retry_warnings() -> Iterator[None]:
    # huggingface_hub logs a warning for each retry of a failed request; the outcome is reported
    # once, as one line. A verbosity the user lowered (HF_HUB_VERBOSITY=info) is left alone.
    logger = logging.getLogger("huggingface_hub")
    previous = logger.level
    if logger.getEffectiveLevel() == logging.WARNING:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(previous)


def _check_reachable(source: HubSource) -> str | None:
    """Ask the Hub for the manifest's metadata once, within `REACH_TIMEOUT` seconds.

    huggingface_hub retries a request that gets no answer, for up to a minute each time: a Hub
    that accepts connections but does not answer kept `hf_hub_download` silent for over six
    minutes. An answer of any kind (even an HTTP error, which `_download` then explains) means
    the Hub is there; no answer in time is a `WeightsError` at once.

    Returns:
        The commit the revision points to now, as the Hub named it; None when it answered with
        an HTTP error.
    """
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import HfHubHTTPError

    url = hf_hub_url(source.repo_id, source.repo_path(MANIFEST), revision=source.revision)
    try:
        metadata = get_hf_file_metadata(url, timeout=REACH_TIMEOUT, library_name="halftint")
    except HfHubHTTPError:
        return None
    except Exception as error:  # the HTTP client's transport errors: timeouts, refused, DNS
        reason = " ".join(str(error).split()) or type(error).__name__
        raise WeightsError(
            f"cannot reach the Hub at {constants.ENDPOINT} within {REACH_TIMEOUT:g} s "
            f"({type(error).__name__}: {reason}) and {source} is not in the cache; check the "
            "network (a machine that has none needs a copy of a cache folder that holds the "
            "bundle)"
        ) from error
    return metadata.commit_hash


def _download(source: HubSource, relative: str, revision: str, cache_dir: str | None) -> Path:
    """One file of the bundle, through the cache; each Hub failure becomes a WeightsError."""
    from huggingface_hub import hf_hub_download

    with _explained_failures(source, relative, revision, cache_dir):
        path = hf_hub_download(
            source.repo_id,
            source.repo_path(relative),
            revision=revision,
            cache_dir=str(cache_folder(cache_dir)),
            library_name="halftint",
            library_version=__version__,
        )
    assert isinstance(path, str)  # a DryRunFileInfo only with dry_run=True
    return Path(path)


def _current_commit(source: HubSource, cache_dir: str | None) -> str:
    """The commit `source`'s revision points to now, asked of the Hub (one request)."""
    from huggingface_hub import DryRunFileInfo, hf_hub_download

    with _explained_failures(source, MANIFEST, source.revision, cache_dir):
        info = hf_hub_download(
            source.repo_id,
            source.repo_path(MANIFEST),
            revision=source.revision,
            cache_dir=str(cache_folder(cache_dir)),
            library_name="halftint",
            library_version=__version__,
            dry_run=True,
        )
    assert isinstance(info, DryRunFileInfo)
    return info.commit_hash


@contextmanager
def _explained_failures(
    source: HubSource, relative: str, revision: str, cache_dir: str | None
) -> Iterator[None]:
    """Turn each Hub failure of a request for `relative` into a one-line WeightsError."""
    from huggingface_hub import constants
    from huggingface_hub.utils import (
        EntryNotFoundError,
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    where = f"{source.repo_id}@{revision}"
    try:
        with _quiet_retry_warnings():
            yield
    except LocalEntryNotFoundError as error:
        raise WeightsError(
            f"cannot reach the Hub at {constants.ENDPOINT} and {source} is not in the cache "
            f"{cache_folder(cache_dir)}; check the network (a machine that has none needs a copy "
            "of a cache folder that holds the bundle)"
        ) from error
    except GatedRepoError as error:
        raise WeightsError(
            f"{source}: {source.repo_id} is gated; accept its terms on the Hub and log in "
            "(`hf auth login` or HF_TOKEN)"
        ) from error
    except RepositoryNotFoundError as error:
        raise WeightsError(
            f"{source}: repository {source.repo_id} not found on {constants.ENDPOINT} (check the "
            "name; a private repository needs a token: `hf auth login` or HF_TOKEN)"
        ) from error
    except RevisionNotFoundError as error:
        raise WeightsError(
            f"{source}: revision {revision!r} not found in {source.repo_id} (give a branch, a tag "
            "or a 40-hex commit)"
        ) from error
    except EntryNotFoundError as error:
        if relative == MANIFEST:
            raise WeightsError(
                f"{source} is not a halftint weights bundle: {source.repo_path(MANIFEST)} is "
                f"missing from {where}"
            ) from error
        raise WeightsError(
            f"{source}: {source.repo_path(relative)}, listed in bundle.json, is missing from "
            f"{where}"
        ) from error
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "an error"
        raise WeightsError(
            f"{source}: the Hub at {constants.ENDPOINT} answered HTTP {status} for "
            f"{source.repo_path(relative)}; try again later"
        ) from error


@dataclass(frozen=True)
class BundleEntry:
    """One bundle found by `list_bundles`: what to pass as `--weights`, where, how big."""

    source: str
    origin: str  # "embedded" | "cache"
    path: Path
    size: int
    preset: str | None
    name: str | None
    complete: bool
    refs: tuple[str, ...] = ()
    commit: str | None = None


def list_bundles(cache_dir: str | None = None) -> list[BundleEntry]:
    """The embedded bundles, then every bundle found in the Hugging Face cache (no request)."""
    from huggingface_hub.utils import CacheNotFound, scan_cache_dir

    entries = [_entry(str(name), "embedded", folder) for name, folder in embedded_bundles().items()]
    try:
        cache = scan_cache_dir(cache_folder(cache_dir))
    except CacheNotFound:
        return entries
    for repo in sorted(cache.repos, key=lambda repo: repo.repo_id):
        if repo.repo_type != "model":
            continue
        for revision in sorted(repo.revisions, key=lambda revision: revision.commit_hash):
            for manifest in sorted(f.file_path for f in revision.files if f.file_name == MANIFEST):
                subfolder = manifest.parent.relative_to(revision.snapshot_path).as_posix()
                refs = tuple(sorted(revision.refs))
                hub = HubSource(
                    repo.repo_id,
                    None if subfolder == "." else subfolder,
                    refs[0] if refs else revision.commit_hash,
                )
                entry = _entry(str(hub), "cache", manifest.parent, refs, revision.commit_hash)
                entries.append(entry)
    return entries


def _entry(
    source: str, origin: str, folder: Path, refs: tuple[str, ...] = (), commit: str | None = None
) -> BundleEntry:
    try:
        meta: Mapping[str, Any] = read_manifest(folder).meta
    except WeightsError:
        meta = {"files": {}}
    files = [folder / MANIFEST, *(folder / relative for relative in meta["files"])]
    present = [path for path in files if path.is_file()]
    return BundleEntry(
        source=source,
        origin=origin,
        path=folder,
        size=sum(path.stat().st_size for path in present),
        preset=meta.get("preset"),
        name=meta.get("name"),
        complete=bool(meta["files"]) and len(present) == len(files),
        refs=refs,
        commit=commit,
    )


def push_bundle(
    folder: Path,
    repo_id: str,
    *,
    revision: str | None = None,
    private: bool = False,
    subfolder: str | None = None,
    commit_message: str | None = None,
) -> HubSource:
    """Publish a verified bundle to a Hub model repository (created if it does not exist).

    Exactly the files that `bundle.json` lists are uploaded, plus `bundle.json` itself; its
    `README.md` (the model card that `save_bundle` generated from `bundle.json`) becomes the
    repository's card when the bundle sits at the top level.

    Args:
        folder: the bundle folder.
        repo_id: `OWNER/REPO`.
        revision: the branch to commit to (created from `main` if missing); default `main`.
        private: make the repository private when it is created (an existing one is unchanged).
        subfolder: put the bundle in this folder of the repository instead of the top level.
        commit_message: the commit's title (default: one naming the bundle).

    Returns:
        The source of the published bundle, pinned to the new commit.

    Raises:
        WeightsError: the bundle fails verification, no token is available, or the Hub refused.
    """
    from huggingface_hub import HfApi, get_token
    from huggingface_hub.utils import HfHubHTTPError

    parse_hub_source(f"{HUB_SCHEME}{repo_id}")  # same naming rules as for downloads
    verification = verify(folder)
    if verification.problems:
        raise WeightsError(
            f"{folder}: {verification.problems[0].describe()}; refusing to publish a damaged bundle"
        )
    if get_token() is None:
        raise WeightsError(
            "publishing needs a Hugging Face token with write access: run `hf auth login` or "
            "set HF_TOKEN"
        )
    meta = verification.manifest.meta
    message = commit_message or f"halftint bundle {meta.get('name')} ({meta.get('preset')} preset)"
    api = HfApi(library_name="halftint", library_version=__version__)
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        if revision and revision != DEFAULT_REVISION:
            api.create_branch(repo_id, branch=revision, repo_type="model", exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            repo_type="model",
            folder_path=folder,
            path_in_repo=subfolder,
            revision=revision,
            commit_message=message,
            allow_patterns=sorted([MANIFEST, *meta["files"]]),
        )
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else "an error"
        raise WeightsError(
            f"publishing to {repo_id} failed: the Hub answered HTTP {status} (does your token "
            "have write access to it?)"
        ) from error
    return HubSource(repo_id, subfolder, commit.oid)
