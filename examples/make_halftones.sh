#!/usr/bin/env bash
# Regenerate the sample halftones in examples/halftones/ from the photos in examples/photos/.
#
#   examples/make_halftones.sh
#
# Every output is made by the `halftint halftone` command itself; rerunning gives the same bytes.
set -euo pipefail
cd "$(dirname "$0")"

# the paper's training halftone: Floyd-Steinberg error diffusion (serpentine), 1-bit PNG
halftint halftone photos -o halftones/floyd-steinberg --method floyd-steinberg --overwrite

# what a newspaper prints: an 85 lpi round-dot screen at 45 degrees, here at 600 dpi (7 px dots)
halftint halftone photos -o halftones/clustered --method clustered --lpi 85 --dpi 600 --overwrite

# a four-color print: CMYK plates at 15/75/0/45 degrees, overprinted back into RGB
halftint halftone photos/baboon.jpg -o halftones/color/baboon.cmyk.png \
    --color --method clustered --lpi 100 --dpi 600 --overwrite
