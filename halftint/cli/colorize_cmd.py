"""`halftint colorize` and `halftint descreen`: halftone prints in, color or gray photos out.

Both read any image (a color input is turned to gray with a note), run the pipeline of
`halftint.pipeline.Colorizer` on the chosen device (the options name a
`halftint.coloring.ColorSource`; the Colorizer does the rest), and write 8-bit PNGs (round,
then clamp):

- `descreen`: `<stem>.gray.png`, the inverse halftone alone;
- `colorize --ref IMG`: `<stem>.color.png`, colors taken from a reference image (E's code,
  the result matched to the reference's colors as `--match-ref` says);
- `colorize --random -n N`: `<stem>.random-1.png` ... `-N.png`, colors drawn from `--seed`;
- `colorize --interpolate K`: `<stem>.interp.png`, a K x K grid sweeping between four codes;
- `--grid`: instead, one contact sheet `<stem>.grid.png` (input, gray, each colorization).
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn

import typer

from halftint.cli.app import app, register
from halftint.cli.common import (
    CACHE_DIR_OPTION,
    OFFLINE_OPTION,
    PROGRESS_MIN_ITEMS,
    SEED_MAX,
    STDIO,
    BatchReport,
    InputItem,
    InputSet,
    OutputPlan,
    collect_inputs,
    console,
    find_weights,
    note,
    output_exists,
    precheck_inputs,
    run_batch,
)
from halftint.coloring import (
    ColorSource,
    InterpolatedColors,
    RandomColors,
    Reference,
    ReferenceColors,
)
from halftint.errors import InputError, UsageError

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import torch
    from rich.progress import Progress, TaskID

    from halftint.pipeline import Colorizer

# what earlier runs wrote; such files found in an input folder are not inputs
EARLIER_OUTPUT = re.compile(r"\.(color|gray|interp|grid|random-\d+)\.png$")
MAX_INTERPOLATION_STEPS = 16
# -n asks for at most this many colorings per input; they run (and are written) a few at a time,
# so memory does not grow with n
MAX_SAMPLES = 1000
SAMPLES_PER_CHUNK = 4

_INPUTS_HELP = "Halftone images, folders (searched recursively), or - for stdin."
_OUTPUT_HELP = (
    "A file (one output), a folder (keeps the input tree) or - for stdout (one PNG). "
    "Default: beside each input."
)
_WEIGHTS_HELP = (
    "Weights bundle: a folder, hf://OWNER/REPO (optionally /SUBDIR and @REVISION) or an "
    "embedded bundle's name. Default: $HALFTINT_WEIGHTS, then the bundle shipped with halftint."
)
_DEVICE_HELP = "auto (CUDA when present), cpu, cuda or cuda:N."
_PRECISION_HELP = (
    "auto, fp32, bf16 or fp16. auto: bf16 (else fp16) on CUDA; on CPUs with native bf16, fp32 "
    "for descreening (the output's luminance) and bf16 for the colorization; else fp32."
)


_SCREEN_HELP = (
    "auto: find a clustered-dot screen's period and bring it into the range the weights were "
    "trained on (resize, descreen, resize back); none: descreen as it is; a number: the dot "
    "period in pixels."
)
SCREEN_OPTION = typer.Option("auto", "--screen", metavar="auto|none|PX", help=_SCREEN_HELP)
VERBOSE_OPTION = typer.Option(
    False, "-v", "--verbose", help="Say what screen analysis found in each input (stderr)."
)


def _parse_screen(text: str) -> str | float:
    """`--screen`: "auto", "none" or a period in pixels > 0 (a UsageError otherwise)."""
    if text in ("auto", "none"):
        return text
    try:
        period = float(text)
    except ValueError:
        period = math.nan
    if not math.isfinite(period) or period <= 0:
        raise UsageError(f"--screen must be auto, none or a dot period in pixels > 0, got {text!r}")
    return period


def _screened(colorizer: Colorizer, halftone: torch.Tensor, screen: str | float, verbose: bool,
              label: str) -> tuple[object, float]:  # fmt: skip
    """What `descreen` is given for one input, and its resize factor; says so with -v."""
    chosen: object = screen
    if screen == "auto":
        chosen = colorizer.analyze_screen(halftone)
    factor = colorizer.screen_factor(halftone, chosen)  # type: ignore[arg-type]
    if verbose:
        found = chosen.describe() if hasattr(chosen, "describe") else f"screen {screen}"
        resized = f"; resized ×{factor:.3g} to descreen" if abs(factor - 1) >= 0.02 else ""
        note(f"{label}: {found}{resized}")
    return chosen, factor


# a reference smaller than this is refused: too few pixels to say what its colors are
MIN_REFERENCE_SIDE = 16
# a reference whose mean Cb/Cr offsets and spreads are all below this (3 of 255 levels) is
# "gray or nearly so"
NEAR_GRAY_CHROMA = 3 / 255


@register(app)
def colorize(  # noqa: PLR0917  (Typer maps every option to a parameter)
    inputs: list[str] = typer.Argument(..., metavar="INPUT...", help=_INPUTS_HELP),
    ref: str | None = typer.Option(
        None, "--ref", metavar="IMG", help="Take the colors from this image (color or gray)."
    ),
    match_ref: str = typer.Option(
        "default",
        "--match-ref",
        metavar="MODE",
        help="With --ref: match the result to the reference's colors: none (the networks' "
        "colors as they are), mean (its mean color) or spread (mean and spread of its colors); "
        "default: the bundle's choice, as measured (see weights.md).",
        show_default=False,
    ),
    no_match_ref: bool = typer.Option(False, "--no-match-ref", hidden=True),
    random: bool = typer.Option(False, "--random", help="Draw the colors at random (see -n)."),
    count: int | None = typer.Option(
        None, "-n", "--count", metavar="N", help="With --random: this many colorings per input."
    ),
    random_spread: str | None = typer.Option(
        None,
        "--random-spread",
        metavar="MODE",
        help="With --random: photos (each coloring takes the color spread of one of the "
        "bundle's training photos, drawn from --seed; the default) or none (the networks' "
        "colors as they are).",
        show_default=False,
    ),
    interpolate: int | None = typer.Option(
        None,
        "--interpolate",
        metavar="K",
        help="A K x K grid blending four random colorings (2 <= K <= 16).",
    ),
    output: str | None = typer.Option(None, "-o", "--output", help=_OUTPUT_HELP),
    seed: int | None = typer.Option(
        None,
        "--seed",
        min=0,
        max=SEED_MAX,
        help="Seed of the random colors, 0 to 2^32 - 1 (printed on stderr when not given).",
    ),
    weights: str | None = typer.Option(None, "--weights", metavar="SRC", help=_WEIGHTS_HELP),
    cache_dir: str | None = CACHE_DIR_OPTION,
    offline: bool = OFFLINE_OPTION,
    device: str = typer.Option("auto", "--device", help=_DEVICE_HELP),
    precision: str = typer.Option("auto", "--precision", help=_PRECISION_HELP),
    grid: bool = typer.Option(
        False, "--grid", help="Write one contact sheet per input: input, gray, each coloring."
    ),
    keep_luma: bool = typer.Option(
        True,
        "--keep-luma/--no-keep-luma",
        help="Keep the full-resolution gray's luminance, taking only the colors (chroma) "
        "from the networks' working resolution.",
    ),
    screen: str = SCREEN_OPTION,
    verbose: bool = VERBOSE_OPTION,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
) -> None:
    """Colorize halftone prints.

    Writes, beside each input unless -o says otherwise: NAME.color.png (--ref),
    NAME.random-1.png ... NAME.random-N.png (--random -n N), NAME.interp.png (--interpolate K),
    or one contact sheet NAME.grid.png (--grid).

    Examples:

        halftint colorize scan.png --random -n 5 --weights runs/mine/bundle

        halftint colorize scans/ --ref sunset.jpg -o colored/

        halftint halftone photo.jpg -o - | halftint colorize - --random --grid -o - > sheet.png
    """
    mode = _choose_mode(ref, random, count, interpolate, grid)
    match = _parse_match("none" if no_match_ref else match_ref)
    spread = _parse_random_spread(random_spread, mode)
    screen_setting = _parse_screen(screen)
    samples = count or 1
    inputs_found = _collect(inputs)
    per_input = 1 if grid or mode != "random" else samples
    plan = _plan(output, inputs_found, per_input)
    reference = _read_reference(ref) if ref is not None else None
    report, inputs_found = _precheck(inputs_found)

    colorizer = _load_colorizer(weights, device, precision, cache_dir=cache_dir, offline=offline)
    if mode != "ref" and seed is None:
        import torch

        seed = int(torch.seed() % 2**31)
        note(f"seed {seed} (pass --seed {seed} to repeat these colors)")
    colors: ColorSource
    if mode == "ref":
        assert reference is not None and ref is not None
        colors = ReferenceColors(_reference(colorizer, reference, ref), match)
    elif mode == "random":
        colors = RandomColors(samples, seed, spread)
    else:
        assert interpolate is not None
        colors = InterpolatedColors(corners=4, steps=interpolate, seed=seed)

    def work(item: InputItem, report: BatchReport) -> None:
        from halftint.pipeline.sheets import contact_sheet
        from halftint.pipeline.sheets import grid as grid_of

        destinations = _destinations(plan, item, mode, samples, grid)
        pending = [d for d in destinations if not output_exists(d, overwrite, report)]
        if not pending:
            return
        halftone = _read_halftone(item)
        found, _ = _screened(colorizer, halftone, screen_setting, verbose, item.label)
        try:
            # shown only as cells of a sheet: colorized at the cell's size, not the scan's
            prepared = colorizer.prepare(
                halftone,
                screen=found,  # type: ignore[arg-type]
                progress=tile_progress,
                for_sheet=grid or mode == "interpolate",
            )
        finally:
            tile_progress.close()
        if grid or mode == "interpolate":
            images = prepared.colorize(colors, keep_luma=keep_luma)
            if grid:
                sheet = contact_sheet(prepared.halftone, prepared.gray, images)
            else:
                assert interpolate is not None
                sheet = grid_of(images, columns=interpolate)
            _write_all(sheet.unsqueeze(0), destinations, pending, overwrite, report)
        else:
            # a few at a time, each written before the next: memory stays flat in -n
            for start in range(0, colors.count, SAMPLES_PER_CHUNK):
                chunk = destinations[start : start + SAMPLES_PER_CHUNK]
                if any(destination in pending for destination in chunk):
                    images = prepared.colorize(
                        colors, keep_luma=keep_luma, start=start, stop=start + len(chunk)
                    )
                    _write_all(images, chunk, pending, overwrite, report)
        report.done += 1

    tile_progress = _TileProgress(enabled=len(inputs_found.items) < PROGRESS_MIN_ITEMS)
    _run_and_exit(inputs_found, work, "colorizing", report)


@register(app)
def descreen(  # noqa: PLR0917  (Typer maps every option to a parameter)
    inputs: list[str] = typer.Argument(..., metavar="INPUT...", help=_INPUTS_HELP),
    output: str | None = typer.Option(None, "-o", "--output", help=_OUTPUT_HELP),
    weights: str | None = typer.Option(None, "--weights", metavar="SRC", help=_WEIGHTS_HELP),
    cache_dir: str | None = CACHE_DIR_OPTION,
    offline: bool = OFFLINE_OPTION,
    device: str = typer.Option("auto", "--device", help=_DEVICE_HELP),
    precision: str = typer.Option("auto", "--precision", help=_PRECISION_HELP),
    screen: str = SCREEN_OPTION,
    verbose: bool = VERBOSE_OPTION,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
) -> None:
    """Turn halftone prints into continuous-tone gray images (<stem>.gray.png).

    Examples:

        halftint descreen scan.png --weights runs/mine/bundle

        cat scan.png | halftint descreen - -o - > gray.png
    """
    screen_setting = _parse_screen(screen)
    inputs_found = _collect(inputs)
    plan = _plan(output, inputs_found, 1)
    report, inputs_found = _precheck(inputs_found)
    colorizer = _load_colorizer(weights, device, precision, cache_dir=cache_dir, offline=offline)

    def work(item: InputItem, report: BatchReport) -> None:
        destination = plan.destination(item, ".gray.png")
        if output_exists(destination, overwrite, report):
            return
        halftone = _read_halftone(item)
        found, _ = _screened(colorizer, halftone, screen_setting, verbose, item.label)
        try:
            gray = colorizer.descreen(halftone, progress=tile_progress, screen=found)  # type: ignore[arg-type]
        finally:
            tile_progress.close()
        _write_all(gray, [destination], [destination], overwrite, report)
        report.done += 1

    tile_progress = _TileProgress(enabled=len(inputs_found.items) < PROGRESS_MIN_ITEMS)
    _run_and_exit(inputs_found, work, "descreening", report)


def _precheck(found: InputSet) -> tuple[BatchReport, InputSet]:
    """The batch report and the inputs whose headers are readable; when none is, the failures
    are reported and the command exits 1 before any model is loaded."""
    report = BatchReport(skipped_non_images=found.skipped_non_images)
    good = precheck_inputs(found, report)
    if not good.items:
        report.print_summary(verbose=len(found.items) > 1)
        raise typer.Exit(report.exit_code)
    return report, good


def _run_and_exit(
    found: InputSet,
    work: Callable[[InputItem, BatchReport], None],
    description: str,
    report: BatchReport,
) -> NoReturn:
    """Run `work` over every input with a progress bar, summarise, exit 0 or 1."""
    total = len(found.items) + len(report.failed)
    run_batch(found.items, work, description=description, report=report, total=len(found.items))
    report.print_summary(verbose=total > 1)
    raise typer.Exit(report.exit_code)


def _choose_mode(
    ref: str | None, random: bool, count: int | None, interpolate: int | None, grid: bool
) -> str:
    """ "ref", "random" or "interpolate", after checking the options fit together."""
    chosen = [
        name
        for name, given in (
            ("ref", ref is not None),
            ("random", random),
            ("interpolate", interpolate is not None),
        )
        if given
    ]
    if len(chosen) != 1:
        given = ", ".join(f"--{name}" for name in chosen) if chosen else "none"
        raise UsageError(
            f"choose exactly one of --ref IMG, --random, --interpolate K (got {given})"
        )
    mode = chosen[0]
    if count is not None and mode != "random":
        raise UsageError("-n/--count goes with --random only")
    if count is not None and not 1 <= count <= MAX_SAMPLES:
        raise UsageError(f"-n must be between 1 and {MAX_SAMPLES}, got {count}")
    if interpolate is not None and not 2 <= interpolate <= MAX_INTERPOLATION_STEPS:
        raise UsageError(
            f"--interpolate K needs 2 <= K <= {MAX_INTERPOLATION_STEPS}, got {interpolate}"
        )
    if grid and mode == "interpolate":
        raise UsageError(
            "--interpolate writes a K x K grid already; --grid goes with --ref or --random"
        )
    return mode


def _collect(inputs: list[str]) -> InputSet:
    """The inputs, without earlier outputs found in folders; stdin must not be a terminal."""
    found = collect_inputs(inputs)
    named = {raw for raw in inputs if raw != STDIO}
    kept = [
        item
        for item in found.items
        if item.path is None or str(item.path) in named or not EARLIER_OUTPUT.search(item.path.name)
    ]
    if len(kept) < len(found.items):
        note(f"ignored {len(found.items) - len(kept)} earlier halftint outputs found in folders")
    if not kept:
        raise UsageError("no inputs left: every image found is an earlier halftint output")
    found.items = kept
    if any(item.path is None for item in kept) and sys.stdin.isatty():
        raise UsageError("'-' reads an image from stdin, but stdin is a terminal; pipe one in")
    return found


def _plan(output: str | None, inputs: InputSet, per_input: int) -> OutputPlan:
    plan = OutputPlan.from_option(output, inputs, outputs_per_input=per_input)
    # every output of an input shares its stem: one suffix shows every collision
    plan.check_distinct(inputs.items, ".png")
    if plan.kind == "file" and plan.target is not None:
        from halftint.io import check_output_path

        check_output_path(plan.target)
    return plan


def _load_colorizer(
    weights: str | None, device: str, precision: str, *, cache_dir: str | None, offline: bool
) -> Colorizer:
    """Check device and precision, then load the weights onto the device; says what it uses."""
    # the weights first: finding them needs no torch, so an unreachable Hub is told at once
    manifest = find_weights(weights, cache_dir=cache_dir, offline=offline)

    from halftint.checkpoint import load_bundle
    from halftint.pipeline import Colorizer, resolve_device, resolve_precision

    torch_device = resolve_device(device)
    resolve_precision(precision, torch_device)
    bundle = load_bundle(manifest)
    colorizer = Colorizer(bundle, device=torch_device, precision=precision)
    note(
        f"weights {bundle.name} ({bundle.preset}), device {colorizer.device}, "
        f"precision {colorizer.precision.name}"
    )
    return colorizer


def _parse_match(text: str) -> str:
    """`--match-ref`: one of `color.MATCH_MODES`, or "default" (the pipeline's measured one)."""
    from halftint.match import DEFAULT_MATCH, MATCH_MODES

    if text == "default":
        return DEFAULT_MATCH
    if text not in MATCH_MODES:
        raise UsageError(f"--match-ref {text!r}: choose one of {', '.join(MATCH_MODES)}")
    return text


def _parse_random_spread(text: str | None, mode: str) -> str:
    """`--random-spread`: one of `match.RANDOM_SPREADS`, with --random only."""
    from halftint.match import DEFAULT_RANDOM_SPREAD, RANDOM_SPREADS

    if text is None:
        return DEFAULT_RANDOM_SPREAD
    if mode != "random":
        raise UsageError("--random-spread goes with --random only")
    if text not in RANDOM_SPREADS:
        raise UsageError(f"--random-spread {text!r}: choose one of {', '.join(RANDOM_SPREADS)}")
    return text


def _read_reference(ref: str) -> np.ndarray:
    """The reference image, read before any model is loaded; a bad reference is a usage error
    (it concerns every input)."""
    from halftint.io import read_image

    try:
        reference = read_image(ref, "rgb")
    except InputError as error:
        raise UsageError(f"--ref: {error}") from None
    height, width = reference.shape[:2]
    if min(height, width) < MIN_REFERENCE_SIDE:
        raise UsageError(
            f"--ref {ref} is {width}×{height} pixels; a reference needs at least "
            f"{MIN_REFERENCE_SIDE} pixels on each side"
        )
    return reference


def _reference(colorizer: Colorizer, image: np.ndarray, ref: str) -> Reference:
    """E's code of the reference and its colors (`Colorizer.reference`); warns of a gray one."""
    import torch

    reference = colorizer.reference(torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0))
    if float(reference.chroma.abs().max()) < NEAR_GRAY_CHROMA:
        note(
            f"warning: reference {ref} is gray or nearly so: it has few colors to give, expect "
            "muted results"
        )
    return reference


def _read_halftone(item: InputItem) -> torch.Tensor:
    """The input as a `(1, 1, H, W)` tensor; a color input becomes its gray (BT.601), noted."""
    import numpy as np
    import torch

    from halftint.color import rgb_to_gray
    from halftint.io import read_image

    # a gray file stays one channel: a 144-megapixel scan as RGB floats would be 1.7 GB
    image = read_image(STDIO if item.path is None else item.path, "native")
    if image.ndim == 2:
        return torch.from_numpy(image)[None, None]
    if _is_color(image):
        note(f"{item.label} is in color: using its gray version (halftones are black and white)")
        return rgb_to_gray(torch.from_numpy(image).permute(2, 0, 1).unsqueeze(0))
    return torch.from_numpy(np.ascontiguousarray(image[..., 0]))[None, None]


def _is_color(image: np.ndarray) -> bool:
    """True when, at some pixel, green or blue differs from red by half an 8-bit step or more."""
    import numpy as np

    return any(
        float(np.abs(image[..., channel] - image[..., 0]).max()) >= 1 / 512 for channel in (1, 2)
    )


def _destinations(
    plan: OutputPlan, item: InputItem, mode: str, samples: int, grid: bool
) -> list[Path | str]:
    """Where the outputs of one input go, in the order the images come out."""
    if grid:
        return [plan.destination(item, ".grid.png")]
    if mode == "random":
        # a file or stdout plan takes one image only (OutputPlan checked), whatever the suffix
        return [plan.destination(item, f".random-{index}.png") for index in range(1, samples + 1)]
    return [plan.destination(item, ".color.png" if mode == "ref" else ".interp.png")]


def _write_all(
    images: torch.Tensor,
    destinations: list[Path | str],
    pending: list[Path | str],
    overwrite: bool,
    report: BatchReport,
) -> None:
    """Write `(N, C, H, W)` images in [0, 1] as 8-bit (round, then clamp), one per destination.

    Destinations not in `pending` exist already (and may not be replaced): they are left alone.
    """
    import torch

    from halftint.io import write_image

    for image, destination in zip(images, destinations, strict=True):
        if destination not in pending:
            continue
        eight_bit = (image * 255).round_().clamp_(0, 255).to(torch.uint8)
        write_image(eight_bit.permute(1, 2, 0).squeeze(2).numpy(), destination, overwrite=overwrite)
        report.wrote(destination)


class _TileProgress:
    """A bar over the tiles of one large image, shown only where the batch shows no bar itself.

    (Rich draws one live display at a time, and a batch of several inputs has its own.)
    """

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and console.is_terminal
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 1:
            return
        if self._progress is None:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self._progress = Progress(
                TextColumn("[bold]tiles"),
                BarColumn(),
                MofNCompleteColumn(),
                console=console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task("tiles", total=total)
        assert self._task is not None
        self._progress.update(self._task, completed=done)
        if done >= total:
            self.close()

    def close(self) -> None:
        """Take the bar off the screen (also after a failure halfway)."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
