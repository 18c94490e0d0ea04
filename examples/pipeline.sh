#!/usr/bin/env bash
# Batch and pipe use of halftint, end to end: photos -> halftone prints -> gray -> color.
#
#   examples/pipeline.sh [PHOTOS_FOLDER [OUT_FOLDER [WEIGHTS]]]
#
# PHOTOS_FOLDER defaults to the photos beside this script, OUT_FOLDER to ./pipeline-out.
# WEIGHTS is a bundle folder, hf://OWNER/REPO or an embedded bundle's name; without it,
# $HALFTINT_WEIGHTS or the bundle shipped with halftint is used.
set -euo pipefail

photos=${1:-$(dirname "$0")/photos}
out=${2:-pipeline-out}
weights=()
if [[ $# -ge 3 ]]; then
    weights=(--weights "$3")
fi

# 1. Batch: print every photo of the folder (and its subfolders) as a newspaper would, with an
#    85 lpi round-dot screen; the folder tree is kept under OUT/prints.
halftint halftone "$photos" -o "$out/prints" --method clustered --lpi 85 --dpi 300

# 2. Batch: descreen the prints (OUT/gray/<name>.gray.png) ...
halftint descreen "$out/prints" -o "$out/gray" "${weights[@]}"

# 3. ... and give each print three random colorings, reproducible with the seed.
halftint colorize "$out/prints" --random -n 3 --seed 7 -o "$out/random" "${weights[@]}"

# 4. Pipe: halftone one photo with Floyd-Steinberg and colorize it with the colors of the photo
#    itself (reconstruction), with no file in between; only image bytes travel on stdout.
first_photo=$(find "$photos" -type f \( -iname '*.png' -o -iname '*.jpg' -o -iname '*.jpeg' \) | sort | head -n 1)
halftint halftone "$first_photo" -o - \
    | halftint colorize - --ref "$first_photo" -o - "${weights[@]}" \
    > "$out/reconstructed.png"

# 5. Pipe: a contact sheet (print, gray, two colorings) of the same photo, straight to a file.
halftint halftone "$first_photo" -o - \
    | halftint colorize - --random -n 2 --grid --seed 1 -o - "${weights[@]}" \
    > "$out/sheet.png"

echo "wrote $out/prints, $out/gray, $out/random, $out/reconstructed.png and $out/sheet.png" >&2
