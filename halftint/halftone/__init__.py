"""Halftoning: turn continuous-tone gray or color images into black-and-white dot patterns.

Pure functions on numpy arrays and torch tensors (torch is never imported here: a tensor is
recognised only if the caller has already imported torch). Convention: 1 is white paper, 0 is
ink.

Methods (`METHODS`): error diffusion (floyd-steinberg and other kernels), ordered dither
(bayer*), a clustered-dot AM screen like newspaper photos, blue noise, white noise. Each is one
entry of `halftint.halftone.registry` (`REGISTRY`), with its options, their defaults and ranges.

The `seed` makes stochastic choices reproducible: the noise of `random`, and a random shift of
the screen for the mask methods (bayer*, clustered, blue-noise) so that training data does not
always see the grid at the same phase. Without a seed, mask methods are not shifted and
`random` draws fresh noise. Error diffusion is deterministic and ignores the seed.

Importing the package is light (no numpy): the registry's names are here at once, `dither` and
`dither_color` (`halftint.halftone.dithering`) load numpy on first use, and the numba-compiled
kernels load when a method that needs them first runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from halftint.halftone import cachedir  # noqa: F401  (before numba: where its cache goes)
from halftint.halftone.registry import (
    ERROR_DIFFUSION_METHODS,
    METHODS,
    ORDERED_METHODS,
    REGISTRY,
    SPOTS,
    check_method,
    check_screen,
    get_method,
)

if TYPE_CHECKING:
    from halftint.halftone.dithering import dither, dither_color

__all__ = [
    "ERROR_DIFFUSION_METHODS",
    "METHODS",
    "ORDERED_METHODS",
    "REGISTRY",
    "SPOTS",
    "check_method",
    "check_screen",
    "dither",
    "dither_color",
    "get_method",
]

# public name -> module that defines it; imported on first use (PEP 562)
_LAZY = {"dither": "halftint.halftone.dithering", "dither_color": "halftint.halftone.dithering"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'halftint.halftone' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
