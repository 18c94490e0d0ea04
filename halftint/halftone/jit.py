"""Compiled loops that need not compile: small inputs run the same function as plain Python.

numba costs a process about a second before its first compiled call, even when the machine
code is already in its cache: importing numba, building its numpy registries (which import
scipy.linalg when scipy is installed, for BLAS that no halftoning loop uses) and loading the
cached code. A small image halftones faster than that in plain Python (Floyd-Steinberg: about
3 microseconds a pixel), and the interpreted function is the very one numba compiles, so both
give the same bits.

A `Kernel` therefore runs its function interpreted while a call is small
(`INTERPRETED_CALL_PIXELS`) and the process has not yet interpreted `INTERPRETED_TOTAL_PIXELS`
in all; then it compiles once and stays compiled. A one-off small job (`halftint halftone` of a
thumbnail, the colorizer's re-halftone at its working size) never loads numba; a long job pays
at most a few tenths of a second of interpreting before it switches.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

# about 0.2 s of interpreted Floyd-Steinberg (3 microseconds a pixel on a 2-core AMD EPYC)
INTERPRETED_CALL_PIXELS = 1 << 16
# after this many interpreted pixels in one process, compiling is cheaper than going on
INTERPRETED_TOTAL_PIXELS = 1 << 17

# what numba imports while building its numpy registries only to decide whether np.correlate and
# np.convolve may call BLAS; without it they use a plain loop (the same results)
_SCIPY_BLAS = "scipy.linalg.cython_blas"


class Kernel:
    """`function` (a numba-compilable loop) run interpreted on small inputs, compiled otherwise.

    `options` are numba.njit's (`cache=True` keeps the machine code in halftint's user cache,
    `halftint.halftone.cachedir`).
    """

    def __init__(self, function: Callable[..., Any], **options: Any) -> None:
        self.function = function
        self.options = options
        self.interpreted_pixels = 0
        self._compiled: Callable[..., Any] | None = None

    def __call__(self, pixels: int, *args: Any) -> Any:
        """Run on an input of `pixels` pixels (what decides interpreted or compiled)."""
        if self._compiled is not None:
            return self._compiled(*args)
        if self._interprets(pixels):
            self.interpreted_pixels += pixels
            return self.function(*args)
        # the first compiled call is where numba builds its numpy registries
        with _numba_registries_without_scipy():
            return self.compiled()(*args)

    def _interprets(self, pixels: int) -> bool:
        return (
            pixels <= INTERPRETED_CALL_PIXELS
            and self.interpreted_pixels + pixels <= INTERPRETED_TOTAL_PIXELS
        )

    def compiled(self) -> Callable[..., Any]:
        """The numba dispatcher (it compiles, or loads from the cache, on its first call)."""
        if self._compiled is None:
            from halftint.halftone import cachedir

            cachedir.configure()
            import numba

            self._compiled = numba.njit(**self.options)(self.function)
        return self._compiled


@contextlib.contextmanager
def _numba_registries_without_scipy() -> Iterator[None]:
    """Keep scipy's BLAS module from being imported while numba builds its numpy registries.

    numba's registries ask once per process whether scipy's BLAS can be imported (about 0.4 s
    with scipy installed, for np.correlate and np.convolve, which no halftoning loop uses); a
    None entry in sys.modules makes that import fail fast. The entry is removed afterwards, so
    scipy imports normally for everything else, numba's linear algebra included.
    """
    blocked = "numba.np.arraymath" not in sys.modules and _SCIPY_BLAS not in sys.modules
    if blocked:
        sys.modules[_SCIPY_BLAS] = None  # type: ignore[assignment]
    try:
        yield
    finally:
        if blocked and sys.modules.get(_SCIPY_BLAS, 0) is None:
            del sys.modules[_SCIPY_BLAS]
