"""A local stand-in for the Hugging Face Hub's file protocol, so tests never reach the real Hub.

It answers what `hf_hub_download` asks, the way huggingface.co does:

- `HEAD` / `GET /{owner}/{repo}/resolve/{revision}/{path}` (the revision URL-quoted, so a
  branch like `refs/pr/1` is one path segment):
  - a regular (git) file: 200 with `X-Repo-Commit: <40-hex>`, `ETag: "<git blob sha1>"` and
    `Content-Length` (on HEAD too, with no body);
  - a large-file-storage file (`*.safetensors`): 302 to a separate origin standing for the CDN,
    with `X-Repo-Commit`, `X-Linked-Etag: "<sha256>"`, `X-Linked-Size` and `Location`; being
    another origin, the client takes the metadata from the redirect itself, then GETs the CDN;
  - 404 with `X-Error-Code: RepoNotFound`, `RevisionNotFound` or `EntryNotFound` (the last one
    with `X-Repo-Commit`, as the Hub sends it).
- No Xet headers are ever sent, so the client downloads over plain HTTP.

Every request to either origin is recorded, so tests can assert how many were made.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import unquote, urlsplit

LARGE_FILE_SUFFIXES = (".safetensors",)


@dataclass
class Repository:
    """A model repository: files per commit, and branches / tags pointing at commits."""

    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)


def folder_files(folder: Path, subfolder: str | None = None) -> dict[str, bytes]:
    """Every file below `folder` by its repository path (placed under `subfolder` if given)."""
    prefix = f"{subfolder}/" if subfolder else ""
    return {
        prefix + path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def git_blob_sha1(content: bytes) -> str:
    """The id git gives a file's content (what the Hub sends as the ETag of a regular file)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


class LocalHub:
    """A Hub-protocol server on 127.0.0.1 (free ports), with a second origin as its CDN.

    Use as a context manager; `url` is what `HF_ENDPOINT` should be set to.
    """

    def __init__(self) -> None:
        self.repositories: dict[str, Repository] = {}
        self.requests: list[tuple[str, str]] = []
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._hub = ThreadingHTTPServer(("127.0.0.1", 0), _HubHandler)
        self._cdn = ThreadingHTTPServer(("127.0.0.1", 0), _CdnHandler)
        for server in (self._hub, self._cdn):
            server.local_hub = self  # type: ignore[attr-defined]
            server.daemon_threads = True
        self._threads = [
            threading.Thread(target=server.serve_forever, daemon=True)
            for server in (self._hub, self._cdn)
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._hub.server_address[1]}"

    @property
    def cdn_url(self) -> str:
        return f"http://127.0.0.1:{self._cdn.server_address[1]}"

    def __enter__(self) -> LocalHub:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for server in (self._hub, self._cdn):
            server.shutdown()
            server.server_close()

    def publish(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        branch: str = "main",
        tags: tuple[str, ...] = (),
    ) -> str:
        """Commit `files` (the whole tree) to `repo_id` on `branch`; return the commit id."""
        repository = self.repositories.setdefault(repo_id, Repository())
        digest = hashlib.sha1(repo_id.encode() + b"%d" % len(repository.commits))
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
        commit = digest.hexdigest()
        repository.commits[commit] = dict(files)
        for ref in (branch, *tags):
            repository.refs[ref] = commit
        with self._lock:
            for content in files.values():
                self._blobs[hashlib.sha256(content).hexdigest()] = content
        return commit

    def reset_requests(self) -> None:
        with self._lock:
            self.requests.clear()

    def request_count(self) -> int:
        with self._lock:
            return len(self.requests)

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def blob(self, sha256: str) -> bytes | None:
        with self._lock:
            return self._blobs.get(sha256)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    @property
    def hub(self) -> LocalHub:
        return self.server.local_hub  # type: ignore[attr-defined, no-any-return]

    def log_message(self, format: str, *args: object) -> None:
        """Silence the per-request log lines (the hub records requests itself)."""

    def do_HEAD(self) -> None:
        self.hub.record("HEAD", self.path)
        self.answer(with_body=False)

    def do_GET(self) -> None:
        self.hub.record("GET", self.path)
        self.answer(with_body=True)

    def answer(self, *, with_body: bool) -> None:
        raise NotImplementedError

    def send(
        self, status: int, headers: dict[str, str], body: bytes = b"", *, with_body: bool
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if with_body:
            self.wfile.write(body)

    def not_found(self, code: str, *, with_body: bool, commit: str | None = None) -> None:
        headers = {"X-Error-Code": code, "X-Error-Message": f"{code} (local test hub)"}
        if commit is not None:
            headers["X-Repo-Commit"] = commit
        body = f'{{"error": "{code}"}}'.encode()
        self.send(404, {**headers, "Content-Type": "application/json"}, body, with_body=with_body)


class _HubHandler(_Handler):
    def answer(self, *, with_body: bool) -> None:
        segments = urlsplit(self.path).path.lstrip("/").split("/")
        if len(segments) < 5 or segments[2] != "resolve":
            self.not_found("RepoNotFound", with_body=with_body)
            return
        repo_id = "/".join(unquote(part) for part in segments[:2])
        revision = unquote(segments[3])
        filename = "/".join(unquote(part) for part in segments[4:])
        repository = self.hub.repositories.get(repo_id)
        if repository is None:
            self.not_found("RepoNotFound", with_body=with_body)
            return
        commit = repository.refs.get(revision, revision)
        files = repository.commits.get(commit)
        if files is None:
            self.not_found("RevisionNotFound", with_body=with_body)
            return
        content = files.get(filename)
        if content is None:
            self.not_found("EntryNotFound", with_body=with_body, commit=commit)
            return
        if filename.endswith(LARGE_FILE_SUFFIXES):
            sha256 = hashlib.sha256(content).hexdigest()
            headers = {
                "X-Repo-Commit": commit,
                "X-Linked-Etag": f'"{sha256}"',
                "X-Linked-Size": str(len(content)),
                "ETag": f'"{git_blob_sha1(content)}"',
                "Location": f"{self.hub.cdn_url}/blobs/{sha256}",
            }
            self.send(302, headers, with_body=with_body)
            return
        headers = {
            "X-Repo-Commit": commit,
            "ETag": f'"{git_blob_sha1(content)}"',
            "Content-Type": "application/octet-stream",
        }
        self.send(200, headers, content, with_body=with_body)


class _CdnHandler(_Handler):
    def answer(self, *, with_body: bool) -> None:
        sha256 = urlsplit(self.path).path.rsplit("/", 1)[-1]
        content = self.hub.blob(sha256)
        if content is None:
            self.send(404, {}, with_body=with_body)
            return
        headers = {"ETag": f'"{sha256}"', "Content-Type": "application/octet-stream"}
        self.send(200, headers, content, with_body=with_body)
