"""`halftint train ihn|hist|colorizer|fusion|all|export`: train the networks on your photos.

Every stage command takes the same options; `all` runs the four stages in order (skipping those
already finished in the run folder with --resume) and exports `RUN/bundle`. Settings come from
defaults, then `RUN/config.toml` (an existing run), then `--config FILE`, then the options here
and `--set KEY=VALUE` (any field of the config file, e.g. `--set colorizer.steps=3000`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from halftint.cli.app import register, train_app
from halftint.cli.common import SEED_MAX, console, note
from halftint.errors import UsageError

# how often a run whose stderr is not a terminal (a log file) prints a progress line
PLAIN_PROGRESS_SECONDS = 30.0
# losses shown beside the progress bar (the first few the stage reports)
SHOWN_LOSSES = 4

DATA = typer.Option(None, "--data", metavar="DIR", help="Folder of color photos (recursive).")
VAL_DATA = typer.Option(
    None,
    "--val-data",
    metavar="DIR",
    help="Separate validation photos (default: a hashed share of --data).",
)
OUT = typer.Option(
    ..., "--out", "-o", metavar="RUN", help="Run folder (created; holds state, logs, bundle)."
)
PRESET = typer.Option(
    None, "--preset", metavar="NAME", help="Network sizes: lite (CPU friendly) or paper."
)
CONFIG = typer.Option(
    None, "--config", metavar="FILE", help="TOML settings file (e.g. a run's config.toml)."
)
RESUME = typer.Option(
    False, "--resume", help="Continue the stages already started in --out (skip finished ones)."
)
ALLOW_CHANGES = typer.Option(
    False,
    "--allow-changes",
    help="With --resume: accept settings that change the run's results (seed, sizes, learning "
    "rates, losses, halftone mixture); they are saved into the run.",
)
STEPS = typer.Option(
    None, "--steps", metavar="N", help="Optimizer steps (per stage for 'all').", min=1
)
EPOCHS = typer.Option(
    None, "--epochs", metavar="N", help="Passes over the photos instead of --steps.", min=0
)
TIME_BUDGET = typer.Option(
    None,
    "--time-budget",
    metavar="MINUTES",
    help="Minutes of training; 'all' shares them out over the stages (ihn 37 %, hist 3 %, "
    "colorizer 50 %, fusion 10 %).",
    min=0,
)
LR = typer.Option(
    None, "--lr", metavar="RATE", help="Adam learning rate (default: the paper's).", min=0
)
BATCH = typer.Option(None, "--batch-size", metavar="N", help="Global batch size.", min=1)
CROP = typer.Option(
    None,
    "--crop-size",
    metavar="PX",
    help="Training crop side, 16 to 1024 (default: the preset's).",
    min=16,
    max=1024,
)
SEED = typer.Option(
    None,
    "--seed",
    metavar="N",
    min=0,
    max=SEED_MAX,
    help="Seed of weights and data (0 to 2^32 - 1).",
)
DEVICE = typer.Option(None, "--device", metavar="DEV", help="auto, cpu, cuda or cuda:N.")
WORKERS = typer.Option(
    None, "--workers", metavar="N", help="Data loader processes (default: automatic).", min=0
)
INIT_FROM = typer.Option(
    None,
    "--init-from",
    metavar="SRC",
    help="Weights bundle (folder, embedded name or hf://...) to start the stages from; the "
    "networks the run does not train are taken from it.",
)
SET = typer.Option(
    None, "--set", metavar="KEY=VALUE", help="Any setting as KEY=VALUE (TOML value); repeatable."
)


# (command, stages it runs, help); the stage names are halftint.train.config.STAGES, spelled out
# because importing that module would import torch
STAGE_COMMANDS = (
    ("ihn", ("ihn",), "Stage 1: train the inverse halftone network IHN (descreening)."),
    ("hist", ("hist",), "Stage 2: train the histogram estimator H (for the histogram loss)."),
    (
        "colorizer",
        ("colorizer",),
        "Stage 3: train the encoder E, colorization network G and discriminator D (IHN frozen).",
    ),
    ("fusion", ("fusion",), "Stage 4: train the fusion network F (the rest frozen)."),
    (
        "all",
        ("ihn", "hist", "colorizer", "fusion"),
        "All four stages in order, then export RUN/bundle for 'colorize --weights RUN/bundle'.",
    ),
)


@dataclass(frozen=True)
class TrainOptions:
    """The options of a stage command (`halftint train ihn ...`), as given (None: not given)."""

    out: str
    data: str | None = None
    val_data: str | None = None
    preset: str | None = None
    config: str | None = None
    resume: bool = False
    allow_changes: bool = False
    steps: int | None = None
    epochs: float | None = None
    time_budget: float | None = None
    lr: float | None = None
    batch_size: int | None = None
    crop_size: int | None = None
    seed: int | None = None
    device: str | None = None
    workers: int | None = None
    init_from: str | None = None
    settings: tuple[str, ...] = ()  # each --set KEY=VALUE


def _register(name: str, stages: tuple[str, ...], summary: str) -> None:
    def command(  # noqa: PLR0917  (Typer maps every option to a parameter)
        data: str | None = DATA,
        val_data: str | None = VAL_DATA,
        out: str = OUT,
        preset: str | None = PRESET,
        config: str | None = CONFIG,
        resume: bool = RESUME,
        allow_changes: bool = ALLOW_CHANGES,
        steps: int | None = STEPS,
        epochs: float | None = EPOCHS,
        time_budget: float | None = TIME_BUDGET,
        lr: float | None = LR,
        batch_size: int | None = BATCH,
        crop_size: int | None = CROP,
        seed: int | None = SEED,
        device: str | None = DEVICE,
        workers: int | None = WORKERS,
        init_from: str | None = INIT_FROM,
        set_: list[str] | None = SET,
    ) -> None:
        options = TrainOptions(
            data=data,
            val_data=val_data,
            out=out,
            preset=preset,
            config=config,
            resume=resume,
            allow_changes=allow_changes,
            steps=steps,
            epochs=epochs,
            time_budget=time_budget,
            lr=lr,
            batch_size=batch_size,
            crop_size=crop_size,
            seed=seed,
            device=device,
            workers=workers,
            init_from=init_from,
            settings=tuple(set_ or ()),
        )
        _train(list(stages), options)

    register(train_app, name, help=summary)(command)


for _name, _stages, _summary in STAGE_COMMANDS:
    _register(_name, _stages, _summary)


@register(train_app, "export")
def train_export(  # noqa: PLR0917  (Typer maps every option to a parameter)
    out: str = typer.Option(..., "--out", "-o", help="The run folder."),
    to: str | None = typer.Option(None, "--to", help="Bundle folder (default: RUN/bundle)."),
    include_training_networks: bool = typer.Option(
        False, "--include-training-networks", help="Also store D and H (to train further)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --to folder."),
    init_from: str | None = typer.Option(
        None,
        "--init-from",
        metavar="SRC",
        help="Bundle the networks of stages the run did not train come from (default: the "
        "run's --init-from).",
    ),
    screen_periods: str | None = typer.Option(
        None,
        "--screen-periods",
        metavar="LO,HI",
        help="Dot periods (px) screen analysis brings clustered-dot prints into with these "
        "weights (default: the periods IHN was trained on); see benchmarks/screen_range.py.",
    ),
) -> None:
    """Export a run's trained networks as a weights bundle."""
    from halftint.train.export import export_run

    path = export_run(
        out,
        to,
        include_training_networks=include_training_networks,
        overwrite=overwrite,
        init_from=init_from,
        screen_periods=_periods(screen_periods) if screen_periods is not None else None,
    )
    note(f"exported the weights bundle to {path}")


def _periods(text: str) -> tuple[float, float]:
    """`--screen-periods LO,HI`: two numbers 2 <= LO <= HI (a UsageError otherwise)."""
    import math

    parts = text.split(",")
    try:
        low, high = (float(part) for part in parts)
    except ValueError:
        low = high = math.nan
    if not (math.isfinite(low) and math.isfinite(high) and 2.0 <= low <= high):
        raise UsageError(
            f"--screen-periods must be two numbers LO,HI with 2 <= LO <= HI (pixels), got {text!r}"
        )
    return low, high


def _train(stages: list[str], options: TrainOptions) -> None:
    from halftint.train.config import TIME_SHARES, parse_override
    from halftint.train.run import train

    overrides: list[tuple[dict[str, Any], str]] = []
    top = {
        "data": options.data,
        "val_data": options.val_data,
        "preset": options.preset,
        "crop_size": options.crop_size,
        "seed": options.seed,
        "device": options.device,
        "workers": options.workers,
        "init_from": options.init_from,
    }
    overrides.append(({key: value for key, value in top.items() if value is not None}, "options"))
    schedule: dict[str, Any] = {}
    if options.steps is not None:
        schedule.update(steps=options.steps, epochs=0.0)
    if options.epochs is not None:
        schedule.update(epochs=options.epochs, steps=0)
    if options.lr is not None:
        schedule["lr"] = options.lr
    if options.batch_size is not None:
        schedule["batch_size"] = options.batch_size
    for stage in stages:
        stage_settings = dict(schedule)
        if options.time_budget is not None:
            share = TIME_SHARES[stage] if len(stages) > 1 else 1.0
            stage_settings["minutes"] = options.time_budget * share
        overrides.append(({stage: stage_settings}, "options"))
    for text in options.settings:
        overrides.append((parse_override(text), f"--set {text}"))
    reporter = ProgressReporter()
    outcomes = train(
        stages,
        options.out,
        config_file=options.config,
        overrides=overrides,
        resume=options.resume,
        allow_changes=options.allow_changes,
        reporter=reporter,
    )
    stopped = [outcome for outcome in outcomes if outcome.stopped]
    if stopped:
        # the shell's convention: 128 + the signal's number (SIGTERM 143, Ctrl-C 130)
        raise typer.Exit(143 if stopped[-1].signal == "SIGTERM" else 130)


class ProgressReporter:
    """Training progress on stderr: a rich bar on a terminal, a line every 30 s in a log file."""

    def __init__(self) -> None:
        self._progress: Progress | None = None
        self._task = TaskID(0)
        self._stage = ""
        self._total = 0
        self._last_line = 0.0

    def note(self, message: str) -> None:
        note(message)

    def stage_started(self, stage: str, step: int, total: int) -> None:
        self._stage, self._total = stage, total
        note(f"{stage}: {'resuming at step ' + str(step) if step else 'starting'}, {total} steps")
        if console.is_terminal:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[losses]}"),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                stage, total=total, completed=step, losses="", rate=""
            )
        self._last_line = time.monotonic()

    def step_done(self, step: int, losses: dict[str, float], images_per_second: float) -> None:
        shown = " ".join(
            f"{name} {value:.4g}" for name, value in list(losses.items())[:SHOWN_LOSSES]
        )
        rate = f"{images_per_second:.1f} img/s"
        if self._progress is not None:
            self._progress.update(self._task, completed=step, losses=shown, rate=rate)
        elif time.monotonic() - self._last_line >= PLAIN_PROGRESS_SECONDS or step == self._total:
            note(f"{self._stage} step {step}/{self._total}: {shown} ({rate})")
            self._last_line = time.monotonic()

    def stage_ended(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
