"""Make examples/showcase.png with the library API: what halftint does, in one picture.

    python examples/make_showcase.py [--weights SRC]

One row per example print: the halftone print, the reference photo, the colorization with the
reference's colors, and two random colorizations (seeds 1 and 2). The weights default to the
bundle shipped with halftint.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from halftint.checkpoint import load_bundle
from halftint.hub import resolve_weights
from halftint.io import read_image, resize_image, write_image
from halftint.pipeline import Colorizer

HERE = Path(__file__).resolve().parent
# (print, reference): each print gets the colors of another photo than its own
ROWS = (
    ("halftones/floyd-steinberg/kitten.halftone.png", "photos/lemur.jpg"),
    ("halftones/clustered/lemur.halftone.png", "photos/kitten.jpg"),
)
CELL = 256  # height of every picture in the sheet
GAP = 6


def _cell(image: np.ndarray) -> np.ndarray:
    """RGB, CELL pixels high, aspect kept."""
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    height, width = image.shape[:2]
    return resize_image(image, CELL, max(1, round(width * CELL / height)))


def _row(cells: list[np.ndarray]) -> np.ndarray:
    gap = np.ones((CELL, GAP, 3), np.float32)
    parts: list[np.ndarray] = []
    for cell in cells:
        parts += [cell, gap]
    return np.concatenate(parts[:-1], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="bundle folder, hf:// source or name")
    parser.add_argument("--out", default=str(HERE / "showcase.png"))
    arguments = parser.parse_args()

    colorizer = Colorizer(load_bundle(resolve_weights(arguments.weights)), device="cpu")
    rows = []
    for print_path, reference_path in ROWS:
        halftone = read_image(HERE / print_path, "gray")
        reference = read_image(HERE / reference_path, "rgb")
        halftone_tensor = torch.from_numpy(halftone)[None, None]
        reference_tensor = torch.from_numpy(reference).permute(2, 0, 1)[None]
        with_reference = colorizer.colorize(halftone_tensor, reference=reference_tensor)
        randoms = [colorizer.colorize(halftone_tensor, seed=seed) for seed in (1, 2)]
        outputs = [with_reference, *randoms]
        images = [halftone, reference] + [t[0].permute(1, 2, 0).numpy() for t in outputs]
        rows.append(_row([_cell(image) for image in images]))
    width = max(row.shape[1] for row in rows)
    gap = np.ones((GAP, width, 3), np.float32)
    padded = [
        np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=1.0) for r in rows
    ]
    sheet = np.concatenate([part for row in padded for part in (row, gap)][:-1], axis=0)
    write_image(sheet, arguments.out, overwrite=True)
    print(arguments.out)


if __name__ == "__main__":
    main()
