"""halftint: turn black-and-white halftone prints into color photographs.

The top level stays light so that `halftint --help` answers fast: heavy names (anything that
needs torch) are resolved lazily on first access (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import Any

from halftint._version import __version__

# public name -> module that defines it; imported only when first used
_LAZY = {
    "dither": "halftint.halftone",
    "Colorizer": "halftint.pipeline",
    "load_bundle": "halftint.checkpoint",
    "save_bundle": "halftint.checkpoint",
}

__all__ = ["Colorizer", "__version__", "dither", "load_bundle", "save_bundle"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'halftint' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
