"""`halftint eval`: measure descreening and colorization quality on a folder of photos."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from halftint.cli.app import app, register
from halftint.cli.common import (
    CACHE_DIR_OPTION,
    OFFLINE_OPTION,
    SEED_MAX,
    BatchReport,
    InputItem,
    collect_inputs,
    console,
    error_text,
    find_weights,
    note,
    output_exists,
    run_batch,
)
from halftint.errors import HalftintError, InputError, UsageError
from halftint.halftone.registry import options_summary

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import numpy as np

    from halftint.evaluate.results import Evaluation

# Typer renders help as rich markup (square brackets would be tags) and keeps line breaks: each
# paragraph is one string
EVAL_HELP = (
    "Measure quality honestly: descreening against the best Gaussian filter, colorization "
    "against no color at all, diversity, reference fidelity, colorfulness; and whether the "
    "targets a trained model is judged on are met.\n\n"
    "Every photo is center-cropped to the working size; its BT.601 luma is the gray truth. The "
    "colorization measures use Floyd–Steinberg halftones. Reference mode is measured twice: "
    "with the photo itself as its reference (reconstruction) and with another photo, the "
    "nearest by gray histogram and thumbnail (cross-reference; the pairs are printed), each as "
    "'colorize --ref' runs it (--match-ref spread), with --match-ref mean, with the networks' "
    "colors alone, and beside color-transfer baselines. Fixed seeds make runs repeatable."
)
METHODS_HELP = (
    "Comma-separated halftoning methods to descreen, each NAME or NAME:OPTION=VALUE:...; "
    f"options: {options_summary()}, scan (any: a fixed simulated scan). Default: "
    "floyd-steinberg, jarvis, atkinson, "
    "clustered:lpi=150:dpi=600 (4 px dots), clustered:lpi=100:dpi=600 (6 px), "
    "clustered:lpi=100:dpi=600:angle=30:scan=true (a scanned print)."
)
SHEET_SUFFIX = ".eval.png"
TABLE_WIDTH = 140
# the largest --size: the evaluation holds a few dozen float copies of every photo at this size
MAX_EVAL_SIZE = 2048


@register(app, "eval", help=EVAL_HELP)
def eval_command(  # noqa: PLR0917  (Typer maps every option to a parameter)
    data: Path = typer.Option(
        ..., "--data", help="Folder of color photos (searched recursively), e.g. a validation set."
    ),
    weights: str | None = typer.Option(
        None,
        "--weights",
        help="Weights bundle: a folder, hf://OWNER/REPO (then optionally /SUBDIR and @REVISION) "
        "or an embedded name (default: $HALFTINT_WEIGHTS, then the embedded bundle).",
    ),
    cache_dir: str | None = CACHE_DIR_OPTION,
    offline: bool = OFFLINE_OPTION,
    methods: str | None = typer.Option(None, "--methods", help=METHODS_HELP),
    size: int | None = typer.Option(
        None,
        "--size",
        min=16,
        max=MAX_EVAL_SIZE,
        help=f"Center-crop size in pixels, 16 to {MAX_EVAL_SIZE} (default: the working size).",
    ),
    samples: int = typer.Option(
        5, "-n", "--samples", min=2, help="Random samples per photo for the diversity measure."
    ),
    seed: int = typer.Option(
        0,
        "--seed",
        min=0,
        max=SEED_MAX,
        help="Seeds every halftone and random color code (0 to 2^32 - 1).",
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print the results as JSON on stdout (the table goes to stderr)."
    ),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Save one contact sheet per photo here: truth, gray, reconstruction, reference, "
        "output with it / the random samples / per method: halftone, descreened, best Gaussian.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing contact sheets."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    fit_data: Path | None = typer.Option(
        None,
        "--fit-data",
        metavar="DIR",
        help="Photos to fit the classical baselines on (per method: an 11×11 least-squares "
        "linear filter and a 21-pixel look-up table), e.g. the training photos; their PSNR is "
        "shown beside the Gaussian's.",
    ),
    record: bool = typer.Option(
        False,
        "--record",
        help="Also store the results in the bundle's bundle.json metrics and model card "
        "(a local bundle folder only).",
    ),
) -> None:
    """`halftint eval` (help text in EVAL_HELP)."""
    # everything that can be a usage error is checked before torch is imported (seconds)
    from halftint.evaluate.methods import DEFAULT_METHODS, parse_methods
    from halftint.evaluate.results import MIN_PHOTOS

    if not data.is_dir():
        raise UsageError(f"--data {data} is not a folder (give a folder of color photos)")
    inputs = collect_inputs([str(data)])
    if len(inputs.items) < MIN_PHOTOS:
        raise UsageError(
            f"--data {data} holds {len(inputs.items)} photo; eval needs at least {MIN_PHOTOS} "
            "(reference fidelity pairs each photo with another)"
        )
    method_list = parse_methods(DEFAULT_METHODS if methods is None else methods)
    if out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; give a folder for the contact sheets")
    if fit_data is not None and not fit_data.is_dir():
        raise UsageError(f"--fit-data {fit_data} is not a folder (give a folder of color photos)")
    if record and (weights is None or not Path(weights).is_dir()):
        # Hub downloads and shipped bundles are not the user's to change
        raise UsageError("--record needs --weights FOLDER: a local bundle folder to write into")

    from halftint.checkpoint import load_bundle
    from halftint.evaluate.loop import evaluate
    from halftint.match import DEFAULT_MATCH
    from halftint.pipeline import Colorizer

    bundle = load_bundle(find_weights(weights, cache_dir=cache_dir, offline=offline))
    colorizer = Colorizer(bundle, device=device)
    crop_size = size or colorizer.working_size

    report = BatchReport(skipped_non_images=inputs.skipped_non_images)
    items, photos = _read_photos(inputs.items, crop_size, report)
    if len(photos) < MIN_PHOTOS:
        report.print_summary(verbose=False)
        raise InputError(
            f"only {len(photos)} of {len(inputs.items)} photos in {data} could be read; "
            f"eval needs at least {MIN_PHOTOS}"
        )

    def save_sheet(index: int, sheet: np.ndarray) -> None:
        from halftint.io import write_image

        assert out is not None
        relative = items[index].relative
        destination = out / relative.with_name(relative.stem + SHEET_SUFFIX)
        if output_exists(destination, overwrite, report):
            return
        try:
            write_image(sheet, destination, overwrite=overwrite)
        except HalftintError as error:
            # a sheet that cannot be written (disk full, no permission) must not stop the run
            report.failed.append((str(destination), error_text(error)))

    fitter = None
    if fit_data is not None:
        fit_inputs = collect_inputs([str(fit_data)])
        _, fit_photos = _read_photos(fit_inputs.items, crop_size, report)
        fitter = _baseline_fitter(fit_photos, seed)

    with _progress() as progress:
        task = progress.add_task("evaluating", total=None)
        evaluation = evaluate(
            colorizer,
            photos,
            method_list,
            seed=seed,
            samples=samples,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            on_sheet=None if out is None else save_sheet,
            baselines=fitter,
            match=DEFAULT_MATCH,
        )

    results = {
        "weights": {
            "name": bundle.name,
            "preset": bundle.preset,
            "working_size": bundle.working_size,
            "path": str(bundle.path),
        },
        "seed": seed,
        **evaluation.as_dict(),
    }
    names = [str(item.relative) for item in items]
    results["reference_pairs"] = [
        {"photo": names[index], "reference": names[partner]}
        for index, partner in enumerate(evaluation.colorization.reference_pairs)
    ]
    _print_tables(
        _table_console(sys.stderr if as_json else sys.stdout),
        evaluation,
        results["weights"],
        names,
    )
    if as_json:
        typer.echo(json.dumps(results, indent=2))
    if record:
        _record(bundle.path, data, results)
    report.print_summary(verbose=False)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def _record(bundle_path: Path, data: Path, results: dict[str, Any]) -> None:
    """Store the results in the bundle's metrics (the bundle stays verifiable)."""
    from halftint.bundle import MANIFEST
    from halftint.checkpoint import record_metrics

    targets = {name: target["value"] for name, target in results["targets"].items()}
    record_metrics(
        bundle_path,
        {
            "eval": {
                "data": data.name,
                "images": results["images"],
                "size": results["size"],
                "seed": results["seed"],
                "descreen": {
                    label: scores["descreen"] for label, scores in results["methods"].items()
                },
                "colorization": results["colorization"],
                "targets": targets,
            }
        },
    )
    note(f"recorded the results in {bundle_path / MANIFEST}")


# the fitting photos' halftones are seeded apart from the evaluated ones'
FIT_SEED_OFFSET = 100_000


def _baseline_fitter(photos: list[np.ndarray], seed: int) -> Callable[[Any], Any]:
    """Fits (linear filter, look-up table) for a method on `photos` (halftoned on the fly)."""
    from halftint.evaluate.baselines import LinearFilter, LookupTable
    from halftint.evaluate.measures import luma

    grays = [luma(photo) for photo in photos]

    def fit(method: Any) -> tuple[Any, Any]:
        def pairs() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for index, gray in enumerate(grays):
                yield method.apply(gray, seed + FIT_SEED_OFFSET + index), gray

        return LinearFilter.fit(pairs()), LookupTable.fit(pairs())

    return fit


def _read_photos(
    items: list[InputItem], size: int, report: BatchReport
) -> tuple[list[InputItem], list[np.ndarray]]:
    """Read and center-crop every photo; unreadable ones are reported and left out."""
    from halftint.evaluate.measures import center_crop
    from halftint.io import read_image

    kept: list[InputItem] = []
    photos: list[np.ndarray] = []

    def read_one(item: InputItem, batch: BatchReport) -> None:
        assert item.path is not None
        photos.append(center_crop(read_image(item.path, "rgb"), size))
        kept.append(item)
        batch.done += 1

    run_batch(items, read_one, description="reading", report=report, total=len(items))
    return kept, photos


def _table_console(stream: TextIO) -> Console:
    table_console = Console(file=stream, highlight=False)
    if not table_console.is_terminal:
        # rich assumes 80 columns off a terminal, too narrow for the method labels
        table_console.width = max(table_console.width, TABLE_WIDTH)
    return table_console


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
    )


VARIANT_LABELS = {
    "model": "colorize --ref (default)",
    "networks": "networks alone (--match-ref none)",
    "match_mean": "--match-ref mean",
    "match_spread": "--match-ref spread",
    "mean_color": "reference's mean color",
    "color_table": "luma → color table",
    "no_color": "no color",
}


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}×"


def _print_tables(
    target: Console, evaluation: Evaluation, weights: dict[str, Any], names: list[str]
) -> None:
    """The results as four tables: descreening, colorization, cross-reference, targets."""
    colorization = evaluation.colorization
    target.print(
        f"weights {weights['name']} (preset {weights['preset']}), {evaluation.images} photos "
        f"at {evaluation.size}×{evaluation.size}",
        soft_wrap=True,
    )

    descreen = Table(title="Descreening vs the best Gaussian (PSNR dB, SSIM)")
    fitted = any(scores.linear_psnr is not None for scores in evaluation.descreen.values())
    columns = ["method", "PSNR", "SSIM", "Gaussian PSNR", "Gaussian SSIM", "σ", "gain dB"]
    if fitted:
        columns += ["linear PSNR", "LUT PSNR"]
    for column in columns:
        descreen.add_column(column, justify="left" if column == "method" else "right", no_wrap=True)
    for label, scores in evaluation.descreen.items():
        row = [
            label,
            f"{scores.psnr:.2f}",
            f"{scores.ssim:.4f}",
            f"{scores.gaussian_psnr:.2f}",
            f"{scores.gaussian_ssim:.4f}",
            f"{scores.gaussian_sigma:.1f}",
            f"{scores.psnr - scores.gaussian_psnr:+.2f}",
        ]
        if fitted:
            row += [f"{scores.linear_psnr or 0:.2f}", f"{scores.lut_psnr or 0:.2f}"]
        descreen.add_row(*row)
    target.print(descreen)

    color = Table(title=f"Colorization on {colorization.halftone} halftones")
    for column in ("measure", "model", "networks alone", "no-color baseline"):
        color.add_column(column, justify="left" if column == "measure" else "right", no_wrap=True)
    color.add_row(
        "PSNR dB",
        f"{colorization.psnr:.2f}",
        f"{colorization.network_psnr:.2f}",
        f"{colorization.baseline_psnr:.2f}",
    )
    color.add_row(
        "SSIM",
        f"{colorization.ssim:.4f}",
        f"{colorization.network_ssim:.4f}",
        f"{colorization.baseline_ssim:.4f}",
    )
    color.add_row(
        "mean ΔE2000",
        f"{colorization.delta_e:.2f}",
        f"{colorization.network_delta_e:.2f}",
        f"{colorization.baseline_delta_e:.2f}",
    )
    color.add_row(
        "diversity ΔE2000 (random samples)",
        f"{colorization.diversity_delta_e:.2f}",
        f"{colorization.network_diversity_delta_e:.2f}",
        "0",
    )
    color.add_row(
        "reference fidelity (share of pairs)",
        f"{colorization.reference_fidelity:.0%}",
        f"{colorization.network_reference_fidelity:.0%}",
        "",
    )
    color.add_row(
        "colorfulness (reconstruction / random)",
        f"{colorization.colorfulness:.1f} / {colorization.random_colorfulness:.1f}",
        f"{colorization.network_colorfulness:.1f} / {colorization.network_random_colorfulness:.1f}",
        f"truth {colorization.truth_colorfulness:.1f}",
    )
    color.add_row(
        "random samples: chroma spread / truth's",
        _ratio(colorization.spread_ratio(colorization.random_chroma_spread)),
        _ratio(colorization.spread_ratio(colorization.network_random_chroma_spread)),
        "0",
    )
    color.add_row(
        "random samples: ΔE2000 of the best",
        f"{colorization.best_random_delta_e:.2f}",
        f"{colorization.network_best_random_delta_e:.2f}",
        f"{colorization.baseline_delta_e:.2f}",
    )
    color.add_row(
        "even prints: worst border band (Cb/Cr)",
        f"{colorization.random_border_band:.1f}",
        f"{colorization.network_random_border_band:.1f}",
        "0",
    )
    target.print(color)

    cross = Table(title="Cross-reference: each photo colorized with its nearest other photo")
    for column in ("variant", "ΔE2000", "EMD to reference", "fidelity", "spread / truth's",
                   "colorfulness"):  # fmt: skip
        cross.add_column(column, justify="left" if column == "variant" else "right", no_wrap=True)
    for variant, transfer in colorization.cross_reference.items():
        cross.add_row(
            VARIANT_LABELS.get(variant, variant),
            f"{transfer.delta_e:.2f}",
            f"{transfer.reference_emd:.2f}",
            f"{transfer.fidelity:.0%}",
            _ratio(colorization.spread_ratio(transfer.chroma_spread)),
            f"{transfer.colorfulness:.1f}",
        )
    target.print(cross)
    pairs = colorization.reference_pairs
    if pairs:
        target.print(
            "references: " + "; ".join(f"{names[i]} ← {names[j]}" for i, j in enumerate(pairs)),
            soft_wrap=True,
        )

    targets = Table(title="Targets")
    for column in ("target", "value", "goal", "met"):
        targets.add_column(column, justify="left" if column == "target" else "right", no_wrap=True)
    for name, goal in evaluation.targets.items():
        value = "n/a" if goal.value is None else f"{goal.value:.3g}"
        rule = "≥" if goal.at_least else "≤"
        targets.add_row(name, value, f"{rule} {goal.goal:g}", "yes" if goal.met else "no")
    target.print(targets)
