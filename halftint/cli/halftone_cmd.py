"""`halftint halftone`: make black-and-white (or color) halftones of photos.

The halftoner is also what training uses to make its inputs, so this command shows exactly what
the networks learn to undo.
"""

from __future__ import annotations

import inspect
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from halftint.cli.app import app, register
from halftint.cli.common import (
    SEED_MAX,
    STDIO,
    BatchReport,
    InputItem,
    OutputPlan,
    collect_inputs,
    note,
    output_exists,
    run_batch,
)
from halftint.errors import InputError, UsageError
from halftint.halftone.registry import (
    OptionInfo,
    check_method,
    check_option_values,
    methods_summary,
    option_infos,
)

if TYPE_CHECKING:
    import numpy as np

OUTPUT_SUFFIX = ".halftone.png"
# the same order of size as Pillow's decompression-bomb limit: beyond it, memory runs out
MAX_RESIZED_PIXELS = 180_000_000

# the methods and their option flags come from the halftone registry, which is light to import
# (no numpy, no numba): `--help` stays fast
METHODS_HELP = methods_summary()


def _method_option(info: OptionInfo) -> inspect.Parameter:
    """The command-line option of one halftone method option (a flag pair for a bool)."""
    names = [f"--{info.flag}/--no-{info.flag}"] if info.type is bool else [f"--{info.flag}"]
    allowed = f" ({info.allowed})" if info.allowed else ""
    text = f"{info.scope[:1].upper()}{info.scope[1:]}: {info.help}{allowed}."
    return inspect.Parameter(
        info.name,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        default=typer.Option(info.default, *names, help=text),
        annotation=info.type,
    )


def _with_method_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command`, which takes `**method_options`, one option per halftone method option of
    the registry, right after `--method`: Typer reads the signature set here."""
    signature = inspect.signature(command, eval_str=True)
    fixed = [
        parameter
        for parameter in signature.parameters.values()
        if parameter.kind is not inspect.Parameter.VAR_KEYWORD
    ]
    at = [parameter.name for parameter in fixed].index("method") + 1
    generated = [_method_option(info) for info in option_infos().values()]
    command.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[*fixed[:at], *generated, *fixed[at:]]
    )
    return command


@register(app)
@_with_method_options
def halftone(  # noqa: PLR0917  (Typer maps every option to a parameter)
    inputs: list[str] = typer.Argument(
        ..., metavar="INPUT...", help="Image files, folders (searched recursively), or - for stdin."
    ),
    output: str | None = typer.Option(
        None,
        "-o",
        "--output",
        help="A file (one input), a folder (keeps the input tree) or - for stdout (PNG). "
        f"Default: <stem>{OUTPUT_SUFFIX} beside each input.",
    ),
    method: str = typer.Option("floyd-steinberg", "--method", "-m", help=METHODS_HELP),
    # (here come the method options: --serpentine, --lpi, ..., see _with_method_options)
    size: int | None = typer.Option(
        None, "--size", help="Resize first so that the longer side is N pixels."
    ),
    scale: float | None = typer.Option(
        None, "--scale", help="Resize first by this factor (e.g. 0.5); not with --size."
    ),
    color: bool = typer.Option(
        False,
        "--color",
        help="Halftone each RGB channel (clustered: CMYK inks at 15/75/0/45 degrees); "
        "writes an RGB image with 0/255 channels.",
    ),
    seed: int | None = typer.Option(
        None,
        "--seed",
        min=0,
        max=SEED_MAX,
        help="Seed for random and for the screen position of mask methods (0 to 2^32 - 1).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    **method_options: Any,
) -> None:
    """Halftone photos: 1-bit PNG by default, 1 = white paper, 0 = ink.

    Examples:

        halftint halftone photo.jpg    (makes photo.halftone.png)

        halftint halftone photos/ -o prints/ --method clustered --lpi 100

        cat photo.png | halftint halftone - -o - > dots.png
    """
    try:
        check_method(method)
        check_option_values(method_options)
    except ValueError as error:
        raise UsageError(str(error)) from None
    resize = _resize_rule(size, scale)
    unsized = size is None and scale is None

    inputs_found = collect_inputs(inputs)
    items = _without_earlier_outputs(inputs_found.items, inputs)
    if not items:
        raise UsageError(
            f"no inputs left: every image given is a halftint output (*{OUTPUT_SUFFIX})"
        )
    inputs_found.items = items
    plan = OutputPlan.from_option(output, inputs_found)
    plan.check_distinct(inputs_found.items, OUTPUT_SUFFIX)
    if plan.kind == "file" and plan.target is not None:
        from halftint.io import check_output_path

        check_output_path(plan.target)
    if any(item.path is None for item in items) and sys.stdin.isatty():
        raise UsageError("'-' reads an image from stdin, but stdin is a terminal; pipe one in")

    def work(item: InputItem, report: BatchReport) -> None:
        from functools import partial

        from halftint.halftone import dither, dither_color
        from halftint.io import read_image, write_image

        destination = plan.destination(item, OUTPUT_SUFFIX)
        if output_exists(destination, overwrite, report):
            return
        source = STDIO if item.path is None else item.path
        # an 8-bit gray file is halftoned from its levels, without a float copy (same bits)
        image = read_image(source, "rgb" if color else "gray", eight_bit=not color and unsized)
        image = resize(image)
        halftoner = partial(dither_color, channel_axis=-1) if color else dither
        result = halftoner(image, method, seed=seed, **method_options)
        write_image(result > 0.5, destination, overwrite=overwrite)
        report.wrote(destination)
        report.done += 1

    report = BatchReport(skipped_non_images=inputs_found.skipped_non_images)
    run_batch(items, work, description="halftoning", report=report, total=len(items))
    report.print_summary(verbose=len(items) > 1)
    raise typer.Exit(report.exit_code)


def _resize_rule(size: int | None, scale: float | None) -> Callable[[np.ndarray], np.ndarray]:
    """What `--size` / `--scale` do to an `(H, W)` or `(H, W, 3)` image, checked up front."""
    if size is not None and scale is not None:
        raise UsageError("--size and --scale are mutually exclusive: give one of them")
    if size is not None and size < 1:
        raise UsageError(f"--size must be at least 1 pixel, got {size}")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise UsageError(f"--scale must be a positive factor (e.g. 0.5 or 2), got {scale}")

    def resize(image: np.ndarray) -> np.ndarray:
        from halftint.io import resize_image

        height, width = image.shape[:2]
        factor = size / max(height, width) if size is not None else scale
        if factor is None:
            return image
        new_height, new_width = max(1, round(height * factor)), max(1, round(width * factor))
        if new_height * new_width > MAX_RESIZED_PIXELS:
            raise InputError(
                f"resizing {width}x{height} gives {new_width}x{new_height} pixels, over the "
                f"limit of {MAX_RESIZED_PIXELS} pixels"
            )
        if (new_height, new_width) == (height, width):
            return image
        return resize_image(image, new_height, new_width)

    return resize


def _without_earlier_outputs(items: list[InputItem], raw_inputs: list[str]) -> list[InputItem]:
    """Drop `*.halftone.png` files found in folders: halftoning a halftone again is never meant.

    A file named explicitly on the command line is always kept.
    """
    named = {Path(raw) for raw in raw_inputs if raw != STDIO}
    kept = [
        item
        for item in items
        if item.path is None or item.path in named or not item.path.name.endswith(OUTPUT_SUFFIX)
    ]
    if len(kept) < len(items):
        note(f"ignored {len(items) - len(kept)} earlier halftint outputs (*{OUTPUT_SUFFIX})")
    return kept
