"""Border bands: how far the edges of a colorization stand out on an even print.

    python benchmarks/border_bands.py [--weights BUNDLE ...] [--samples 8] [--seed 0]

A uniform gray (tones 0.5, 0.25, 0.75) of odd size, 251 rows by 333 columns, is halftoned with
Floyd–Steinberg and colorized in random mode, with the bundle's photo spreads and with the
networks' colors alone (`--random-spread none`). Reported per tone, in 8-bit Cb/Cr units
(`halftint.evaluate.measures.border_band`: the largest difference between the mean chroma of
a border strip, 3 % of the shorter side wide, and the interior's; goal ≤ 2, judged by
`halftint eval` on the worst sample): the first sample's band / the band of the mean of all
samples (a band that survives the mean comes from the print, not from the codes).

A second table shows where the bands come from, with G alone (the forward cascade, the mean
of 8 codes, at working resolution): on the descreened print, on an exactly even gray of the
same mean, and on the descreened print with its deviations from that mean scaled by 0.1. The
descreened print of an even tone is even to within about one 8-bit level, a little more near
the edges (the halftone's own border rows); G normalises each image by its own statistics, so
on an even print those sub-level deviations are all it sees and it turns them into bands.
Measured (weights.md): with lite-photos-v6's and v7's G the band is as large at 0.1 of the
deviations as at all of them, and small on an exact even gray; lite-photos-v8's G, with the
normalization's epsilon at 1, does not blow them up so.

Prints Markdown tables; the CPU and the thread count head the output.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
import torch.nn.functional as F
from ihn_pilots import cpu_model  # the same folder: benchmarks run as scripts

from halftint.checkpoint import load_bundle
from halftint.coloring import RandomColors
from halftint.edges import canny_edges
from halftint.evaluate.loop import EVEN_PRINT_SHAPE, EVEN_PRINT_TONES
from halftint.evaluate.measures import border_band
from halftint.halftone import dither
from halftint.hub import DEFAULT_BUNDLE, resolve_weights
from halftint.match import RANDOM_SPREADS
from halftint.pipeline import Colorizer

# the even prints of `halftint eval`'s border-band target, the middle tone first
TONES = tuple(sorted(EVEN_PRINT_TONES, key=lambda tone: abs(tone - 0.5)))
SHAPE = EVEN_PRINT_SHAPE


def bands(colorizer: Colorizer, spread: str, samples: int, seed: int) -> list[str]:
    cells = []
    for tone in TONES:
        gray = np.full(SHAPE, tone, np.float32)
        halftone = np.asarray(dither(gray, "floyd-steinberg", seed=seed), dtype=np.float32)
        with torch.inference_mode():
            prepared = colorizer.prepare(torch.from_numpy(halftone)[None, None])
            rgb = prepared.colorize(RandomColors(samples, seed, spread))
        images = rgb.permute(0, 2, 3, 1).numpy()
        cells.append(f"{border_band(images[0]):.1f} / {border_band(images.mean(axis=0)):.1f}")
    return cells


def cause(colorizer: Colorizer, seed: int) -> list[float]:
    """G's band on the descreened print / an exact even gray / 0.1 of the print's deviations."""
    gray = np.full(SHAPE, 0.5, np.float32)
    halftone = np.asarray(dither(gray, "floyd-steinberg", seed=seed), dtype=np.float32)
    with torch.inference_mode():
        descreened = colorizer.prepare(torch.from_numpy(halftone)[None, None]).gray
        scale = colorizer.working_size / min(SHAPE)
        size = (round(SHAPE[0] * scale), round(SHAPE[1] * scale))
        small = F.interpolate(descreened, size=size, mode="bilinear", antialias=True)
        codes = colorizer.sample_codes(8, seed)
        mean = small.mean()
        found = []
        for image in (small, torch.full_like(small, float(mean)), mean + 0.1 * (small - mean)):
            batch = image.expand(codes.shape[0], -1, -1, -1)
            colors = colorizer.generator(batch, canny_edges(batch), codes)
            found.append(border_band(colors.mean(dim=0).permute(1, 2, 0).numpy()))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", nargs="+", default=[DEFAULT_BUNDLE])
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"CPU: {cpu_model()}, {args.threads} thread(s)\n")
    header = " | ".join(f"tone {tone}" for tone in TONES)
    print(f"| bundle | random spread | {header} |")
    print("|---|---|" + "---:|" * len(TONES))
    for source in args.weights:
        colorizer = Colorizer(load_bundle(resolve_weights(source)), device="cpu")
        for spread in RANDOM_SPREADS:
            if spread != "none" and colorizer.photo_spreads is None:
                continue  # the same as "none" for a bundle that records no spreads
            row = bands(colorizer, spread, args.samples, args.seed)
            print(f"| {source} | {spread} | " + " | ".join(row) + " |")
    print(
        "\n| bundle | G alone, tone 0.5, mean of 8 codes: descreened print | exact even gray "
        "| 0.1 of the print's deviations |"
    )
    print("|---|---:|---:|---:|")
    for source in args.weights:
        colorizer = Colorizer(load_bundle(resolve_weights(source)), device="cpu")
        row = " | ".join(f"{band:.1f}" for band in cause(colorizer, args.seed))
        print(f"| {source} | {row} |")


if __name__ == "__main__":
    main()
