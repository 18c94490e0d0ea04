"""Where a colorization's colors come from: a reference, given codes, random codes, a sweep.

`halftint.pipeline.Colorizer` takes one of these (a `ColorSource`) and turns it into color codes
and, for a reference, the colors its outputs are matched to; the command line and the
evaluation only say which source they want. Each source knows how many outputs it gives
(`count`); outputs `start..stop` of a source are the rows `start..stop` of all of them.

Torch-free at import (tensors appear in annotations only), so the command line can name a
source before torch is loaded, and `halftint.evaluate` can build them without the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from halftint.match import DEFAULT_MATCH, DEFAULT_RANDOM_SPREAD, RANDOM_SPREADS

if TYPE_CHECKING:
    import torch

INTERPOLATION_CORNERS = (2, 4)


@dataclass(frozen=True)
class Reference:
    """What a colorization takes from k reference images (`Colorizer.reference` makes it).

    Made once per reference and reused for every input of a batch.

    Attributes:
        code: `(k, z_dim)` E's mean color codes, one per reference image.
        chroma: `(k, 4)` (or `(1, 4)`, for all) the colors the outputs are matched to
            (`halftint.color.chroma_statistics`: mean Cb and Cr offsets, their spreads).
    """

    code: torch.Tensor
    chroma: torch.Tensor

    def __len__(self) -> int:
        return int(self.code.shape[0])


@dataclass(frozen=True)
class ReferenceColors:
    """The colors of reference images: one output per image, matched to its colors by `match`
    (one of `halftint.match.MATCH_MODES`; "none": the networks' colors as they are)."""

    reference: Reference
    match: str = DEFAULT_MATCH

    @property
    def count(self) -> int:
        return len(self.reference)


@dataclass(frozen=True)
class CodeColors:
    """Given `(k, z_dim)` color codes: one output per code, the networks' colors as they are."""

    z: torch.Tensor

    @property
    def count(self) -> int:
        return int(self.z.shape[0])


@dataclass(frozen=True)
class RandomColors:
    """`n` codes drawn from N(0, I), one after another from a generator seeded with `seed`
    (a fresh seed when None): sample i depends on the seed only, not on n.

    `spread` (one of `halftint.match.RANDOM_SPREADS`): "photos" gives each sample the chroma
    spread of one of the bundle's training photos (`bundle.photo_spreads`), drawn from the same
    seed, keeping the networks' mean color and where their colors go; "none" keeps the
    networks' colors as they are (also what a bundle without recorded spreads gives).
    """

    n: int = 1
    seed: int | None = None
    spread: str = DEFAULT_RANDOM_SPREAD

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be at least 1, got {self.n}")
        if self.spread not in RANDOM_SPREADS:
            raise ValueError(
                f"spread must be one of {', '.join(RANDOM_SPREADS)}, got {self.spread!r}"
            )

    @property
    def count(self) -> int:
        return self.n

    def codes(self, z_dim: int) -> torch.Tensor:
        """The `(n, z_dim)` codes of this source: the one place seeded codes are drawn.

        Drawn one after another (one draw of many values would take a vectorised path with a
        different order), so code i depends on the seed only, not on n.
        """
        import torch

        generator = self._generator(0)
        return torch.stack([torch.randn(z_dim, generator=generator) for _ in range(self.n)])

    def photos(self, choices: int) -> torch.Tensor:
        """`(n,)` indices in `[0, choices)`: the training photo whose spread sample i takes,
        drawn one after another from their own stream of the seed (so index i, like code i,
        depends on the seed only)."""
        import torch

        generator = self._generator(1)
        return torch.cat([torch.randint(choices, (1,), generator=generator) for _ in range(self.n)])

    def _generator(self, stream: int) -> torch.Generator:
        import torch

        generator = torch.Generator()
        if self.seed is None:
            generator.seed()
        else:
            # stream 0 is the seed itself (the codes drawn before spreads existed)
            generator.manual_seed(self.seed + stream * _STREAM_OFFSET)
        return generator


# far beyond any seed a user gives (0 to 2^32 - 1), inside torch's 64-bit seed range
_STREAM_OFFSET = 2**40


@dataclass(frozen=True)
class InterpolatedColors:
    """A bilinear sweep of the latent space between `corners` codes drawn from `seed`: with 4
    corners a `steps` x `steps` grid in row-major order, with 2 a line of `steps`."""

    corners: int = 4
    steps: int = 5
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.corners not in INTERPOLATION_CORNERS:
            raise ValueError(f"corners must be 2 or 4, got {self.corners}")
        if self.steps < 2:
            raise ValueError(f"steps must be at least 2, got {self.steps}")

    @property
    def count(self) -> int:
        return self.steps * self.steps if self.corners == 4 else self.steps


ColorSource = ReferenceColors | CodeColors | RandomColors | InterpolatedColors
