"""Where numba keeps its compiled halftoning kernels: a user cache folder, never the package.

numba's default is a `__pycache__` folder beside the source. Inside an installed package that
is wrong: the folder outlives `pip uninstall` and then shadows a later (editable) install as a
namespace package, and a read-only install cannot be written at all. So, unless the user has
set `NUMBA_CACHE_DIR`, it is pointed at the platform's cache folder (`$XDG_CACHE_HOME` or
`~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows) under
`halftint/numba` (`halftint.files`). This module must be imported before numba is.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from halftint.files import halftint_cache


def numba_cache_dir() -> Path:
    """Where halftint's numba kernels are cached (`NUMBA_CACHE_DIR` when set)."""
    given = os.environ.get("NUMBA_CACHE_DIR")
    return Path(given) if given else halftint_cache() / "numba"


def configure() -> None:
    """Point numba's cache at `numba_cache_dir()` (also if numba is already imported)."""
    folder = str(numba_cache_dir())
    os.environ.setdefault("NUMBA_CACHE_DIR", folder)
    numba = sys.modules.get("numba")
    if numba is not None and not getattr(numba.config, "CACHE_DIR", ""):
        numba.config.CACHE_DIR = folder


configure()
