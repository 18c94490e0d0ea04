"""Error-diffusion kernels as data tables.

A kernel spreads the quantisation error of the current pixel over pixels not yet visited: to
the right on the current row and onto the rows below. Each tap is `(row offset, column offset,
numerator)`; its weight is `numerator / divisor`. Column offsets are written for a left-to-right
pass; a serpentine pass mirrors them on the rows it walks right to left.

All kernels pass on the whole error (weights sum to 1) except Atkinson's, which by design
passes on only 6/8 of it: highlights and shadows clip to pure white or black, which keeps the
contrast of the Macintosh-era look it was made for.

Every kernel here is an error-diffusion method of `halftint.halftone.registry`: adding one is
adding a row to `KERNELS`. numpy is imported only when a kernel is turned into arrays, so that
the registry (and `halftint --help`) can read this table cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class DiffusionKernel:
    """One error-diffusion kernel.

    Attributes:
        name: the method name used on the command line.
        taps: `(row offset, column offset, numerator)` for each neighbour receiving error.
        divisor: the common denominator of the weights.
        origin: who published it and when, for help texts.
    """

    name: str
    taps: tuple[tuple[int, int, int], ...]
    divisor: int
    origin: str = ""

    @property
    def total_weight(self) -> float:
        """The share of the error passed on (1.0 for all kernels but Atkinson's 0.75)."""
        return sum(numerator for _, _, numerator in self.taps) / self.divisor

    def as_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row offsets, column offsets (int64) and weights (float64) for the compiled loop."""
        import numpy as np  # here, not at the top: see the module docstring

        rows = np.array([row for row, _, _ in self.taps], dtype=np.int64)
        columns = np.array([column for _, column, _ in self.taps], dtype=np.int64)
        weights = np.array([numerator for _, _, numerator in self.taps], dtype=np.float64)
        return rows, columns, weights / self.divisor


KERNELS: dict[str, DiffusionKernel] = {
    kernel.name: kernel
    for kernel in (
        DiffusionKernel(
            "floyd-steinberg",
            ((0, 1, 7), (1, -1, 3), (1, 0, 5), (1, 1, 1)),
            16,
            "Floyd & Steinberg (1976)",
        ),
        DiffusionKernel(
            "jarvis",
            (
                (0, 1, 7), (0, 2, 5),
                (1, -2, 3), (1, -1, 5), (1, 0, 7), (1, 1, 5), (1, 2, 3),
                (2, -2, 1), (2, -1, 3), (2, 0, 5), (2, 1, 3), (2, 2, 1),
            ),
            48,
            "Jarvis, Judice & Ninke (1976)",
        ),
        DiffusionKernel(
            "stucki",
            (
                (0, 1, 8), (0, 2, 4),
                (1, -2, 2), (1, -1, 4), (1, 0, 8), (1, 1, 4), (1, 2, 2),
                (2, -2, 1), (2, -1, 2), (2, 0, 4), (2, 1, 2), (2, 2, 1),
            ),
            42,
            "Stucki (1981)",
        ),
        DiffusionKernel(
            "burkes",
            (
                (0, 1, 8), (0, 2, 4),
                (1, -2, 2), (1, -1, 4), (1, 0, 8), (1, 1, 4), (1, 2, 2),
            ),
            32,
            "Burkes (1988)",
        ),
        DiffusionKernel(
            "sierra",
            (
                (0, 1, 5), (0, 2, 3),
                (1, -2, 2), (1, -1, 4), (1, 0, 5), (1, 1, 4), (1, 2, 2),
                (2, -1, 2), (2, 0, 3), (2, 1, 2),
            ),
            32,
            "Sierra (three-row, 1989)",
        ),
        # Sierra Lite: the smallest kernel that still avoids Floyd-Steinberg's worms
        DiffusionKernel(
            "sierra-lite",
            ((0, 1, 2), (1, -1, 1), (1, 0, 1)),
            4,
            "Sierra Lite (1990)",
        ),
        # Atkinson: passes on 6/8 of the error, see the module docstring
        DiffusionKernel(
            "atkinson",
            (
                (0, 1, 1), (0, 2, 1),
                (1, -1, 1), (1, 0, 1), (1, 1, 1),
                (2, 0, 1),
            ),
            8,
            "Atkinson (Apple, 1984)",
        ),
    )
}  # fmt: skip
