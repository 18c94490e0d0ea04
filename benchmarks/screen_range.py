"""Which dot periods should screen analysis bring clustered-dot prints into, for one bundle?

    python benchmarks/screen_range.py --data ../shared/data/photos/train --weights BUNDLE

On the hashed 10 % of `--data` that the IHN pilots also held out (`split_photos`, 10 %: give the
training folder, never the validation one), each photo's luma (512² center crop) is printed as
clustered-dot screens of several periods at 45° and 30°, and descreened with screen analysis
bringing the period into [3, TOP] for several TOP values (a period already inside is left).
Prints the mean PSNR against the true gray per period and TOP, and the mean over the periods.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from halftint.checkpoint import load_bundle
from halftint.data import MAX_PHOTO_SIDE, find_photos, load_photos, split_photos
from halftint.evaluate.measures import center_crop, luma
from halftint.halftone import dither
from halftint.hub import resolve_weights
from halftint.losses import psnr
from halftint.pipeline import Colorizer

PERIODS = (4.0, 6.0, 8.0, 10.0, 14.0)
TOPS = (5.0, 6.0, 8.0, 10.0, 12.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    colorizer = Colorizer(load_bundle(resolve_weights(args.weights)), device="cpu")
    _, held = split_photos(find_photos(args.data), args.data, 0.1)
    photos = load_photos(held, MAX_PHOTO_SIDE).images
    grays = [luma(center_crop(photo.astype(np.float32) / 255.0, args.size)) for photo in photos]
    table: dict[float, dict[float, float]] = {top: {} for top in TOPS}
    for period in PERIODS:
        prints = [
            np.asarray(
                dither(gray, "clustered", lpi=600 / period, dpi=600, angle=(45, 30)[i % 2]),
                np.float32,
            )
            for i, gray in enumerate(grays)
        ]
        for top in TOPS:
            colorizer.screen_periods = (3.0, top)
            scores = []
            for printed, gray in zip(prints, grays, strict=True):
                with torch.no_grad():
                    out = colorizer.descreen(torch.from_numpy(printed)[None, None], screen=period)
                scores.append(psnr(out[0, 0].numpy(), gray))
            table[top][period] = float(np.mean(scores))
    header = " | ".join(f"{period:g} px" for period in PERIODS)
    print(f"| into [3, TOP] | {header} | mean |")
    print("|---|" + "---:|" * (len(PERIODS) + 1))
    for top in TOPS:
        row = " | ".join(f"{table[top][period]:.2f}" for period in PERIODS)
        print(f"| TOP {top:g} px | {row} | {np.mean(list(table[top].values())):.2f} |")
    print(f"({len(grays)} held-out photos, {args.size}² crops)")


if __name__ == "__main__":
    main()
