"""The Colorizer: a weights bundle composed into the inverse halftone colorization pipeline.

The pipeline (README.md, "How it works"), for one halftone `Ih` of any size:

1. `Ĩbw = IHN(Ih)` at full resolution, tiled when large (see `tiling`), clamped to [0, 1]. A
   clustered-dot print whose dot period lies outside the periods the bundle's IHN was trained on
   is first resized so that it falls inside, descreened, and resized back (`halftint.screen`);
   other halftones are descreened as they are.
2. The colorization part runs at the working resolution (short side = the bundle's working
   size; only ever shrunk, never stretched; the networks pad odd sides themselves):
   - forward cascade: `A = G(Ĩbw', edges(Ĩbw'), z)` on the downsized gray image `Ĩbw'`;
   - reverse cascade: the halftone `Ih'` is re-made from `Ĩbw'` with the training halftoner
     (so G sees the kind of halftone it was trained on, whatever the scan's screen), then
     `Ch = G(Ih', edges(Ih'), z)` and `B = IHN(Ch)`, one channel at a time (a batch of 3n);
   - `Ĩ' = clamp(F(A, B), 0, 1)`.
3. `Ĩ'` is upsampled to the input size; with `keep_luma` its chroma is put on the full-resolution
   `Ĩbw` (`color.recombine_luminance`), so the output keeps every detail of the scan.

Color codes come from a `halftint.coloring.ColorSource`, turned into codes in one place
(`Colorizer._plan`): reference mode uses E's mean (deterministic) and matches the output to the
reference's colors; random mode draws z ~ N(0, I) from a seeded generator, sample by sample, so
sample i is the same whatever n; reconstruction mode is reference mode with the ground truth as
the reference. `Colorizer.run` colorizes one halftone from one source; `Colorizer.prepare`
descreens it once for several sources or for a long list of outputs made a few at a time.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
from collections.abc import Iterator
from typing import TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from halftint.bundle import REQUIRED_NETWORKS, photo_spreads
from halftint.checkpoint import Bundle
from halftint.color import chroma_statistics, match_chroma, recombine_luminance
from halftint.coloring import (
    CodeColors,
    ColorSource,
    InterpolatedColors,
    RandomColors,
    Reference,
    ReferenceColors,
)
from halftint.devices import autocast, resolve_device
from halftint.edges import canny_edges
from halftint.errors import HalftintError, Setting, WeightsError
from halftint.halftone import METHODS, dither
from halftint.match import DEFAULT_MATCH, MATCH_MODES
from halftint.nets import ColorizationNet, FusionNet, InverseHalftoneNet, ReferenceEncoder
from halftint.pipeline.device import Precision, available_memory, resolve_precision
from halftint.pipeline.memory import ihn_bytes_per_pixel
from halftint.pipeline.noise import positional_noise
from halftint.pipeline.sheets import fit_to_cell
from halftint.pipeline.tiling import ProgressCallback, run_tiled
from halftint.screen import ScreenInfo, analyze, screen_scale

# the clustered-dot periods (px) to bring a screen into, for bundles that do not record theirs:
# lite-photos-v2 was trained on 3-10 px, but measured on a 1200 dpi print its IHN falls apart
# above 8 px (PSNR 28.6 dB brought to 7 px, 21.9 dB at 10 px)
DEFAULT_SCREEN_PERIODS = (3.0, 7.0)
# what `descreen` takes as `screen`: "auto" (analyse), "none" (as it is), a period in pixels,
# or a `ScreenInfo` found beforehand
Screen = str | float | ScreenInfo
# Tiles overlap by at least this many pixels (rounded up to the U-Net's 2**depth): six periods
# of the coarsest screens in the training mixture (10 px), twenty of the finest.
MIN_OVERLAP = 64
MAX_TILE = 4096
# On the CPU, larger tiles barely run faster (the overlap is already a small share) but cost
# RAM; this cap keeps a 600 dpi A4 scan under 3 GB with the lite networks.
CPU_TILE_BUDGET = 1536 * 2**20
# ... and past this side they run slower: a 4000x3000 descreen with the lite IHN took 11.0 s in
# 768-pixel tiles against 15.5 s in the 2896-pixel ones the budget allows (2-core AMD EPYC,
# fp32; 512: 11.3 s, 1024: 15.3 s), the activations of a smaller tile staying in the caches
CPU_TILE_SIDE = 768
# Share of the free memory (GPU) or available RAM (CPU) that one tile may use.
MEMORY_SHARE = 0.5
# The working image's long side is at most this many working sizes (very wide panoramas are
# shrunk further rather than run at a huge size).
MAX_WORKING_ASPECT = 4
# Rows of the full-size output recombined at a time, in pixels per strip: bounds temporaries.
STRIP_PIXELS = 1 << 22

# the working-size gray, the halftone re-made from it, and the edge maps of both
CascadeInputs = tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


class Colorizer:
    """Inverse halftone colorization with the networks of one weights bundle.

    Tensors in, tensors out: halftones are `(B, 1, H, W)` float in [0, 1] (0 ink, 1 paper),
    references `(B, 3, H, W)` RGB in [0, 1]; results are float32 on the input's device. The
    networks run on `device` in `precision`, as copies of the bundle's (whose own modules are
    left as they are); the same inputs, seed and device give the same output exactly.

    Attributes:
        device: where the networks run.
        precision: the resolved precision (never "auto").
        working_size: the short side the colorization part runs at.
        halftone_method: the halftoner the reverse cascade re-makes its input with.
        screen_periods: the clustered-dot periods (px) the bundle's IHN was trained on.
        photo_spreads: `(k, 2)` the bundle's training photos' chroma spreads, which random
            colorings take theirs from (`RandomColors.spread`); None when it records none.
        z_dim: size of a color code.
        tile_size: the largest IHN tile side; chosen from free memory at each call when None;
            set (halved) when a CUDA device runs out of memory.
        overlap: the least overlap of IHN tiles, a multiple of `alignment`.
        alignment: IHN's alignment (the U-Net's `2**depth`, the shuffle factor); tile origins
            are multiples of it.
        ihn_bytes_per_pixel: IHN's estimated peak memory per pixel (see `memory`).
    """

    def __init__(
        self,
        bundle: Bundle,
        *,
        device: str | torch.device = "auto",
        precision: str = "auto",
        tile_size: int | None = None,
    ) -> None:
        missing = [name for name in REQUIRED_NETWORKS if name not in bundle.networks]
        if missing:
            raise ValueError(f"the bundle lacks the networks {', '.join(missing)}")
        self.device = resolve_device(device) if isinstance(device, str) else torch.device(device)
        self.precision: Precision = resolve_precision(precision, self.device)
        networks = _own_copies(bundle, self.device, self.precision.memory_format())
        self.ihn = _network(networks, "ihn", InverseHalftoneNet)
        self.encoder = _network(networks, "encoder", ReferenceEncoder)
        self.generator = _network(networks, "generator", ColorizationNet)
        self.fusion = _network(networks, "fusion", FusionNet)
        self.working_size = bundle.working_size
        self.halftone_method = bundle.reverse_halftone
        if self.halftone_method not in METHODS:
            raise WeightsError(
                f"the bundle's halftone method {self.halftone_method!r} is unknown to this "
                f"halftint (known: {', '.join(METHODS)}); upgrade halftint"
            )
        spreads = photo_spreads(bundle.meta)
        self.photo_spreads = torch.tensor(spreads) if spreads else None
        periods = bundle.meta.get("screen_periods") or DEFAULT_SCREEN_PERIODS
        self.screen_periods = (float(periods[0]), float(periods[1]))
        self.z_dim = self.encoder.config.z_dim
        self.alignment = self.ihn.alignment
        self.overlap = math.ceil(MIN_OVERLAP / self.alignment) * self.alignment
        self.tile_size = tile_size
        self.ihn_bytes_per_pixel = ihn_bytes_per_pixel(self.ihn.config)

    # --- public API -------------------------------------------------------------------------

    def analyze_screen(self, halftone: torch.Tensor) -> ScreenInfo:
        """Whether a `(1, 1, H, W)` print is a clustered-dot screen, its period and angle."""
        _check(halftone, "halftone", 1, batch=1)
        return analyze(halftone)

    def screen_factor(self, halftone: torch.Tensor, screen: Screen = "auto") -> float:
        """The resize factor `descreen` applies to a print for `screen` (1: none).

        Raises:
            ValueError: `screen` is not "auto", "none", a `ScreenInfo` or a period > 0.
        """
        if isinstance(screen, str) and screen not in ("auto", "none"):
            raise ValueError(f"screen must be 'auto', 'none' or a period in pixels, got {screen!r}")
        if screen == "none":
            return 1.0
        if isinstance(screen, ScreenInfo):
            info = screen
        elif screen == "auto":
            if halftone.shape[0] != 1:
                return 1.0  # a batch of prints: each is analysed when descreened on its own
            info = self.analyze_screen(halftone)
        else:
            period = float(screen)
            if not math.isfinite(period) or period <= 0:
                raise ValueError(f"a screen period must be a number of pixels > 0, got {screen}")
            info = ScreenInfo(True, period=period)
        return screen_scale(info, self.screen_periods)

    def descreen(
        self,
        halftone: torch.Tensor,
        *,
        progress: ProgressCallback | None = None,
        screen: Screen = "auto",
    ) -> torch.Tensor:
        """IHN at full resolution: `(B, 1, H, W)` halftone -> `(B, 1, H, W)` gray in [0, 1].

        Large images run in overlapping tiles; `progress(done, total)` is called per tile.
        `screen`: "auto" analyses a single print and brings a clustered-dot period outside
        `screen_periods` inside it (resize, descreen, resize back); "none" descreens as it is;
        a number is the print's dot period in pixels; a `ScreenInfo` is a finished analysis.
        """
        _check(halftone, "halftone", 1)
        factor = self.screen_factor(halftone, screen)
        if abs(factor - 1.0) < 0.02:
            return self._descreen_as_is(halftone.float(), progress)
        height, width = halftone.shape[-2:]
        size = (max(1, round(height * factor)), max(1, round(width * factor)))
        scaled = F.interpolate(
            halftone.float(), size=size, mode="bilinear", antialias=factor < 1, align_corners=False
        )
        gray = self._descreen_as_is(scaled, progress)
        back = F.interpolate(gray, size=(height, width), mode="bicubic", align_corners=False)
        return back.clamp_(0.0, 1.0)

    def _descreen_as_is(
        self, image: torch.Tensor, progress: ProgressCallback | None
    ) -> torch.Tensor:
        while True:
            tile = self._tile_side(image.shape[0])
            try:
                gray = run_tiled(
                    self._descreen_tile,
                    image,
                    tile=tile,
                    overlap=self.overlap,
                    alignment=self.alignment,
                    progress=progress,
                )
                return gray.clamp_(0.0, 1.0)
            except torch.cuda.OutOfMemoryError:
                if self.device.type != "cuda" or tile <= 2 * self.overlap:
                    raise HalftintError(
                        "out of memory on {device} even with {tile}-pixel tiles; try {cpu}",
                        device=self.device,
                        tile=tile,
                        cpu=Setting("device", "cpu"),
                    ) from None
                torch.cuda.empty_cache()
                self.tile_size = max(2 * self.overlap, tile // 2)

    def encode(self, reference: torch.Tensor) -> torch.Tensor:
        """E's mean color code: `(B, 3, H, W)` RGB in [0, 1], any size -> `(B, z_dim)`."""
        _check(reference, "reference", 3)
        with self._inference(self.precision.colorize):
            mean, _logvar = self.encoder(self._to_device(reference))
        return mean.float().to(reference.device)

    @staticmethod
    def reference_chroma(reference: torch.Tensor) -> torch.Tensor:
        """The colors a reference's colorization is matched to: `(B, 3, H, W)` -> `(B, 4)`.

        E's 8 numbers carry a reference's colors only as well as the networks were trained; the
        statistics taken from the reference itself make "colors from this photo" hold for
        every bundle (`halftint.color.chroma_statistics`: mean Cb and Cr offsets, 0 for gray,
        and their standard deviations).
        """
        _check(reference, "reference", 3)
        return chroma_statistics(reference.float().cpu())

    def reference(self, image: torch.Tensor) -> Reference:
        """What `(k, 3, H, W)` reference images give a colorization: E's codes and their colors.

        Make it once per reference and reuse it for every input (`ReferenceColors`).
        """
        _check(image, "reference", 3)
        return Reference(code=self.encode(image), chroma=self.reference_chroma(image))

    def sample_codes(self, n: int, seed: int | None = None) -> torch.Tensor:
        """`(n, z_dim)` codes drawn from N(0, I), one after another from one seeded generator.

        Sample i depends only on the seed, not on n. With no seed, a fresh one is drawn.
        """
        return RandomColors(n, seed).codes(self.z_dim)

    def interpolation_codes(
        self, *, corners: int = 4, steps: int = 5, seed: int | None = None
    ) -> torch.Tensor:
        """The codes of `InterpolatedColors`: `(steps**2, z_dim)` (4 corners) or `(steps, z_dim)`
        (2), the corners drawn from `seed` as `sample_codes` draws them."""
        InterpolatedColors(corners, steps, seed)  # checks corners and steps
        ends = self.sample_codes(corners, seed)
        weights = torch.linspace(0.0, 1.0, steps).unsqueeze(1)
        if corners == 2:
            return (1 - weights) * ends[0] + weights * ends[1]
        top = (1 - weights) * ends[0] + weights * ends[1]
        bottom = (1 - weights) * ends[2] + weights * ends[3]
        down = weights.unsqueeze(2)  # (steps, 1, 1): the row's position between top and bottom
        grid = (1 - down) * top.unsqueeze(0) + down * bottom.unsqueeze(0)
        return grid.reshape(steps * steps, self.z_dim)

    def prepare(
        self,
        halftone: torch.Tensor,
        *,
        screen: Screen = "auto",
        progress: ProgressCallback | None = None,
        for_sheet: bool = False,
    ) -> Prepared:
        """Descreen one `(1, 1, H, W)` halftone once, to colorize it from any `ColorSource`.

        `screen` and `progress` are `descreen`'s. `for_sheet`: the results will only be shown
        as cells of a sheet (`sheets`), so the halftone and its gray are shrunk to a cell's size
        (`sheets.fit_to_cell`) after descreening and colorized at that size.
        """
        _check(halftone, "halftone", 1, batch=1)
        gray = self.descreen(halftone, progress=progress, screen=screen)
        if for_sheet:
            halftone, gray = fit_to_cell(halftone), fit_to_cell(gray)
        return Prepared(self, halftone, gray)

    def run(
        self,
        halftone: torch.Tensor,
        colors: ColorSource,
        *,
        keep_luma: bool = True,
        screen: Screen = "auto",
        progress: ProgressCallback | None = None,
    ) -> torch.Tensor:
        """Colorize one halftone from one source: `(1, 1, H, W)` -> `(colors.count, 3, H, W)`.

        The same as `prepare(halftone, ...).colorize(colors, ...)`; see `Prepared.colorize`.
        """
        prepared = self.prepare(halftone, screen=screen, progress=progress)
        return prepared.colorize(colors, keep_luma=keep_luma)

    def colorize(
        self,
        halftone: torch.Tensor,
        *,
        reference: torch.Tensor | Reference | None = None,
        z: torch.Tensor | None = None,
        seed: int | None = None,
        n: int = 1,
        chroma: torch.Tensor | None = None,
        match: str = DEFAULT_MATCH,
        keep_luma: bool = True,
        progress: ProgressCallback | None = None,
        screen: Screen = "auto",
    ) -> torch.Tensor:
        """Colorize one halftone: `(1, 1, H, W)` -> `(n, 3, H, W)` RGB in [0, 1].

        `run` with the source named by keywords. Give at most one of `reference` (a
        `(1, 3, h, w)` RGB image, one output, or a `Reference`, one output per image) and `z`
        (a `(k, z_dim)` batch of codes; k outputs); with neither, n codes are drawn from `seed`
        (`RandomColors`). With a reference, the output is matched to the reference's colors by
        `match` (one of `halftint.match.MATCH_MODES`; "none": the networks' colors as they are);
        `chroma` (`(k, 4)` or `(1, 4)`, as `reference_chroma` gives it) sets the colors to match
        explicitly, also for codes given as `z`. `keep_luma` puts the colors on the
        full-resolution descreened gray (else the working-resolution RGB is upsampled as it is).
        """
        _check(halftone, "halftone", 1, batch=1)
        if reference is not None and z is not None:
            raise ValueError("give either reference or z, not both")
        if n != 1 and (reference is not None or z is not None):
            raise ValueError(f"n={n} applies to random codes only; pass k codes as z instead")
        colors: ColorSource
        if isinstance(reference, torch.Tensor):
            _check(reference, "reference", 3, batch=1)
            reference = self.reference(reference)
        if z is not None:
            self._check_codes(z)
            if chroma is None:
                colors = CodeColors(z)
            else:
                colors = ReferenceColors(Reference(code=z, chroma=chroma), match)
        elif reference is not None:
            if chroma is not None:
                reference = dataclasses.replace(reference, chroma=chroma)
            colors = ReferenceColors(reference, match)
        else:
            colors = RandomColors(n, seed)
        return self.run(halftone, colors, keep_luma=keep_luma, screen=screen, progress=progress)

    def interpolate(
        self,
        halftone: torch.Tensor,
        *,
        corners: int = 4,
        steps: int = 5,
        seed: int | None = None,
        keep_luma: bool = True,
        progress: ProgressCallback | None = None,
        screen: Screen = "auto",
    ) -> torch.Tensor:
        """Colorizations along a bilinear sweep of the latent space (supplementary §4).

        `run` with `InterpolatedColors(corners, steps, seed)`: with 4 corners the result is a
        steps x steps grid in row-major order, `(steps * steps, 3, H, W)`, the corners' own
        colorizations at the grid's corners; with 2, a line of `steps` images between the two.
        """
        colors = InterpolatedColors(corners, steps, seed)
        return self.run(halftone, colors, keep_luma=keep_luma, screen=screen, progress=progress)

    def colorize_gray(
        self,
        gray: torch.Tensor,
        z: torch.Tensor,
        *,
        chroma: torch.Tensor | None = None,
        match: str = DEFAULT_MATCH,
        keep_luma: bool = True,
    ) -> torch.Tensor:
        """Steps 2-4 on an already descreened gray image: `(1, 1, H, W)` -> `(k, 3, H, W)`.

        Args:
            gray: `(1, 1, H, W)` descreened gray in [0, 1] (as `descreen` returns it).
            z: `(k, z_dim)` color codes; one output per code.
            chroma: `(k, 4)` or `(1, 4)` reference colors to match the outputs to (as
                `reference_chroma` gives them), applied at working resolution; None: the
                networks' colors as they are.
            match: how to match them (`color.MATCH_MODES`).
            keep_luma: recombine the colors with `gray` at full resolution.
        """
        _check(gray, "gray", 1, batch=1)
        self._check_codes(z)
        if match not in MATCH_MODES:
            raise ValueError(f"match must be one of {', '.join(MATCH_MODES)}, got {match!r}")
        gray = gray.float().clamp(0.0, 1.0)
        small_gray = self._to_working(gray)
        inputs = self._cascade_inputs(small_gray)
        small_colors = [
            self._colorize_small(inputs, codes.to(self.device))
            for codes in z.float().split(self._codes_per_chunk(small_gray))
        ]
        colors = torch.cat(small_colors).to(gray.device)
        if chroma is not None and match != "none":
            if keep_luma:
                # shift the colors as they will be shown, on the gray's luma: the room left in
                # the RGB cube depends on it
                small = small_gray.expand(colors.shape[0], -1, -1, -1)
                colors = recombine_luminance(colors, small)
            colors = match_chroma(colors, chroma, match)
        return self._to_full(colors, gray, keep_luma=keep_luma)

    def _plan(
        self, colors: ColorSource, start: int, stop: int | None
    ) -> tuple[torch.Tensor, torch.Tensor | None, str]:
        """What outputs `start..stop` of a source are made of: their codes, the reference colors
        to match them to (None: the networks' colors as they are) and how to match them.

        The one place that says what each `ColorSource` means.
        """
        if not isinstance(colors, ColorSource):
            raise TypeError(f"colors must be a ColorSource, got {type(colors).__name__}")
        count = colors.count
        stop = count if stop is None else stop
        if not 0 <= start < stop <= count:
            raise ValueError(
                f"outputs {start} to {stop} are not a slice of the {count} outputs of {colors}"
            )
        if isinstance(colors, ReferenceColors):
            reference = colors.reference
            self._check_codes(reference.code)
            chroma = reference.chroma
            if chroma.shape[0] != 1:  # one row per reference image, else one for all
                chroma = chroma[start:stop]
            return reference.code.float()[start:stop], chroma, colors.match
        if isinstance(colors, CodeColors):
            self._check_codes(colors.z)
            return colors.z.float()[start:stop], None, "none"
        if isinstance(colors, RandomColors):
            if colors.seed is None and (start, stop) != (0, count):
                raise ValueError("a slice of random colors needs a seed: each draw is new without")
            # the first `stop` codes: sample i depends on the seed only, so these are the ones
            # drawing all of them would give
            codes = self.sample_codes(stop, colors.seed)[start:]
            if colors.spread == "none" or self.photo_spreads is None:
                return codes, None, "none"
            photos = colors.photos(len(self.photo_spreads))[start:stop]
            return codes, self.photo_spreads[photos], "spread"
        if colors.seed is None and (start, stop) != (0, count):
            raise ValueError("a slice of an interpolation needs a seed: each draw is new without")
        codes = self.interpolation_codes(
            corners=colors.corners, steps=colors.steps, seed=colors.seed
        )
        return codes[start:stop], None, "none"

    # --- the parts ----------------------------------------------------------------------------

    def _descreen_tile(self, tile: torch.Tensor, top: int, left: int) -> torch.Tensor:
        batch, _, height, width = tile.shape
        noise = None
        if self.ihn.config.use_noise:
            noise = positional_noise(self.ihn, top, left, height, width)
            noise = self._to_device(noise.expand(batch, -1, -1, -1))
        with self._inference(self.precision.descreen):
            gray = self.ihn(self._to_device(tile), noise)
        return gray.float().to(tile.device)

    def _to_working(self, gray: torch.Tensor) -> torch.Tensor:
        """Shrink (never stretch) so the short side is the working size, keeping the aspect."""
        height, width = gray.shape[-2:]
        scale = min(
            1.0,
            self.working_size / min(height, width),
            MAX_WORKING_ASPECT * self.working_size / max(height, width),
        )
        if scale == 1.0:
            return gray
        size = (max(1, round(height * scale)), max(1, round(width * scale)))
        small = F.interpolate(gray, size=size, mode="bilinear", antialias=True, align_corners=False)
        return small.clamp_(0.0, 1.0)

    def _cascade_inputs(self, small_gray: torch.Tensor) -> CascadeInputs:
        """The working-size gray, the halftone re-made from it and their edges, on the device.

        The halftoner and Canny (OpenCV) run on the CPU: all four are made there once per call
        and go to the device in one trip. (Measured on the CPU, where the moves are no-ops:
        halftoning and both edge maps take 1.7 ms of a 226 ms call at 128 x 171, one code.)
        """
        on_cpu = small_gray.cpu()
        # seeded, so that stochastic halftoners (random, blue noise) are deterministic too
        halftone = dither(on_cpu, method=self.halftone_method, seed=0)
        gray_edges, halftone_edges = canny_edges(on_cpu), canny_edges(halftone)
        on = self.device
        return small_gray.to(on), halftone.to(on), gray_edges.to(on), halftone_edges.to(on)

    def _colorize_small(self, inputs: CascadeInputs, z: torch.Tensor) -> torch.Tensor:
        """Both cascades and F at working resolution for k codes: -> `(k, 3, h, w)` in [0, 1]."""
        gray, halftone, gray_edges, halftone_edges = inputs
        count = z.shape[0]
        _, _, height, width = gray.shape
        grays = self._to_device(gray.expand(count, -1, -1, -1))
        halftones = self._to_device(halftone.expand(count, -1, -1, -1))
        noise = None
        if self.ihn.config.use_noise:
            noise = positional_noise(self.ihn, 0, 0, height, width).expand(3 * count, -1, -1, -1)
            noise = self._to_device(noise)
        with self._inference(self.precision.colorize):
            forward = self.generator(grays, self._to_device(gray_edges.expand_as(grays)), z)
            color_halftone = self.generator(
                halftones, self._to_device(halftone_edges.expand_as(halftones)), z
            )
            per_channel = self._to_device(color_halftone.reshape(3 * count, 1, height, width))
            reverse = self._reverse_descreen(per_channel, noise)
            fused = self.fusion(forward, reverse.reshape(count, 3, height, width))
        return fused.float().clamp_(0.0, 1.0)

    def _reverse_descreen(self, images: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        """IHN on the reverse cascade's per-channel halftones: on the CPU one image at a time,
        whose activations stay in the caches (paper preset, three 256x256 channels: 1.38 s in
        one batch, 1.11 s one by one, the same results within 1e-6), elsewhere in one batch."""
        if self.device.type != "cpu":
            return self.ihn(images, noise)
        parts = [
            self.ihn(images[i : i + 1], None if noise is None else noise[i : i + 1])
            for i in range(images.shape[0])
        ]
        return torch.cat(parts)

    def _to_full(
        self, colors: torch.Tensor, gray: torch.Tensor, *, keep_luma: bool
    ) -> torch.Tensor:
        """Upsample `(k, 3, h, w)` colors to the size of `gray` and, optionally, take its luma."""
        height, width = gray.shape[-2:]
        if colors.shape[-2:] == (height, width):
            full = colors.contiguous().clone()
        else:
            full = F.interpolate(colors, size=(height, width), mode="bilinear", align_corners=False)
        if not keep_luma:
            return full.clamp_(0.0, 1.0)
        count = full.shape[0]
        rows = max(1, STRIP_PIXELS // (width * count))
        for top in range(0, height, rows):
            strip = full[..., top : top + rows, :]
            luma = gray[..., top : top + rows, :].expand(count, -1, -1, -1)
            strip.copy_(recombine_luminance(strip, luma))
        return full

    # --- memory, device, precision --------------------------------------------------------------

    def _tile_side(self, batch: int) -> int:
        """The IHN tile side: as set, or the largest aligned square the memory budget allows."""
        if self.tile_size is not None:
            return self.tile_size
        side = math.isqrt(int(self._memory_budget() / (self.ihn_bytes_per_pixel * batch)))
        largest = CPU_TILE_SIDE if self.device.type == "cpu" else MAX_TILE
        side = min(largest, side)
        side -= side % self.alignment
        return max(2 * self.overlap, side)

    def _codes_per_chunk(self, small_gray: torch.Tensor) -> int:
        """How many codes run at once: the reverse cascade's IHN sees 3 images per code."""
        pixels = small_gray.shape[-2] * small_gray.shape[-1]
        return max(1, int(self._memory_budget() // (3 * pixels * self.ihn_bytes_per_pixel)))

    def _memory_budget(self) -> float:
        """Bytes one IHN call may use: a share of what is free, capped on the CPU."""
        budget = MEMORY_SHARE * available_memory(self.device)
        return min(budget, CPU_TILE_BUDGET) if self.device.type == "cpu" else budget

    def _check_codes(self, z: torch.Tensor) -> None:
        if z.dim() != 2 or z.shape[1] != self.z_dim or z.shape[0] == 0:
            raise ValueError(f"z must be (k, {self.z_dim}) with k >= 1, got shape {tuple(z.shape)}")

    def _to_device(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor.to(device=self.device, dtype=torch.float32).contiguous(
            memory_format=self.precision.memory_format()
        )

    @contextlib.contextmanager
    def _inference(self, dtype: torch.dtype | None) -> Iterator[None]:
        """No gradients, and autocast to `dtype` (a stage's precision) when not None."""
        with torch.no_grad(), autocast(self.device, dtype):
            yield


class Prepared:
    """One halftone descreened once (`Colorizer.prepare`), to colorize from any `ColorSource`.

    Attributes:
        halftone: the `(1, 1, H, W)` halftone (shrunk to a sheet's cell with `for_sheet`).
        gray: its `(1, 1, H, W)` descreened gray in [0, 1], the same size.
    """

    def __init__(self, colorizer: Colorizer, halftone: torch.Tensor, gray: torch.Tensor) -> None:
        self.colorizer = colorizer
        self.halftone = halftone
        self.gray = gray

    def colorize(
        self,
        colors: ColorSource,
        *,
        keep_luma: bool = True,
        start: int = 0,
        stop: int | None = None,
    ) -> torch.Tensor:
        """Outputs `start` to `stop - 1` of `colors` (all by default): `(stop - start, 3, H, W)`.

        RGB in [0, 1] on the gray's device. Output i has the same code (and the same reference
        colors) whatever the slice, so a long list of outputs can be made a few at a time, with
        memory bounded; the codes of one call run as one batch (`colorize_gray`), so a slice
        equals the same rows of the whole up to the rounding of batched kernels. `keep_luma` is
        `colorize_gray`'s.

        Raises:
            ValueError: `start..stop` is not within the source's `count` outputs; a slice of
                random colors without a seed; codes of the wrong size.
        """
        codes, chroma, match = self.colorizer._plan(colors, start, stop)
        return self.colorizer.colorize_gray(
            self.gray, codes, chroma=chroma, match=match, keep_luma=keep_luma
        )


NetworkType = TypeVar("NetworkType", bound=nn.Module)


def _own_copies(
    bundle: Bundle, device: torch.device, memory_format: torch.memory_format
) -> dict[str, nn.Module]:
    """The networks the pipeline runs, copied onto `device` in `memory_format`, in eval mode.

    The bundle's own modules are never changed: two Colorizers on one bundle (say one on the
    CPU, one on a GPU) each run their own copies, and the caller may go on using, training or
    moving its modules. The copy is one `deepcopy` of all four, so weights they share stay
    shared. The caller's networks are not kept: dropping the bundle frees them.
    """
    originals = {name: bundle.networks[name] for name in REQUIRED_NETWORKS}
    copies: dict[str, nn.Module] = copy.deepcopy(originals)
    for network in copies.values():
        network.to(device).to(memory_format=memory_format).eval()
    return copies


def _network(networks: dict[str, nn.Module], name: str, kind: type[NetworkType]) -> NetworkType:
    network = networks[name]
    if not isinstance(network, kind):
        raise ValueError(
            f"the bundle's {name} is a {type(network).__name__}, not a {kind.__name__}"
        )
    return network


def _check(tensor: torch.Tensor, name: str, channels: int, *, batch: int | None = None) -> None:
    batch_text = "B" if batch is None else str(batch)
    ok = (
        isinstance(tensor, torch.Tensor)
        and tensor.dim() == 4
        and tensor.shape[1] == channels
        and (batch is None or tensor.shape[0] == batch)
        and tensor.shape[-1] > 0
        and tensor.shape[-2] > 0
    )
    if not ok:
        shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise ValueError(f"{name} must be a ({batch_text}, {channels}, H, W) tensor, got {shape}")
