"""How much G's output depends on its color code z, and where its border bands come from.

    python benchmarks/colorizer_diagnosis.py --data ../shared/data/photos/train [--weights B]

On the hashed held-out 10 % of the training photos (never val/), 128² center crops with the
true gray (no descreening, so only G is measured):

- z sensitivity: the mean absolute chroma difference (8-bit Cb/Cr units) between G's outputs
  for two codes: E's codes of the photo and of another photo, and two N(0, I) draws; with the
  U-Net's norms as inference runs them (each sample's own statistics) and as training runs
  them (statistics of the batch, every sample with its own code);
- the same per unit of code distance, and with z only at the borders vs the interior
  (8-px strips vs the rest), which tells a code that acts through the zero padding from one
  that acts on the image;
- border bands: a uniform mid-gray image's output, mean Cb/Cr of each 8-px border strip minus
  the interior's.

Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from ihn_pilots import cpu_model

from halftint.checkpoint import load_bundle
from halftint.color import rgb_to_ycbcr
from halftint.data import find_photos, load_photos, split_photos
from halftint.edges import canny_edges
from halftint.evaluate.measures import center_crop, luma
from halftint.hub import resolve_weights
from halftint.nets import ColorizationNet, ReferenceEncoder

STRIP = 8


def chroma(rgb: torch.Tensor) -> torch.Tensor:
    """`(B, 3, H, W)` -> `(B, 2, H, W)` Cb, Cr in 8-bit units centred on 0."""
    return (rgb_to_ycbcr(rgb)[:, 1:] - 0.5) * 255.0


def border_mask(size: int) -> torch.Tensor:
    mask = torch.zeros(size, size, dtype=torch.bool)
    mask[:STRIP] = mask[-STRIP:] = True
    mask[:, :STRIP] = mask[:, -STRIP:] = True
    return mask


def run(
    generator: ColorizationNet, gray: torch.Tensor, z: torch.Tensor, train: bool
) -> torch.Tensor:
    generator.train(train)
    with torch.no_grad():
        torch.manual_seed(0)  # dropout in training mode: the same masks for both codes
        return generator(gray, canny_edges(gray), z)


def sensitivity(
    generator: ColorizationNet, gray: torch.Tensor, first: torch.Tensor, second: torch.Tensor
) -> dict[str, float]:
    mask = border_mask(gray.shape[-1])
    rows: dict[str, float] = {}
    distance = float((first - second).norm(dim=1).mean())
    for label, train in (("inference norms", False), ("training norms", True)):
        outputs = [chroma(run(generator, gray, code, train)) for code in (first, second)]
        change = (outputs[0] - outputs[1]).abs()
        per_pixel = change.mean(dim=(0, 1))
        rows[label] = float(per_pixel.mean())
        rows[label + " per unit z"] = float(per_pixel.mean()) / distance
        rows[label + " border/interior"] = float(per_pixel[mask].mean() / per_pixel[~mask].mean())
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--weights", default="lite-photos-v3")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    bundle = load_bundle(resolve_weights(args.weights), names=("encoder", "generator"))
    encoder = bundle.networks["encoder"]
    generator = bundle.networks["generator"]
    assert isinstance(encoder, ReferenceEncoder) and isinstance(generator, ColorizationNet)
    size = 128
    paths = find_photos(args.data)
    _, held = split_photos(paths, args.data, 0.1)
    photos = [center_crop(image, size) for image in load_photos(held, 512).images]
    rgb = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2).float()
    gray = torch.from_numpy(np.stack([luma(photo) for photo in photos]))[:, None]
    with torch.no_grad():
        own, _ = encoder(rgb)
    other = own.roll(1, dims=0)
    generator_z = torch.Generator().manual_seed(0)
    draws = torch.randn(2, *own.shape, generator=generator_z)
    print(f"{args.weights}, {len(photos)} held-out photos at {size}², CPU {cpu_model()}\n")
    print("| codes | norms | chroma change | per unit of z | border / interior |")
    print("|---|---|---:|---:|---:|")
    for label, (first, second) in (
        ("E(photo) vs E(other photo)", (own, other)),
        ("two N(0, I) draws", (draws[0], draws[1])),
    ):
        rows = sensitivity(generator, gray, first, second)
        for norms in ("inference norms", "training norms"):
            print(
                f"| {label} | {norms} | {rows[norms]:.2f} | {rows[norms + ' per unit z']:.2f} | "
                f"{rows[norms + ' border/interior']:.2f} |"
            )
    spread = own.std(0).mean()
    print(f"\nE's codes: |mu| {own.norm(dim=1).mean():.2f}, spread over photos {spread:.3f}")
    flat = torch.full((4, 1, 129, 131), 0.5)
    codes = torch.randn(4, generator.config.z_dim, generator=generator_z)
    offsets = chroma(run(generator, flat, codes, False))
    interior = offsets[..., STRIP:-STRIP, STRIP:-STRIP].mean(dim=(2, 3))
    strips = {
        "top": offsets[..., :STRIP, :],
        "bottom": offsets[..., -STRIP:, :],
        "left": offsets[..., :, :STRIP],
        "right": offsets[..., :, -STRIP:],
    }
    worst = max(float((s.mean(dim=(2, 3)) - interior).abs().max()) for s in strips.values())
    print(f"uniform gray 129×131, 4 random codes: worst border strip {worst:.1f} Cb/Cr units off")


if __name__ == "__main__":
    main()
