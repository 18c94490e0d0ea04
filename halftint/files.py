"""Files without torch, numpy or PIL: the one atomic write, and halftint's per-user cache folder.

The cache folder (compiled kernels, verified-file stamps) is `$XDG_CACHE_HOME` or `~/.cache` on
Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows, under `halftint/`;
`HALFTINT_CACHE_DIR` replaces it. Nothing in it is needed: deleting it costs a recompile or a
re-hash.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from collections.abc import Iterator
from pathlib import Path

ENVIRONMENT_VARIABLE = "HALFTINT_CACHE_DIR"


def user_cache_root() -> Path:
    """The platform's per-user cache folder."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
        return Path(base) if base else Path.home() / "AppData" / "Local"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    base = os.environ.get("XDG_CACHE_HOME")
    return Path(base) if base else Path.home() / ".cache"


def halftint_cache() -> Path:
    """halftint's folder in the user cache (`HALFTINT_CACHE_DIR` when set)."""
    given = os.environ.get(ENVIRONMENT_VARIABLE)
    return Path(given) if given else user_cache_root() / "halftint"


@contextlib.contextmanager
def atomic_replace(path: Path, *, fsync: bool = False) -> Iterator[Path]:
    """A new, empty temporary file to write `path`'s content to, renamed over `path` once the
    block completes: readers see the old file or the whole new one, never half of it.

    The one atomic write of the package (images, training state, run-folder text files). The
    temporary file is hidden, in the same folder (so the rename stays on one file system; the
    folder must exist), and gets the permissions the umask gives any new file. With `fsync` its
    content reaches the disk before the rename. If the block or the rename fails, the temporary
    file is removed and `path` is left as it was.
    """
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    # os.open with 0o666 lets the umask decide the permissions, as for any new file
    os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield temporary
        if fsync:
            with temporary.open("rb") as file:
                os.fsync(file.fileno())
        temporary.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
