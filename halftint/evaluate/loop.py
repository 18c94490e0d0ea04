"""The evaluation behind `halftint eval`: a colorizer and photos in, scores and targets out.

For N photos (already cropped to one square size) and each halftoning method:
- descreening: PSNR and SSIM of the colorizer's `descreen` against the gray truth, beside the
  best single Gaussian low-pass filter (σ searched on a grid, on the same images, for the best
  mean PSNR; its SSIM is measured at that σ);
Then, on the Floyd–Steinberg halftones (the paper's training halftoner):
- reconstruction (reference = the photo itself): PSNR, SSIM and mean CIEDE2000 against the color
  truth, beside the "no color" baseline: the true gray image as RGB (no descreening error, so the
  strictest such baseline). Reference mode is measured as `colorize --ref` runs it (the output
  matched to the reference's colors by the default `--match-ref`) and, as `network_*`, with
  the networks' colors alone;
- cross-reference (`transfer`): each photo colorized with its nearest other photo (by a gray
  descriptor) as the reference, as `colorize --ref` runs it, with the networks' colors alone,
  and by two color-transfer baselines (the reference's mean color; a luma -> color table taken
  from the reference) and no color: ΔE2000 to the truth, the earth mover's distance of the
  chroma histograms to the reference's, reference fidelity (the share of photos whose output
  is nearer the reference's chroma than the gray image is), chroma spread and colorfulness;
- random mode: random samples colorized with codes drawn from N(0, I) as random mode draws
  them: diversity (mean pairwise CIEDE2000; a collapsed model scores about 0), colorfulness,
  chroma spread, and the ΔE2000 of the best of them; and border bands on even prints (even
  grays of odd size at three tones, Floyd–Steinberg, as many samples: the largest
  `measures.border_band` of any sample; an even print should come out one color to its edges);
- colorfulness and chroma spread of the truth.

Every halftone and every random code comes from a fixed seed: same photos, weights and seed give
the same numbers. Each photo's colorizations (reconstruction, with the other reference, random
samples) run as one batch of codes, so the halftone is descreened once for all of them.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
import torch

from halftint.coloring import CodeColors, ColorSource, RandomColors, Reference, ReferenceColors
from halftint.errors import UsageError
from halftint.evaluate.baselines import LinearFilter, LookupTable
from halftint.evaluate.measures import (
    GAUSSIAN_SIGMAS,
    border_band,
    chroma_histogram,
    chroma_spread,
    colorfulness,
    delta_e,
    gaussian_descreen,
    histogram_distance,
    luma,
    ssim,
)
from halftint.evaluate.methods import HalftoneMethod
from halftint.evaluate.results import (
    DIVERSITY_SAMPLES,
    MIN_PHOTOS,
    TRANSFER_VARIANTS,
    ColorizationScores,
    DescreenScores,
    Evaluation,
    TransferScores,
    judge,
)
from halftint.evaluate.transfer import (
    color_table_transfer,
    mean_color_transfer,
    reference_pairs,
)
from halftint.layout import tile_rows
from halftint.losses import psnr
from halftint.match import DEFAULT_MATCH, DEFAULT_RANDOM_SPREAD, MATCH_MODES

COLORIZATION_METHOD = HalftoneMethod("floyd-steinberg")
# the even prints border bands are measured on: odd sides (no U-Net level divides them), tones
EVEN_PRINT_SHAPE = (251, 333)
EVEN_PRINT_TONES = (0.25, 0.5, 0.75)

# photos per descreen call: a batch runs about twice as fast as single images on a CPU
DESCREEN_BATCH = 8
SHEET_GAP = 4


class SupportsPrepared(Protocol):
    """A halftone descreened once (`halftint.pipeline.Prepared`)."""

    def colorize(self, colors: ColorSource) -> torch.Tensor: ...


class SupportsColorize(Protocol):
    """What the evaluation needs of `halftint.pipeline.Colorizer`: CPU tensors in [0, 1] go in,
    results come back on the CPU."""

    def descreen(self, halftone: torch.Tensor) -> torch.Tensor: ...

    def reference(self, image: torch.Tensor) -> Reference: ...

    def prepare(self, halftone: torch.Tensor) -> SupportsPrepared: ...


ProgressCallback = Callable[[int, int], None]
# fits the classical baselines for one method: (least-squares linear filter, look-up table)
BaselineFitter = Callable[[HalftoneMethod], tuple[LinearFilter, LookupTable]]
SheetCallback = Callable[[int, np.ndarray], None]


def evaluate(
    colorizer: SupportsColorize,
    photos: Sequence[np.ndarray],
    methods: Sequence[HalftoneMethod],
    *,
    seed: int = 0,
    samples: int = DIVERSITY_SAMPLES,
    on_progress: ProgressCallback | None = None,
    on_sheet: SheetCallback | None = None,
    baselines: BaselineFitter | None = None,
    match: str = DEFAULT_MATCH,
) -> Evaluation:
    """Measure descreening and colorization quality on `photos`.

    Args:
        colorizer: a `halftint.pipeline.Colorizer` (or anything with its `descreen`,
            `reference` and `prepare`).
        photos: at least two `(S, S, 3)` float arrays in [0, 1], all of one size (see
            `measures.center_crop`); their BT.601 luma is the gray truth.
        methods: the halftoning methods whose descreening is measured.
        seed: seeds the halftones (photo i uses seed + i) and the random codes.
        samples: random samples per photo for the diversity measure (at least 2).
        on_progress: called with (steps done, steps in all) as work finishes; a step is one
            photo descreened with one method, or one photo colorized.
        on_sheet: called with (photo index, contact sheet) once per photo; see `contact_sheet`.
        baselines: fits the classical descreeners for a method (on photos other than these);
            their PSNR is then reported beside the Gaussian's.
        match: how reference mode matches the reference's colors as `colorize --ref` runs it
            (`color.MATCH_MODES`); every mode is measured, this one is judged.

    Raises:
        UsageError: fewer than two photos, or `samples` below 2.
        ValueError: the photos are not square `(S, S, 3)` arrays of one size.
    """
    if len(photos) < MIN_PHOTOS:
        raise UsageError(f"eval needs at least {MIN_PHOTOS} photos, got {len(photos)}")
    if samples < 2:
        raise UsageError(f"diversity needs at least 2 random samples, got {samples}")
    size = _check_photos(photos)
    grays = [luma(photo) for photo in photos]
    total_steps = len(photos) * (len(methods) + 1) + 1
    done_steps = 0

    def advance(steps: int = 1) -> None:
        nonlocal done_steps
        done_steps += steps
        if on_progress is not None:
            on_progress(done_steps, total_steps)

    descreen_scores: dict[str, DescreenScores] = {}
    # what later steps need: the sheets' tiles, and the halftones that colorization runs on
    sheet_tiles: dict[str, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    color_halftones: list[np.ndarray] | None = None
    for method in methods:
        method_halftones = [method.apply(gray, seed + i) for i, gray in enumerate(grays)]
        scores, estimates = _score_descreening(colorizer, method_halftones, grays, advance)
        if baselines is not None:
            scores = _with_baselines(scores, baselines(method), method_halftones, grays)
        descreen_scores[method.label] = scores
        if on_sheet is not None:
            sheet_tiles[method.label] = (method_halftones, estimates)
        if method.label == COLORIZATION_METHOD.label:
            color_halftones = method_halftones
    if color_halftones is None:
        color_halftones = [
            COLORIZATION_METHOD.apply(gray, seed + i) for i, gray in enumerate(grays)
        ]
    pairs = reference_pairs(photos)
    per_photo: list[dict[str, float]] = []
    per_photo_transfer: list[dict[str, dict[str, float]]] = []
    for index, photo in enumerate(photos):
        measures, transfer, rows = _score_colorization(
            colorizer,
            halftone=color_halftones[index],
            truth=photo,
            reference=photos[pairs[index]],
            seed=seed + index,
            samples=samples,
            match=match,
        )
        per_photo.append(measures)
        per_photo_transfer.append(transfer)
        if on_sheet is not None:
            for label, (method_halftones, estimates) in sheet_tiles.items():
                halftone = method_halftones[index]
                sigma = descreen_scores[label].gaussian_sigma
                rows.append([halftone, estimates[index], gaussian_descreen(halftone, sigma)])
            on_sheet(index, contact_sheet(rows))
        advance()

    colorization = ColorizationScores(
        halftone=COLORIZATION_METHOD.label,
        **{name: float(np.mean([m[name] for m in per_photo])) for name in per_photo[0]},
        cross_reference={
            variant: TransferScores(
                **{
                    name: float(np.mean([t[variant][name] for t in per_photo_transfer]))
                    for name in per_photo_transfer[0][variant]
                }
            )
            for variant in TRANSFER_VARIANTS
        },
        reference_pairs=pairs,
        match=match,
        **even_print_bands(colorizer, seed=seed, samples=samples),
    )
    advance()
    return Evaluation(
        size=size,
        images=len(photos),
        descreen=descreen_scores,
        colorization=colorization,
        targets=judge(methods, descreen_scores, colorization),
    )


def even_print_bands(
    colorizer: SupportsColorize, *, seed: int = 0, samples: int = DIVERSITY_SAMPLES
) -> dict[str, float]:
    """Border bands of random colorings of even prints: the largest `measures.border_band`
    (8-bit Cb/Cr units) of `samples` random colorings of each tone of `EVEN_PRINT_TONES`,
    as `colorize --random` runs (`random_border_band`) and with the networks' colors alone
    (`network_random_border_band`)."""
    spreads = {"random_border_band": DEFAULT_RANDOM_SPREAD, "network_random_border_band": "none"}
    worst = dict.fromkeys(spreads, 0.0)
    for tone in EVEN_PRINT_TONES:
        halftone = COLORIZATION_METHOD.apply(np.full(EVEN_PRINT_SHAPE, tone, np.float32), seed)
        with torch.inference_mode():
            prepared = colorizer.prepare(_tensor(halftone)[None, None])
            for key, spread in spreads.items():
                for image in _numpy(prepared.colorize(RandomColors(samples, seed, spread))):
                    worst[key] = max(worst[key], border_band(image))
    return worst


def _score_descreening(
    colorizer: SupportsColorize,
    halftones: Sequence[np.ndarray],
    grays: Sequence[np.ndarray],
    advance: Callable[[int], None],
) -> tuple[DescreenScores, list[np.ndarray]]:
    """Mean model and best-Gaussian scores over all photos, and the model's outputs."""
    estimates: list[np.ndarray] = []
    for start in range(0, len(halftones), DESCREEN_BATCH):
        batch = halftones[start : start + DESCREEN_BATCH]
        estimates.extend(_descreen(colorizer, batch))
        advance(len(batch))
    model_psnr = [psnr(estimate, gray) for estimate, gray in zip(estimates, grays, strict=True)]
    model_ssim = [ssim(estimate, gray) for estimate, gray in zip(estimates, grays, strict=True)]
    # mean PSNR of every σ on the grid, summed photo by photo
    gaussian_psnr_sums = np.zeros(len(GAUSSIAN_SIGMAS))
    for halftone, gray in zip(halftones, grays, strict=True):
        for sigma_index, sigma in enumerate(GAUSSIAN_SIGMAS):
            gaussian_psnr_sums[sigma_index] += psnr(gaussian_descreen(halftone, sigma), gray)
    best = int(np.argmax(gaussian_psnr_sums))
    sigma = GAUSSIAN_SIGMAS[best]
    gaussian_ssim = [
        ssim(gaussian_descreen(halftone, sigma), gray)
        for halftone, gray in zip(halftones, grays, strict=True)
    ]
    scores = DescreenScores(
        psnr=float(np.mean(model_psnr)),
        ssim=float(np.mean(model_ssim)),
        gaussian_psnr=float(gaussian_psnr_sums[best] / len(halftones)),
        gaussian_ssim=float(np.mean(gaussian_ssim)),
        gaussian_sigma=sigma,
    )
    return scores, estimates


def _with_baselines(
    scores: DescreenScores,
    fitted: tuple[LinearFilter, LookupTable],
    halftones: Sequence[np.ndarray],
    grays: Sequence[np.ndarray],
) -> DescreenScores:
    linear, table = fitted
    pairs = list(zip(halftones, grays, strict=True))
    return dataclasses.replace(
        scores,
        linear_psnr=float(np.mean([psnr(linear(halftone), gray) for halftone, gray in pairs])),
        lut_psnr=float(np.mean([psnr(table(halftone), gray) for halftone, gray in pairs])),
    )


def _score_colorization(
    colorizer: SupportsColorize,
    *,
    halftone: np.ndarray,
    truth: np.ndarray,
    reference: np.ndarray,
    seed: int,
    samples: int,
    match: str,
) -> tuple[dict[str, float], dict[str, dict[str, float]], list[list[np.ndarray]]]:
    """One photo's colorization measures (named as in `ColorizationScores`), its cross-reference
    measures by variant (as in `TransferScores`), and the first two rows of its contact sheet
    (see `contact_sheet`)."""
    gray = luma(truth)
    no_color = np.repeat(gray[..., None], 3, axis=2)
    with torch.inference_mode():
        prepared = colorizer.prepare(_tensor(halftone)[None, None])
        # the photo itself (reconstruction) and the other photo as references
        images = torch.stack([_tensor(truth), _tensor(reference)]).permute(0, 3, 1, 2)
        references = colorizer.reference(images)
        # the networks' colors: E's means for both, then the random samples, in one batch
        codes = torch.cat(
            [references.code, RandomColors(samples, seed).codes(references.code.shape[1])]
        )
        rgb = prepared.colorize(CodeColors(codes))
        # random mode as `colorize --random` runs it: the same codes, each sample given a
        # training photo's chroma spread when the bundle records them
        random_run = _numpy(prepared.colorize(RandomColors(samples, seed)))
        # reference mode as `colorize --ref` runs it: matched to the reference's colors
        matched = {
            mode: _numpy(prepared.colorize(ReferenceColors(references, match=mode)))
            for mode in MATCH_MODES
            if mode != "none"
        }
    outputs = _numpy(rgb)
    network_reconstruction, network_referenced = outputs[0], outputs[1]
    network_samples = list(outputs[2:])
    random_samples = list(random_run)
    reconstruction, referenced = (
        matched[match] if match != "none" else (network_reconstruction, network_referenced)
    )
    variants = {
        "model": referenced,
        "networks": network_referenced,
        **{f"match_{mode}": images[1] for mode, images in matched.items()},
        "mean_color": mean_color_transfer(gray, reference),
        "color_table": color_table_transfer(gray, reference),
        "no_color": no_color,
    }
    transfer = _transfer_measures(variants, truth=truth, reference=reference)
    measures = {
        **_reconstruction_measures(reconstruction, truth, prefix=""),
        **_reconstruction_measures(network_reconstruction, truth, prefix="network_"),
        "reference_fidelity": transfer["model"]["fidelity"],
        "network_reference_fidelity": transfer["networks"]["fidelity"],
        "baseline_psnr": psnr(no_color, truth),
        "baseline_ssim": ssim(no_color, truth),
        "baseline_delta_e": delta_e(no_color, truth),
        **_random_measures(random_samples, truth, prefix=""),
        **_random_measures(network_samples, truth, prefix="network_"),
        "truth_colorfulness": colorfulness(truth),
        "truth_chroma_spread": chroma_spread(truth),
    }
    rows = [[truth, no_color, reconstruction, reference, referenced], random_samples]
    return measures, transfer, rows


def _reconstruction_measures(
    reconstruction: np.ndarray, truth: np.ndarray, *, prefix: str
) -> dict[str, float]:
    return {
        f"{prefix}psnr": psnr(reconstruction, truth),
        f"{prefix}ssim": ssim(reconstruction, truth),
        f"{prefix}delta_e": delta_e(reconstruction, truth),
        f"{prefix}colorfulness": colorfulness(reconstruction),
    }


def _random_measures(
    samples: list[np.ndarray], truth: np.ndarray, *, prefix: str
) -> dict[str, float]:
    pairs = [delta_e(a, b) for a, b in itertools.combinations(samples, 2)]
    return {
        f"{prefix}diversity_delta_e": float(np.mean(pairs)),
        f"{prefix}random_colorfulness": float(np.mean([colorfulness(x) for x in samples])),
        f"{prefix}random_chroma_spread": float(np.mean([chroma_spread(x) for x in samples])),
        f"{prefix}best_random_delta_e": min(delta_e(x, truth) for x in samples),
    }


def _transfer_measures(
    variants: dict[str, np.ndarray], *, truth: np.ndarray, reference: np.ndarray
) -> dict[str, dict[str, float]]:
    """Cross-reference measures of each variant (keys of `TRANSFER_VARIANTS`)."""
    reference_histogram = chroma_histogram(reference)
    distances = {
        name: histogram_distance(chroma_histogram(image), reference_histogram)
        for name, image in variants.items()
    }
    return {
        name: {
            "delta_e": delta_e(image, truth),
            "reference_emd": distances[name],
            "fidelity": float(distances[name] < distances["no_color"]),
            "chroma_spread": chroma_spread(image),
            "colorfulness": colorfulness(image),
        }
        for name, image in variants.items()
    }


def _numpy(rgb: torch.Tensor) -> np.ndarray:
    """`(k, 3, S, S)` tensor -> `(k, S, S, 3)` float array clamped to [0, 1]."""
    array: np.ndarray = rgb.float().clamp(0.0, 1.0).permute(0, 2, 3, 1).numpy()
    return array


def contact_sheet(rows: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """Lay out equally sized tiles in rows on white, `SHEET_GAP` pixels apart.

    The evaluation's sheets hold, per photo: truth, no-color gray, reconstruction, reference,
    output with that reference; then the random samples; then one row per halftoning method:
    halftone, model descreening, best Gaussian.

    Args:
        rows: lists of `(S, S)` gray or `(S, S, 3)` RGB tiles in [0, 1], all of one size.

    Returns:
        `(H, W, 3)` float32 in [0, 1].
    """
    size = rows[0][0].shape[0]
    for tile in (tile for row in rows for tile in row):
        if tile.shape[:2] != (size, size):
            raise ValueError(f"sheet tiles must be {size}², got shape {tile.shape}")
    return tile_rows(rows, SHEET_GAP)


def _descreen(colorizer: SupportsColorize, halftones: Sequence[np.ndarray]) -> list[np.ndarray]:
    batch = torch.stack([_tensor(halftone) for halftone in halftones]).unsqueeze(1)
    with torch.inference_mode():
        grays = colorizer.descreen(batch)
    return list(grays[:, 0].float().clamp(0.0, 1.0).numpy())


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))


def _check_photos(photos: Sequence[np.ndarray]) -> int:
    first = photos[0].shape
    for photo in photos:
        if photo.ndim != 3 or photo.shape[2] != 3 or photo.shape[0] != photo.shape[1]:
            raise ValueError(f"photos must be square (S, S, 3) arrays, got shape {photo.shape}")
        if photo.shape != first:
            raise ValueError(f"photos must share one size, got {first} and {photo.shape}")
    return int(first[0])
